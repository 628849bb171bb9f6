"""Hostile and malformed plans: bounded size, nesting and aliases, values that would crash a later step, and
address forms that hide another address. Each is refused at the edge with a short message naming the line."""

from __future__ import annotations

import textwrap
import time

import pytest

from smtp_egress.errors import PlanError
from smtp_egress.limits import LAST_DAY, MAX_PLAN_BYTES
from smtp_egress.plan import load_plan, parse_plan
from smtp_egress.scripts.cli import main

# 13 nested levels of nine aliases: a node's repr would expand to 9**13 scalars; 109 aliases in all.
ALIAS_BOMB = """\
x:
- &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
- &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
- &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
- &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
- &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
- &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
- &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
- &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
- &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
- &j [*i,*i,*i,*i,*i,*i,*i,*i,*i]
- &k [*j,*j,*j,*j,*j,*j,*j,*j,*j]
- &l [*k,*k,*k,*k,*k,*k,*k,*k,*k]
- &m [*l,*l,*l,*l,*l,*l,*l,*l,*l]
regions:
  us: [*m]
"""
# Under the alias bound, and still 9**7 scalars if anything expanded it.
SMALL_BOMB = "\n".join(ALIAS_BOMB.splitlines()[:8]) + "\nregions:\n  us: [*g]\n"


def problems(text: str) -> list[str]:
    with pytest.raises(PlanError) as info:
        parse_plan(textwrap.dedent(text).encode(), "plan.yaml")
    return info.value.problems


def one_problem(text: str) -> str:
    (found,) = problems(text)
    return found


def test_an_alias_bomb_is_refused_fast_with_a_short_message():
    started = time.monotonic()
    found = one_problem(ALIAS_BOMB)
    assert time.monotonic() - started < 2
    assert found.startswith("plan.yaml:") and "aliases" in found and len(found) < 300


def test_a_bomb_under_the_alias_bound_is_described_never_expanded():
    started = time.monotonic()
    found = problems(SMALL_BOMB)
    assert time.monotonic() - started < 2
    assert (
        found[-1] == "plan.yaml:8: each entry of region 'us' must be a mapping like 'ip: 198.51.100.10', found a list"
    )


def test_a_shared_list_is_described_not_printed():
    found = problems("x: &entries [[1, 2, 3]]\nregions:\n  us: *entries\n")
    assert found == [
        "plan.yaml:1: unknown key 'x'; the plan takes only ['notice_days', 'regions']",
        "plan.yaml:1: each entry of region 'us' must be a mapping like 'ip: 198.51.100.10', found a list",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "regions:\n  us:\n    - " + "[" * 5000 + "]" * 5000 + "\n",
        "regions:\n  us:\n    - " + "{a: " * 5000 + "b" + "}" * 5000 + "\n",
        "regions:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 300)),
    ],
    ids=["flow lists", "flow mappings", "block mappings"],
)
def test_deep_nesting_is_refused_without_a_recursion_error(text):
    found = one_problem(text)
    assert "nests deeper than" in found and len(found) < 200


