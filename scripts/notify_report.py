"""What ``egress notify`` saw and did: a readable report for people, JSON for schedulers, an exit code."""

from __future__ import annotations

import datetime as dt
import sys

from smtp_egress import errors
from smtp_egress.dates import rfc3339

from .common import print_json


class Report:
    def __init__(self, region: str, now: dt.datetime, notice_days: int, *, dry_run: bool):
        self.region, self.now, self.notice_days, self.dry_run = region, now, notice_days, dry_run
        self.codes: set[int] = set()
        self.problems: list[str] = []
        self.lines: list[str] = []
        self.data: dict = {"region": region, "now": rfc3339(now), "notice_days": notice_days, "dry_run": dry_run,
                           "published": None, "diff": None, "announced": [], "short_notice": [],
                           "delivery": None, "problems": self.problems}

    def fetch(self, fetch):
        """Run the fetch; a failure is recorded (exit 3) and returns None so nothing is sent."""
        try:
            return fetch()
        except errors.PublishedUnusable as exc:
            self._problem(errors.PUBLISHED_UNUSABLE, str(exc))
            return None

    def diffed(self, result, doc) -> None:
        self.data["published"] = {"source": doc.source, "addresses": len(doc.addresses), "sync_token": doc.sync_token,
                                  "created_at": rfc3339(doc.created_at)}
        self.data["diff"] = {"expected": list(result.expected), "published": list(result.published),
                             "missing": list(result.missing), "unexpected": list(result.unexpected),
                             "due": [c.change_id for c in result.due], "stale_upcoming": list(result.stale_upcoming)}
        self.lines.append(f"published list: {len(doc.addresses)} addresses from {doc.source} "
                          f"(sync_token {doc.sync_token}); expected today: {len(result.expected)}")
        if result.missing:
            self._problem(errors.PUBLISHED_UNUSABLE,
                          f"the published list at {doc.source} lacks {len(result.missing)} address(es) that must be "
                          f"published today: {', '.join(result.missing)}. It shrank by more than the plan explains, "
                          f"so it was not read as 'addresses removed' and nothing was sent. Check the endpoint and "
                          f"re-publish (egress publish), then rerun. If these are new addresses, give them an "
                          f"active_from date so that they are announced before they are published")
        if result.unexpected:
            self._problem(errors.DRIFT,
                          f"drift: the published list has address(es) the plan does not list for today: "
                          f"{', '.join(result.unexpected)}; fix the plan or re-publish the list")
        if result.stale_upcoming:
            self.lines.append(f"note: the published document does not list announced change(s) yet: "
                              f"{'; '.join(result.stale_upcoming)}; re-publish it (egress publish)")

    def refused_blocked(self, blocked) -> None:
        """Removals not announced because the list would be left empty."""
        for change, day in blocked:
            self.data["short_notice"].append({"change": change.change_id, "blocked_empty_on": day.isoformat()})
            self._problem(errors.SHORT_NOTICE,
                          f"{change.region}: removal of {change.ip} on {change.effective.isoformat()} was not announced: "
                          f"the published list would be empty from {day.isoformat()} because no replacement address "
                          f"is announced to take over. Plan (and let the job announce) an addition first")

    def refused_short(self, shorts) -> None:
        """Changes closer than notice_days that were not announced (no --allow-short-notice)."""
        for s in shorts:
            self.data["short_notice"].append({"change": s.change.change_id, "lead_days": s.lead_days,
                                              "earliest_compliant": s.earliest_compliant.isoformat()})
            self._problem(errors.SHORT_NOTICE, s.describe(self.notice_days))

    def would_announce(self, items, workspaces: int) -> None:
        for change, reason in items:
            self.data["announced"].append({"change": change.change_id, "workspaces": workspaces, "exception": reason})
            self.lines.append(f"dry run: would announce {_describe(change)} to {workspaces} workspaces"
                              + (f" (short-notice exception: {reason})" if reason else ""))

    def announced(self, change, reason, workspaces: int) -> None:
        self.data["announced"].append({"change": change.change_id, "workspaces": workspaces, "exception": reason})
        self.lines.append(f"announced {_describe(change)} to {workspaces} workspaces"
                          + (f" as a short-notice exception: {reason}" if reason else ""))

    def delivered(self, summary) -> None:
        self.data["delivery"] = {"attempted": summary.attempted, "sent": summary.sent, "reconciled": summary.reconciled,
                                 "failed": summary.failed, "left_pending": summary.left_pending,
                                 "seconds": summary.seconds}
        self.lines.append(f"notices: {summary.sent} sent, {summary.reconciled} found already delivered, "
                          f"{summary.failed} failed, {summary.left_pending} left pending")
        if not summary.complete:
            shown = summary.errors[:10] + ([f"... and {len(summary.errors) - 10} more"] if len(summary.errors) > 10 else [])
            self._problem(errors.DELIVERY_INCOMPLETE,
                          "some notices were not delivered; the next run retries them:\n    " + "\n    ".join(shown))

    def _problem(self, code: int, message: str) -> None:
        self.codes.add(code)
        self.problems.append(message)

    def exit_code(self) -> int:
        return errors.most_urgent(self.codes)

    def emit(self, as_json: bool) -> None:
        self.data["exit_code"] = self.exit_code()
        if as_json:
            print_json(self.data)
            return
        print(f"egress notify: region {self.region}, {rfc3339(self.now)}"
              + (" (dry run: nothing recorded or sent)" if self.dry_run else ""))
        for line in self.lines or ["nothing to do"]:
            print(f"  {line}")
        if self.data["announced"] and not self.dry_run:
            print("  next: re-publish the documents so that 'upcoming' lists the new announcements "
                  "(egress publish --static-dir DIR, or let egress serve pick them up)")
        elif not self.problems and not self.data["announced"]:
            print("  nothing was due")
        for p in self.problems:
            print(f"  ACTION NEEDED: {p}", file=sys.stderr)
        print(f"  exit {self.exit_code()}: {_meaning(self.exit_code())}")


def _describe(change) -> str:
    verb = "addition of" if change.action == "add" else "removal of"
    return f"{verb} {change.ip} on {change.effective.isoformat()}"


def _meaning(code: int) -> str:
    return {
        errors.OK: "all well",
        errors.PUBLISHED_UNUSABLE: "the published document was unusable; nothing was sent",
        errors.SHORT_NOTICE: "a change is closer than the notice period; it was not announced",
        errors.DRIFT: "the published list differs from the plan",
        errors.DELIVERY_INCOMPLETE: "some notices were not delivered; rerun to resume",
    }.get(code, "see the messages above")
