"""A notice from a simulation ledger says so on every channel: subject, text, HTML, and the webhook payload."""

from __future__ import annotations

import dataclasses

from smtp_egress.notices.render import SIMULATED_SUBJECT, SIMULATED_TEXT, render_notice


def test_a_simulated_notice_says_so_and_a_real_one_does_not(rendered_notice):
    real = rendered_notice
    simulated = render_notice(dataclasses.replace(real.context, simulated=True))
    assert simulated.subject == SIMULATED_SUBJECT + real.subject
    assert simulated.text.startswith(SIMULATED_TEXT + "\n") and SIMULATED_TEXT in simulated.html
    assert simulated.webhook_payload(workspace_id="ws-1", delivery_id="d-1")["simulated"] is True
    assert SIMULATED_TEXT not in real.text + real.html and "SIMULATION" not in real.subject
    assert "simulated" not in real.webhook_payload(workspace_id="ws-1", delivery_id="d-1")
