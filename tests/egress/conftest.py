"""Fixtures for the notice tests (the SMTP servers and CA are in tests/conftest.py)."""

from __future__ import annotations

import datetime as dt

import pytest


@pytest.fixture
def rendered_notice():
    from smtp_egress.notices.render import NoticeContext, render_notice

    ctx = NoticeContext(
        change_id="us/add/203.0.113.7/2026-12-10", region="us", ip="203.0.113.7", action="add",
        effective=dt.date(2026, 12, 10), announced_at=dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC),
        notice_days=7, endpoint_url="https://ips.example.com/v1/info/ip_addresses?region=us",
        changes_url="https://ips.example.com/v1/info/ip_addresses/changes.json",
    )
    return render_notice(ctx)