def test_a_huge_plan_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text("regions:\n  us:\n    - ip: 198.51.100.10\n" + "# padding\n" * (MAX_PLAN_BYTES // 10))
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert "larger than" in str(info.value)


def test_a_huge_scalar_is_quoted_as_a_bounded_excerpt():
    found = one_problem("regions:\n  us:\n    - ip: " + "9" * 100_000 + "\n")
    assert "(100000 characters)" in found and len(found) < 400


def test_thousands_of_problems_are_counted_not_all_listed():
    text = "regions:\n  us:\n" + "".join(f"    - ip: 10.0.{i // 250}.{i % 250}\n" for i in range(2000))
    found = problems(text)
    assert len(found) == 51 and found[-1] == "... and 1950 more"


@pytest.mark.parametrize(
    "value",
    ["0x10", "0o17", "017", "1_000", "1:30", "+8", "99999999999", "1e3", "'14'", "366", "99999999999999999999999"],
)
def test_notice_days_is_plain_decimal_and_bounded(value):
    found = one_problem(f"notice_days: {value}\nregions:\n  us:\n    - ip: 198.51.100.10\n")
    assert found.startswith("plan.yaml:1: notice_days") and len(found) < 200


def test_notice_days_up_to_a_year_is_accepted():
    plan = parse_plan(b"notice_days: 365\nregions:\n  us:\n    - ip: 198.51.100.10\n", "plan.yaml")
    assert plan.notice_days == 365


@pytest.mark.parametrize(
    "day, why",
    [
        ("9999-12-31", "outside"),
        ("3000-01-01", "outside"),
        ("0001-01-01", "outside"),
        ("1969-12-31", "outside"),
        ("2026-W50-1", "is not a date"),  # an ISO week date: datetime.date.fromisoformat reads it
        ("20261210", "is not a date"),
        ("2026-02-30", "is not a date"),
    ],
)
def test_planned_days_are_bounded(day, why):
    found = one_problem(f"regions:\n  us:\n    - ip: 198.51.100.10\n    - ip: 198.51.100.11\n      retire_on: {day}\n")
    assert found.startswith("plan.yaml:5: retire_on") and why in found


def test_the_last_allowed_day_is_accepted():
    text = f"regions:\n  us:\n    - ip: 198.51.100.10\n    - ip: 198.51.100.11\n      retire_on: {LAST_DAY}\n"
    assert parse_plan(text.encode(), "plan.yaml").changes("us")[0].effective == LAST_DAY


@pytest.mark.parametrize("name", ["US", "-eu", "eu-", "e_u", "eu.west", "é", "eu west", "a" * 33, "''", "'eu\\n'"])
def test_region_names_are_lower_case_ascii_letters_digits_and_inner_dashes(name):
    found = one_problem(f"regions:\n  {name}:\n    - ip: 198.51.100.10\n")
    assert "region name" in found and "must be lower-case letters (a-z), digits and '-'" in found


@pytest.mark.parametrize("name", ["us", "eu-west-1", "a", "a" * 32, "0"])
def test_region_names_that_are_accepted(name):
    assert list(parse_plan(f"regions:\n  {name}:\n    - ip: 198.51.100.10\n".encode(), "p").regions) == [name]


@pytest.mark.parametrize(
    "ip, form",
    [
        ("'::ffff:198.51.100.10'", "IPv4-mapped form of 198.51.100.10"),
        ("'::ffff:c633:640a'", "IPv4-mapped form of 198.51.100.10"),
        ("'::198.51.100.10'", "IPv4-compatible form of 198.51.100.10"),
        ("'64:ff9b::c633:640a'", "NAT64 form of 198.51.100.10"),
        ("'64:ff9b:1::c633:640a'", "local-use NAT64 form"),
        ("'2002:c633:640a::1'", "6to4 form of 198.51.100.10"),
        ("'2001:0:4136:e378:8000:63bf:3fff:fdd2'", "Teredo form of 192.0.2.45"),
        ("'2001:db8::5efe:c633:640a'", "ISATAP form of 198.51.100.10"),
        ("'2001:db8::10%eth0'", "carries a zone"),
        ("'2001:db8::10%25eth0'", "carries a zone"),
    ],
)
def test_addresses_that_carry_another_address_or_a_zone_are_refused(ip, form):
    found = one_problem(f"regions:\n  us:\n    - ip: {ip}\n")
    assert form in found


def test_the_mapped_form_of_a_planned_address_is_refused_naming_the_address_it_hides():
    found = problems("regions:\n  us:\n    - ip: 198.51.100.10\n    - ip: '::ffff:198.51.100.10'\n")
    assert found == [
        (
            "plan.yaml:4: ip '::ffff:198.51.100.10' is the IPv4-mapped form of 198.51.100.10: a transition form, "
            "not an address a worker sends from; write it as 198.51.100.10"
        )
    ]


@pytest.mark.parametrize("value", ["'eipalloc-1 2'", "'eipalloc-1\\n'", "' x'", "'" + "a" * 200 + "'", "'$(id)'"])
def test_allocation_ids_are_identifiers(value):
    found = one_problem(f"regions:\n  us:\n    - ip: 198.51.100.10\n      allocation_id: {value}\n")
    assert "allocation_id" in found and "must be an AWS identifier" in found


@pytest.mark.parametrize(
    "command",
    [
        ["validate"],
        ["publish", "--region", "us", "--out", "{dir}/out.json", "--db", "{db}"],
        ["allowlist", "--region", "us", "--format", "txt", "--db", "{db}"],
        ["report", "--db", "{db}"],
        ["notify", "--region", "us", "--published", "{dir}/none.json", "--db", "{db}"],
        ["serve", "--port", "0", "--db", "{db}"],
        ["workspaces", "import", "{dir}/ws.csv", "--db", "{db}"],
        ["ledger", "adopt", "--region", "us", "--published", "{dir}/none.json", "--db", "{db}"],
        ["synth", "--stack", "us"],
    ],
    ids=lambda c: c[0] + ("-" + c[1] if c[0] in ("workspaces", "ledger") else ""),
)
@pytest.mark.parametrize("bomb", [ALIAS_BOMB, SMALL_BOMB], ids=["over the alias bound", "under it"])
def test_every_command_exits_2_on_an_alias_bomb_with_a_short_message(command, bomb, tmp_path, capsys):
    plan = tmp_path / "plan.yaml"
    plan.write_text(bomb)
    (tmp_path / "ws.csv").write_text("workspace_id,region,email\nws-1,us,a@one.example\n")
    argv = [a.format(dir=tmp_path, db=f"sqlite:///{tmp_path}/ledger.db") for a in command]
    code = main([*argv, "--plan", str(plan)])
    out, err = capsys.readouterr()
    said = err[err.index(f"egress {command[0]}") :]  # (a server thread of another test may have printed before)
    assert code == 2, err
    assert "the plan from --plan is invalid" in said and len(out + said) < 1000 and "Traceback" not in said
