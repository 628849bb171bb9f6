"""Several SMTP sessions in flight to one server, each sending one message behind another.

:func:`send_all` delivers a stream of messages over up to ``connections`` sessions that
:class:`~.transport.SmtpTransport` opens (connect, EHLO, STARTTLS, AUTH). On a server that offers PIPELINING
(RFC 2920) a session sends a message's content, its final dot and the next message's MAIL, RCPT and DATA in
one write, and reads their four replies together: one round trip per message where smtplib's ``sendmail``
takes four. Without PIPELINING it sends one command at a time, waiting for each reply. One thread drives
every session (``selectors``), so the caller's callbacks need no locks.

Each message is reported once, as its answer arrives: accepted (only the 250 after its final dot), or a
:class:`DeliveryError`: refused as the server said (4xx transient, 5xx permanent). A session that is lost
(closed, 421, an error, no answer within the timeout) hands its unanswered messages to another session; a
message is tried on at most :data:`MAX_TRIES` sessions. A message whose last byte went out before its
session was lost may have arrived: unless a retry is accepted, it is reported as :class:`DeliveryUnknown`,
never as refused. The pool pulls a message from the stream only when a session can take it (so a caller
can stop the stream, e.g. when the server failed too often), at most two per session ahead of their answers.
A connection that cannot be opened while others are open means the server takes no more: the pool keeps the
sessions it has and the message waits for one; with no session open the message fails with the error.
"""

from __future__ import annotations

import collections
import selectors
import time
from collections.abc import Callable, Iterator

from ..errors import DeliveryError, DeliveryUnknown
from .maildir import check_envelope
from .smtp_session import DOT, MAIL, RCPT, Message, Session, stuffed
from .transport import SmtpTransport, refused

__all__ = ["MAX_TRIES", "Done", "Message", "send_all", "stuffed"]

MAX_TRIES = 2  # sessions a message may go out on when the one it was on is lost
Done = Callable[[Message, "DeliveryError | None"], None]


def send_all(transport: SmtpTransport, connections: int, messages: Iterator[Message], done: Done) -> None:
    """Deliver every message ``messages`` yields over up to ``connections`` sessions of ``transport``'s
    server, calling ``done(message, None or the DeliveryError)`` once for each (see the module docstring)."""
    pool = _Pool(transport, connections, messages, done)
    try:
        pool.run()
    finally:
        pool.close()


