"""The tracking-domain state machine (pure, no DNS): unknown never changes a state, a verified domain fails only
after definite failures spanning 72 hours, a verified check ends a streak."""

from __future__ import annotations

import datetime as dt

import pytest

from smtp_egress.domains.state import GRACE, DomainState, Transition, advance

T0 = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


def run(checks, stored=None):
    """Feed (status, hours after T0) checks; return the final stored state and every transition."""
    transitions = []
    for status, hours in checks:
        step = advance(stored, status, T0 + hours * H)
        stored = step.stored
        if step.transition:
            transitions.append(step.transition)
    return stored, transitions


def test_a_first_definite_check_sets_the_state():
    assert run([("verified", 0)]) == (DomainState("verified", T0), [Transition(None, "verified", T0)])
    assert run([("failed", 0)]) == (DomainState("failed", T0), [Transition(None, "failed", T0)])


def test_unknown_never_stores_or_changes_anything():
    assert run([("unknown", 0), ("unknown", 500)]) == (None, [])
    verified = DomainState("verified", T0, failing_since=T0 + H)
    assert advance(verified, "unknown", T0 + 1000 * H).stored is verified
    failed = DomainState("failed", T0)
    assert advance(failed, "unknown", T0 + 5 * H).stored is failed


def test_a_verified_domain_fails_only_once_definite_failures_span_72_hours():
    stored, moves = run([("verified", 0), ("failed", 10), ("failed", 40), ("failed", 10 + 71.99)])
    assert stored == DomainState("verified", T0, failing_since=T0 + 10 * H)
    assert stored.fails_at() == T0 + 10 * H + GRACE
    assert moves == [Transition(None, "verified", T0)]
    stored, moves = run([("failed", 82)], stored)
    assert stored == DomainState("failed", T0 + 82 * H)
    assert moves == [Transition("verified", "failed", T0 + 82 * H)]


def test_exactly_72_hours_is_enough():
    stored, moves = run([("verified", 0), ("failed", 1), ("failed", 73)])
    assert stored.state == "failed" and moves[-1] == Transition("verified", "failed", T0 + 73 * H)


def test_unknown_checks_inside_a_streak_neither_end_nor_extend_it():
    stored, _ = run([("verified", 0), ("failed", 1), ("unknown", 30), ("unknown", 60), ("failed", 73)])
    assert stored.state == "failed"


def test_a_verified_check_ends_the_streak():
    stored, moves = run([("verified", 0), ("failed", 1), ("verified", 50), ("failed", 73), ("failed", 100)])
    assert stored == DomainState("verified", T0, failing_since=T0 + 73 * H)
    assert moves == [Transition(None, "verified", T0)]


def test_a_single_failure_after_a_long_verified_time_is_not_enough():
    stored, moves = run([("verified", 0), ("verified", 500), ("failed", 1000)])
    assert stored.state == "verified" and len(moves) == 1


def test_a_failed_domain_becomes_verified_at_once_and_stays_failed_on_failures():
    stored, moves = run([("failed", 0), ("failed", 200), ("verified", 201)])
    assert stored == DomainState("verified", T0 + 201 * H)
    assert moves == [Transition(None, "failed", T0), Transition("failed", "verified", T0 + 201 * H)]


@pytest.mark.parametrize("status", ["verified", "failed", "unknown"])
def test_a_failed_domain_keeps_its_since(status):
    failed = DomainState("failed", T0)
    after = advance(failed, status, T0 + 3 * H).stored
    assert after == (DomainState("verified", T0 + 3 * H) if status == "verified" else failed)
