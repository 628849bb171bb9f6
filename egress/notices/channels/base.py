"""What a notice channel is: the Protocols every channel module implements, and the small parts they share.

A channel (:class:`Channel`) is declared by one module of this package and registered in ``__init__``. It
names itself (the ``deliveries.channel`` value), its column in the workspaces file, how a target is checked
and shown (a URL is a credential: :func:`mask_secret_url`), its settings (:class:`Option`: an environment
variable, maybe a flag, a default; the command line turns them into options), the stack secrets the daily
task needs (:class:`StackSecret`), how it checks its settings (and its server) before a run records
anything (:meth:`Channel.preflight`), and how it opens a :class:`Sender`. A sender renders the channel's
payload from the rendered notice, carries the delivery's idempotency key, and decides itself when a run
should stop trying (:meth:`Sender.held`), e.g. because its one server failed several times in a row. A
:class:`StreamingSender` takes the run's notices as one stream instead of one call each (the email channel
keeps several SMTP sessions in flight); the fan-out calls the others one notice at a time.

Everything here is light to import (no HTTP, SMTP or database modules): ``egress --help``, the workspaces
import and the stack program read the registry.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable
from urllib.parse import urlsplit

from ...masking import mask_secret_url as mask_secret_url  # the channels' own name for it (re-exported)

if TYPE_CHECKING:
    from ...errors import DeliveryError
    from ...ledger import Delivery
    from ..render import RenderedNotice

S = TypeVar("S")
TRUE = ("1", "true", "yes")


@dataclasses.dataclass(frozen=True)
class Option:
    """One setting of a channel: read from ``flag`` (if it has one), else the environment variable ``env``,
    else ``default``. ``help`` is the flag's help text."""

    key: str  # the name in the values a channel's settings() receives
    env: str
    help: str
    flag: str | None = None
    metavar: str | None = None
    default: str | None = None


@dataclasses.dataclass(frozen=True)
class StackSecret:
    """A secret the daily notice task gets from Secrets Manager: the environment variable ``env``, set from
    the stack config key ``smtp-egress:<config_key>`` (which every stack must set). ``required``: the task
    (NoticeSchedule) refuses to be declared without it; ``reason`` says why, or what it is for."""

    env: str
    config_key: str
    required: bool
    reason: str


@runtime_checkable
class Sender(Protocol):
    """An open channel: delivers notices of one run, then is closed."""

    def held(self, d: Delivery) -> str | None:
        """Why ``d`` is not to be tried in this run (it stays pending), or None: e.g. "the SMTP server
        failed 5 times in a row". The fan-out counts the deliveries held for each reason."""
        ...

    def delivered(self, d: Delivery) -> bool:
        """True when the channel can tell that ``d`` already arrived (a crash after sending): not resent."""
        ...

    def send(self, d: Delivery, notice: RenderedNotice, now: dt.datetime) -> None:
        """Render this channel's payload for ``d`` and deliver it; DeliveryError if it was not accepted."""
        ...

    def close(self) -> None: ...


Outcome = Callable[["Delivery", "DeliveryError | None"], None]


class NoticeStream:
    """A run's notices for one channel, as a :class:`StreamingSender` pulls them: an iterator of (delivery,
    rendered notice) that consults the sender's :meth:`Sender.held` and the run's deadline as it goes.
    A sender that pulls ahead (to start other notices past a busy host) asks :meth:`stopped` before it starts
    one it pulled earlier, and hands back with :meth:`put_back` each one it will not start."""

    def __init__(
        self,
        items: Iterator[tuple[Delivery, RenderedNotice]],
        stopped: Callable[[], str | None],
        put_back: Callable[[Delivery, str], None],
    ):
        self._items, self._stopped, self._put_back = items, stopped, put_back

    def __iter__(self) -> Iterator[tuple[Delivery, RenderedNotice]]:
        return self

    def __next__(self) -> tuple[Delivery, RenderedNotice]:
        return next(self._items)

    def stopped(self) -> str | None:
        """Why no further notice may be started in this run (its deadline passed), or None."""
        return self._stopped()

    def put_back(self, d: Delivery, why: str) -> None:
        """``d`` was pulled but is not started in this run: it stays pending, counted as held for ``why``."""
        self._put_back(d, why)


@runtime_checkable
class StreamingSender(Sender, Protocol):
    """A sender that takes a run's notices as one stream, e.g. to keep several in flight at once."""

    def send_all(
        self,
        notices: NoticeStream,
        now: Callable[[], dt.datetime],
        done: Outcome,
    ) -> None:
        """Deliver every (delivery, rendered notice) that ``notices`` yields, pulling the next one only when it
        can take it (the stream consults :meth:`held` as it goes), and call ``done(d, None)`` when ``d`` was
        accepted or ``done(d, error)`` when it was not, once per delivery, as each outcome becomes known. A
        :class:`~smtp_egress.errors.DeliveryUnknown` says it may have arrived (never record that as failed)."""
        ...


