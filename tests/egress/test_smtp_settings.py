"""The rules a server's settings are saved under (pure: no I/O), and the destination check on save."""

from __future__ import annotations

import pytest

from smtp_egress.smtp.settings import SettingsInvalid, check_destination, validate

BASE = {"workspace_id": "ws-1", "host": "smtp.example.com", "port": "587"}


def problems(**changes) -> list[str]:
    fields = {**BASE, **changes}
    has_password = fields.pop("has_password", False)
    with pytest.raises(SettingsInvalid) as caught:
        validate(fields, has_password=has_password)
    return caught.value.problems


def test_the_ports_imply_the_security():
    assert validate({**BASE, "port": "465"}).security == "implicit-tls"
    assert validate({**BASE, "port": 587}).security == "starttls"
    assert validate({**BASE, "port": "2525"}).security == "starttls"
    assert validate({**BASE, "port": "10025", "security": "starttls"}).security == "starttls"


def test_port_25_is_refused_saying_why():
    (problem,) = problems(port="25")
    assert problem.startswith("--port '25' is refused") and "465" in problem and "587/2525" in problem


@pytest.mark.parametrize(("port", "security"), [("465", "starttls"), ("587", "implicit-tls"), ("2525", "implicit-tls")])
def test_a_mismatch_explains_the_wrong_version_number_symptom(port, security):
    (problem,) = problems(port=port, security=security)
    assert problem.startswith(f"--security {security!r} does not match port {port}")
    assert "wrong version number" in problem


def test_another_port_needs_the_security_explicitly():
    (problem,) = problems(port="10025")
    assert problem.startswith("--port '10025'") and "--security implicit-tls or starttls" in problem


@pytest.mark.parametrize("port", ["0", "65536", "x", "-1", "\uff15\uff18\uff17", True])
def test_not_a_port(port):
    assert problems(port=port)[0].startswith("--port") and "not a port number" in problems(port=port)[0]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("SMTP.Example.COM.", "smtp.example.com"),
        ("mail.Bücher.example", "mail.xn--bcher-kva.example"),
        ("[2001:DB8::1]", "2001:db8::1"),
        ("192.0.2.7", "192.0.2.7"),
        ("localhost", "localhost"),
    ],
)
def test_the_host_is_normalised(given, stored):
    assert validate({**BASE, "host": given}).host == stored


@pytest.mark.parametrize("host", ["", "a_b.example", "-x.example", "a..b", "fe80::1%eth0", "x" * 300, "nodot"])
def test_not_a_host(host):
    (problem,) = problems(host=host)
    assert problem.startswith("--host ")


def test_the_certificate_check_has_no_skip():
    fp = "AB:" * 31 + "AB"
    assert validate({**BASE, "certificate": f"fingerprint:{fp}"}).certificate == "fingerprint:" + "ab" * 32
    for value in ("skip", "none", "insecure", "fingerprint:abc", "fingerprint:" + "g" * 64):
        (problem,) = problems(certificate=value)
        assert problem.startswith(f"--certificate {value[:30]!r}"[:-1])
    assert "no way to skip verification" in problems(certificate="skip")[0]


def test_campaign_types_are_short_tokens():
    assert validate({**BASE, "campaign_types": "news, promo"}).campaign_types == ("news", "promo")
    assert validate({**BASE, "campaign_types": ["a-b", "c_d"]}).campaign_types == ("a-b", "c_d")
    for value in ("News", "a b", "x" * 65, "a,a", "é"):
        (problem,) = problems(campaign_types=value)
        assert problem.startswith("--campaign-types")


def test_a_user_name_and_a_password_go_together():
    assert validate({**BASE, "username": "u"}, has_password=True).username == "u"
    assert "--username is given without a password: give --password-file" in problems(username="u")[0]
    assert "without a user name" in problems(has_password=True)[0]


def test_every_problem_is_named_with_where_it_came_from():
    found = problems(workspace_id="bad id", host="a_b", port="25", certificate="skip", campaign_types="X")
    assert [p.split(" ")[0] for p in found] == ["--workspace", "--host", "--port", "--certificate", "--campaign-types"]
    with pytest.raises(SettingsInvalid) as caught:
        validate({**BASE, "port": "25"}, lambda field: f"servers.csv:3: {field}")
    assert caught.value.problems[0].startswith("servers.csv:3: port '25' is refused")


def test_a_long_value_is_quoted_bounded():
    (problem,) = problems(host="a" * 5000 + "_")
    assert len(problem) < 300 and "(5001 characters)" in problem


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "10.1.2.3", "169.254.169.254", "100.64.0.1", "::ffff:127.0.0.1", "0.0.0.0"]
)
def test_the_destination_must_be_global_unicast(host):
    settings = validate({**BASE, "host": host})
    with pytest.raises(SettingsInvalid) as caught:
        check_destination(settings)
    assert "is refused: the workers reach only public" in str(caught.value)
    check_destination(settings, allow_private=True)  # EGRESS_SMTP_ALLOW_PRIVATE=1: tests and labs


def test_a_public_literal_passes_the_destination_check():
    check_destination(validate({**BASE, "host": "8.8.8.8"}))
