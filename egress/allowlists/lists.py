"""Plain lists: txt, csv, json, yaml, and the SPF mechanism list."""

from __future__ import annotations

import csv
import io

import yaml

from ..jsontypes import JSONObject
from ..txtrecords import TXT_STRING_MAX, txt_strings, zone_file_value
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


SPF_LOOKUPS = "ip4/ip6 mechanisms cost no DNS lookups (RFC 7208 4.6.4 limit of 10)."


def render_spf(al: Allowlist) -> Output:
    """``ip4:``/``ip6:`` mechanisms on one line, to paste into an SPF record, after ``#`` comment lines.

    When the whole record (``v=spf1 <mechanisms> ~all``) is longer than one TXT character-string (255
    characters), the last line is that record as several quoted strings instead (RFC 7208 3.3: receivers join
    them with nothing in between), cut between mechanisms, ready to publish as the TXT record's value."""
    mechs = " ".join(f"ip{n.version}:{show(n, True)}" for n in al.networks)
    record = f"v=spf1 {mechs} ~all"
    if len(record) <= TXT_STRING_MAX:
        usage = ['Paste the last line into your SPF record, e.g. "v=spf1 <mechanisms> ~all".']
        return text([*header(al, "spf", "#", (), [*usage, SPF_LOOKUPS]), mechs])
    strings = txt_strings(record)
    warnings = [
        (
            f"the SPF record is {len(record)} characters, over the {TXT_STRING_MAX} of one TXT string: the last "
            f"line gives it as {len(strings)} quoted strings (RFC 7208 3.3); publish it that way"
        )
    ]
    usage = [
        "Publish the last line as your domain's SPF TXT record value: several quoted strings, which receivers join",
        'with nothing in between. Add your own mechanisms inside the last string, before "~all".',
    ]
    return text([*header(al, "spf", "#", warnings, [*usage, SPF_LOOKUPS]), zone_file_value(record)], warnings)