class _Pool:
    def __init__(self, transport: SmtpTransport, connections: int, messages: Iterator[Message], done: Done):
        self.transport, self.limit, self.source, self.done = transport, max(1, connections), messages, done
        self.where = transport.settings.where
        self.sessions: list[Session] = []
        self.retry: collections.deque[Message] = collections.deque()
        self.exhausted = False
        self.selector = selectors.DefaultSelector()
        self.body: tuple[bytes, bytes] = (b"", b"")  # the last body, and stuffed(b"", body)

    def run(self) -> None:
        self.fill()
        while busy := [s for s in self.sessions if not s.idle]:
            events = self.selector.select(max(0.0, min(s.deadline for s in busy) - time.monotonic()))
            if not events:
                now = time.monotonic()
                for s in busy:
                    if s.deadline <= now:
                        self.lost(s, f"no answer within {self.transport.timeout:g} s")
            for key, _ in events:
                self.answer(key.data)
            self.fill()
        while self.sessions:
            self.drop(self.sessions[-1], polite=True)

    def close(self) -> None:
        while self.sessions:
            self.drop(self.sessions[-1], polite=False)
        self.selector.close()

    # Sessions ---------------------------------------------------------------------------------------

    def fill(self) -> None:
        """Give every idle session a message, and open sessions (up to the limit) while messages wait."""
        for s in list(self.sessions):
            if s.idle:
                self.chain(s)
                self.flush(s)
        while len(self.sessions) < self.limit and (m := self.next()) is not None:
            try:
                smtp = self.transport.open_session()
            except DeliveryError as exc:
                if self.sessions:  # the server takes no more connections: keep those it took
                    self.limit = len(self.sessions)
                    self.retry.appendleft(m)
                else:
                    self.finish(m, exc)
                continue
            s = Session(smtp, self.transport.timeout)
            self.sessions.append(s)
            self.selector.register(s.sock, selectors.EVENT_READ, s)
            self.retry.appendleft(m)
            self.chain(s)
            self.flush(s)

    def flush(self, s: Session) -> None:
        try:
            s.flush()
        except OSError as exc:
            self.lost(s, str(exc) or type(exc).__name__)

    def drop(self, s: Session, *, polite: bool) -> None:
        self.sessions.remove(s)
        self.selector.unregister(s.sock)
        s.close(polite)

    def lost(self, s: Session, why: str, answered: Message | None = None) -> None:
        """``s`` is lost: its messages go to another session, or fail after MAX_TRIES (``answered``: the
        message whose content the server refused with 421, so it did not arrive)."""
        held = s.unanswered()
        self.drop(s, polite=False)
        again = []
        for m, sent in held:
            m.unsure = m.unsure or (sent and m is not answered)
            m.tries += 1
            m.error = None
            if m.tries < MAX_TRIES:
                again.append(m)
            else:
                self.finish(m, DeliveryError(f"lost the connection to {self.where}: {why}"))
        self.retry.extendleft(reversed(again))

    # Messages ---------------------------------------------------------------------------------------

    def next(self) -> Message | None:
        if self.retry:
            return self.retry.popleft()
        if self.exhausted:
            return None
        m = next(self.source, None)
        self.exhausted = m is None
        return m

    def chain(self, s: Session) -> None:
        """Queue the next message's envelope on ``s`` (after whatever is queued there)."""
        while (m := self.next()) is not None:
            try:
                check_envelope(m.sender, m.recipient)
            except DeliveryError as exc:
                self.finish(m, exc)
                continue
            if not s.utf8 and not (m.sender + m.recipient).isascii():
                address = m.recipient if not m.recipient.isascii() else m.sender
                why = f"{self.where} does not offer SMTPUTF8, needed for the non-ASCII address {address!r}"
                self.finish(m, DeliveryError(why, permanent=True))
                continue
            s.envelope(m)
            return

    def answer(self, s: Session) -> None:
        """Act on the replies that arrived on ``s``, then write what they made ready."""
        try:
            replies = s.replies()
        except (OSError, EOFError) as exc:
            self.lost(s, str(exc) or type(exc).__name__)
            return
        for code, text in replies:
            if not s.expect:
                self.lost(s, f"it answered {code} {text[:200]!r} to nothing")
                return
            kind, m = s.expect.popleft()
            if code == 421:  # the server is closing the session: nothing it holds was accepted
                s.expect.appendleft((kind, m))
                self.lost(s, f"{code} {text.decode('utf-8', 'replace')}", m if kind == DOT else None)
                return
            if m is None:  # VOID
                continue
            if kind == DOT:
                self.finish(
                    m,
                    None
                    if code == 250
                    else refused(f"{self.where} refused the message for {m.recipient!r}", code, text),
                )
            elif kind == MAIL:
                if code != 250:
                    m.error = refused(f"{self.where} refused the sender {m.sender!r}", code, text)
            elif kind == RCPT:
                if code not in (250, 251) and m.error is None:
                    m.error = refused(f"{self.where} refused the recipient {m.recipient!r}", code, text)
            elif code == 354 and m.error is None:  # DATA
                s.content(m, self.prepared(m))
                self.chain(s)
            else:
                if code == 354:  # RFC 2920 3.1: DATA accepted although the envelope was not: an empty message
                    s.void(b".\r\n")
                s.void(b"RSET\r\n")
                self.finish(m, m.error or refused(f"{self.where} refused the message for {m.recipient!r}", code, text))
                self.chain(s)
        self.flush(s)

    def prepared(self, m: Message) -> bytes | None:
        """``m``'s body as DATA sends it, prepared once for all the messages that share it."""
        if not (m.body and m.head.endswith(b"\n")):
            return None
        if m.body is not self.body[0]:
            self.body = (m.body, stuffed(b"", m.body))
        return self.body[1]

    def finish(self, m: Message, error: DeliveryError | None) -> None:
        if error is not None and m.unsure and not isinstance(error, DeliveryUnknown):
            error = DeliveryUnknown(
                f"{error}; an earlier attempt was lost after the whole message went out, so it may have arrived: "
                "it is not recorded as failed, and the next run sends it again with the same Message-ID"
            )
        self.done(m, error)
