"""Counts and lengths of time in words: the right number, never more than is true."""

import datetime as dt

import pytest

from smtp_egress.wording import count, plural, span


@pytest.mark.parametrize(
    "n, noun, expected",
    [
        (0, "workspace", "0 workspaces"),
        (1, "workspace", "1 workspace"),
        (2, "address", "2 addresses"),
        (1, "address", "1 address"),
        (3, "batch", "3 batches"),
        (2, "upcoming change", "2 upcoming changes"),
        (2, "delivery", "2 deliveries"),
        (2, "day", "2 days"),
    ],
)
def test_count_says_the_noun_in_the_right_number(n, noun, expected):
    assert count(n, noun) == expected


def test_plural_of_a_noun_given_its_own():
    assert count(2, "child", "children") == "2 children" and plural("key") == "keys"


@pytest.mark.parametrize(
    "delta, expected",
    [
        (dt.timedelta(days=1, hours=16, minutes=5), "1 day 16 hours"),  # 1.67 days: not "1 days", not "2 days"
        (dt.timedelta(days=6), "6 days"),
        (dt.timedelta(hours=1, minutes=59), "1 hour"),  # rounded down: a notice is never said to be longer
        (dt.timedelta(minutes=20), "less than an hour"),
        (-dt.timedelta(days=2, hours=1), "2 days 1 hour"),  # a length: the caller says "overdue"
    ],
)
def test_span_in_days_and_hours_rounded_down(delta, expected):
    assert span(delta) == expected
