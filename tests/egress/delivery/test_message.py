"""Line endings normalised, bare CR/LF in the header refused, dots stuffed: no smuggled end of data."""

from __future__ import annotations

import pytest

from smtp_egress.delivery.errors import PolicyRefusal
from smtp_egress.delivery.message import checked_address, normalised, stuffed


def test_a_crlf_message_is_kept_as_it_is() -> None:
    message = b"Subject: hi\r\nFrom: a@b.example\r\n\r\nline 1\r\nline 2\r\n"
    assert normalised(message) == message


def test_a_unix_file_gets_crlf_everywhere_and_a_final_crlf() -> None:
    assert normalised(b"Subject: hi\nFrom: a@b\n\nbody\nlast") == b"Subject: hi\r\nFrom: a@b\r\n\r\nbody\r\nlast\r\n"


@pytest.mark.parametrize(
    "message",
    [
        b"Subject: hi\r\nX-Evil: a\nMAIL FROM:<x@y>\r\n\r\nbody\r\n",  # a bare LF among CRLF lines
        b"Subject: hi\r\nX-Evil: a\rb\r\n\r\nbody\r\n",  # a bare CR
        b"Subject: hi\nX-Evil: a\rb\n\nbody\n",  # a bare CR in a Unix file
        b"Subject: hi\r\n\nbody\r\n",  # the empty line itself ends with a bare LF
    ],
)
def test_a_bare_cr_or_lf_in_the_header_refuses_the_message(message: bytes) -> None:
    with pytest.raises(PolicyRefusal, match=r"header section .* (bare CR|bare LF)"):
        normalised(message)


def test_body_line_endings_become_crlf_so_no_end_of_data_can_be_smuggled() -> None:
    body = b"one\n.\r\nMAIL FROM:<evil@x>\r\r\n.\rtwo\r"
    out = normalised(b"Subject: s\r\n\r\n" + body)
    assert out == b"Subject: s\r\n\r\none\r\n.\r\nMAIL FROM:<evil@x>\r\n\r\n.\r\ntwo\r\n"
    data = stuffed(out)
    assert data.count(b"\r\n.\r\n") == 1 and data.endswith(b"\r\n.\r\n")  # only the real end of data
    assert b"\r\n..\r\nMAIL FROM" in data


def test_stuffing_doubles_every_leading_dot_and_ends_with_the_dot() -> None:
    assert stuffed(b".first\r\n..second\r\nthird.\r\n") == b"..first\r\n...second\r\nthird.\r\n.\r\n"
    assert stuffed(b"") == b".\r\n"


@pytest.mark.parametrize("address", ["a@b\r\nRCPT TO:<c@d>", "a b@c", "<a@b>", "x\x00@y"])
def test_an_address_that_could_break_its_command_is_refused(address: str) -> None:
    with pytest.raises(PolicyRefusal, match="not a valid mailbox"):
        checked_address(address, "recipient")
    assert checked_address("ok@example.com", "recipient") == "ok@example.com"