def send_each(
    sender: Sender,
    notices: Iterator[tuple[Delivery, RenderedNotice]],
    now: Callable[[], dt.datetime],
    done: Outcome,
) -> None:
    """What :meth:`StreamingSender.send_all` does for a sender that sends one notice at a time."""
    from ...errors import DeliveryError

    for d, notice in notices:
        try:
            sender.send(d, notice, now())
        except DeliveryError as exc:
            done(d, exc)
            continue
        done(d, None)


@runtime_checkable
class Channel(Protocol[S]):
    """A kind of notice channel, as one module declares it (see the module docstring)."""

    name: str  # the deliveries.channel value and the key of workspace targets, e.g. "email" (<= 16 characters)
    column: str  # the column (CSV) or key (JSON) of the workspaces file, e.g. "webhook_url"
    required: bool  # every workspace must have a target for it
    example: str  # a valid target, for documentation and tests
    summary: str  # what a notice looks like on this channel (README)
    idempotency: str  # how a resent notice can be recognised by the receiving side (README)
    options: tuple[Option, ...]
    secrets: tuple[StackSecret, ...]

    def problem(self, target: str) -> str | None:
        """Why ``target`` (stripped, maybe empty) is not usable, as the end of a sentence, or None."""
        ...

    def mask(self, target: str) -> str:
        """``target`` as errors, reports and listings may show it."""
        ...

    def settings(self, values: Mapping[str, str | None], sources: Mapping[str, str] | None = None) -> S:
        """The typed settings from raw option values by key (a missing key: the option's default); ``sources``
        says where each given value came from (its flag or environment variable), for messages. A value that
        cannot be a setting (a flag that is neither on nor off): ConfigError naming its source."""
        ...

    def preflight(self, settings: S, targets: int) -> None:
        """Check that this channel can deliver, before a run records anything (every run, also when nothing
        is due); ``targets``: how many workspaces of the region it reaches. Sends nothing. A setting that cannot
        work: ConfigError (exit 2); its server unreachable or refusing to log in: ChannelUnreachable (exit 6)."""
        ...

    def open(self, settings: S) -> Sender:
        """A sender for one run (ConfigError if the settings cannot work)."""
        ...


def option_values(options: tuple[Option, ...], values: Mapping[str, str | None]) -> dict[str, str | None]:
    """Every option's raw value: the given one, else its default."""
    return {o.key: values.get(o.key, o.default) for o in options}


def origin(options: tuple[Option, ...], sources: Mapping[str, str] | None, key: str) -> str:
    """Where option ``key``'s value came from, for messages: the flag or environment variable it was read from,
    else ``the default (set with --flag or ENV)``."""
    if sources and key in sources:
        return sources[key]
    option = next(o for o in options if o.key == key)
    names = " or ".join(n for n in (option.flag, option.env) if n)
    return f"the default (set with {names})"


FALSE = ("", "0", "false", "no")


def switch(
    options: tuple[Option, ...], values: Mapping[str, str | None], sources: Mapping[str, str] | None, key: str
) -> bool:
    """An on/off option: 1/true/yes or 0/false/no (any case; unset or empty: off); ConfigError otherwise."""
    from ...errors import ConfigError

    raw = option_values(options, values)[key] or ""
    if raw.strip().lower() in TRUE:
        return True
    if raw.strip().lower() in FALSE:
        return False
    raise ConfigError(f"{origin(options, sources, key)} {raw[:40]!r} must be 1 (or true, yes) or 0 (or false, no)")


def url_kind(schemes: tuple[str, ...]) -> str:
    """``http(s)`` for http and https, else the schemes: what a message calls such a URL."""
    return "http(s)" if set(schemes) == {"http", "https"} else " or ".join(schemes)


def url_problem(url: str, schemes: tuple[str, ...]) -> str | None:
    """Why ``url`` is not an absolute URL of one of ``schemes`` with a host, or None."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        return f"must be an {url_kind(schemes)} URL (it does not parse)"
    if parts.scheme not in schemes or not parts.hostname or any(c in url for c in "\r\n\t "):
        return f"must be an {url_kind(schemes)} URL"
    return None


class Streak:
    """Transient failures in a row, per server: after ``limit`` of them that server is taken to be down, and
    the rest of its notices stay pending for the next run instead of hammering it now."""

    def __init__(self, limit: int):
        self.limit = limit
        self._count: dict[str, int] = {}

    def down(self, server: str) -> bool:
        return self._count.get(server, 0) >= self.limit

    def succeeded(self, server: str) -> None:
        self._count[server] = 0

    def failed(self, server: str, error: DeliveryError) -> None:
        self._count[server] = 0 if error.permanent else self._count.get(server, 0) + 1
