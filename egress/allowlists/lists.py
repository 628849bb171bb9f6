"""Plain lists: txt, csv, json, yaml, and the SPF mechanism list."""

from __future__ import annotations

import csv
import io

import yaml

from ..jsontypes import JSONObject
from .base import Output, header, json_output, text
from .content import Allowlist, show


def render_txt(al: Allowlist) -> Output:
    """One block per line (a single address bare), after ``#`` comment lines."""
    return text(header(al, "txt", "#") + [show(n, True) for n in al.networks])


CSV_COLUMNS = (
    "network",
    "ip_version",
    "addresses",
    "first",
    "last",
    "status",
    "region",
    "as_of",
    "generated_at",
    "plan_sha256",
    "published_sync_token",
)


def render_csv(al: Allowlist) -> Output:
    """RFC 4180 CSV with a header row; provenance rides in metadata columns on every row (spreadsheets
    and most CSV readers do not skip ``#`` lines)."""
    p = al.provenance("csv")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    for n in al.networks:
        w.writerow(
            [
                str(n),
                n.version,
                n.num_addresses,
                n[0],
                n[-1],
                al.note_for(n),
                al.region,
                p["as_of"],
                p["generated_at"],
                p["plan_sha256"],
                p["published_sync_token"],
            ]
        )
    return Output(buf.getvalue().encode())


def _body(al: Allowlist) -> JSONObject:
    return {
        "region": al.region,
        "networks": [str(n) for n in al.networks],
        "blocks": [{"network": str(n), "addresses": n.num_addresses, "status": al.note_for(n)} for n in al.networks],
    }


def render_json(al: Allowlist) -> Output:
    return json_output(al, "json", _body(al))


def render_yaml(al: Allowlist) -> Output:
    """The JSON body as YAML, after ``#`` comment lines."""
    body = yaml.safe_dump(_body(al), sort_keys=False, default_flow_style=False)
    return Output(("\n".join(header(al, "yaml", "#")) + "\n" + body).encode())


SPF_STRING_MAX = 255  # one character-string of a TXT record (RFC 7208 3.3: longer records need several strings)


def render_spf(al: Allowlist) -> Output:
    """``ip4:``/``ip6:`` mechanisms on one line, to paste into an SPF record, after ``#`` comment lines."""
    mechs = " ".join(f"ip{n.version}:{show(n, True)}" for n in al.networks)
    warnings: list[str] = []
    if len(mechs) > SPF_STRING_MAX - len("v=spf1  -all"):
        warnings.append(
            f"the mechanism list is {len(mechs)} characters: a TXT record splits text longer than "
            f"{SPF_STRING_MAX} characters into several quoted strings (RFC 7208 3.3); publish it that way"
        )
    usage = [
        'Paste the last line into your SPF record, e.g. "v=spf1 <mechanisms> ~all".',
        "ip4/ip6 mechanisms cost no DNS lookups (RFC 7208 4.6.4 limit of 10).",
    ]
    return text([*header(al, "spf", "#", warnings, usage), mechs], warnings)
