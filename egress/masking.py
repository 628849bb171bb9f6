"""What a message, a log line, ``--json``, a report or a notice may show of a value: credentials masked, input
quoted as a bounded, repr-safe excerpt. The one place every part of smtp-egress masks and quotes with.

- :func:`mask_url`: any URL (a ledger's SQLAlchemy URL of any dialect, an SMTP URL, the published list's URL),
  also one that does not parse: the password becomes ``***`` (for http(s), the whole user info: a lone user
  name there is often a token), so do the values of query or fragment parameters whose name says credential
  (``password``, ``token``, ``key``, ``sig``, ...). A password holding ``/``, ``#``, ``?``, ``@`` or ``%``
  unencoded is still masked: everything from the first ``:`` of the user info to the last ``@`` counts as the
  password (this may hide more than the password of a URL that has no user info but a port and an ``@`` later:
  hiding too much is the safe side).
- :func:`mask_secret_url`: a URL that *is* a credential (a customer's webhook or Slack URL): only its scheme,
  host and port, and a fingerprint to tell two URLs apart (``https://hooks.example/***[sha256:1a2b3c4d]``).
- :func:`scrub`: a message from another library (a parser, a driver, an HTTP client) with every secret of the
  given URLs replaced: such messages quote their input, and the input holds the password.
- :func:`excerpt`: a value quoted in a message: ``repr`` of at most ``limit`` characters (control characters
  escaped), never the ``repr`` of an object (a YAML node's expands every alias).
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import unquote

MASK = "***"
SHOWN = 300  # a masked URL is cut to this many characters
EXCERPT = 80  # characters of a value quoted in a message

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]{0,30})://")
# user [":" password] "@": the password runs to the LAST "@", whatever it holds (an unencoded "/" or "#" too).
_USERINFO = re.compile(r"([^:/?#@\[\]]*)(?::(.*))?@", re.DOTALL)
_CREDENTIAL_NAME = re.compile(
    r"pass|pwd|secret|token|key|sig|auth|cred|session|ticket|jwt|bearer|access|private|code", re.IGNORECASE
)
_PARAM = re.compile(r"(^|[?&;#])([^=&;#?]*)=([^&;#]*)")
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(?::(\d{1,5}))?")


class _Parts:
    """A URL split without a parser that could raise: every part as written."""

    def __init__(self, url: str):
        found = _SCHEME.match(url)
        self.scheme = found.group(1) if found else ""
        body = url[found.end() :] if found else url
        self.user: str | None = None
        self.password: str | None = None
        info = _USERINFO.match(body) if "@" in body else None
        if info is not None:
            self.user, self.password = info.group(1), info.group(2)
            body = body[info.end() :]
        end = next((i for i, c in enumerate(body) if c in "/?#"), len(body))
        self.host, self.tail = body[:end], body[end:]

    @property
    def web(self) -> bool:
        return self.scheme.lower() in ("http", "https")

    def userinfo(self) -> str:
        if self.user is None:
            return ""
        if self.web:
            return f"{MASK}@"
        return f"{self.user}:{MASK}@" if self.password is not None else f"{self.user}@"

    def secrets(self, path: bool = False) -> list[str]:
        """The credential parts as written (and percent-decoded): the password, the web user info, the values
        of credential parameters; with ``path``, also the path and query and each of their pieces."""
        found = [self.password or ""]
        if path:
            found += [self.tail, *re.split(r"[/?#&;=]", self.tail)]
        if self.web and self.user is not None:
            found.append(self.user + (f":{self.password}" if self.password is not None else ""))
        found += [m.group(3) for m in _PARAM.finditer(self.tail) if _CREDENTIAL_NAME.search(m.group(2))]
        # A parser that stops at an unencoded "/", "#", "?", "@" or ":" quotes the pieces between them.
        pieces = [p for v in found for p in re.split(r"[/#?@:]", v)]
        return [s for v in found + pieces for s in {v, unquote(v)}]


def _mask_params(tail: str) -> str:
    def one(m: re.Match[str]) -> str:
        return f"{m.group(1)}{m.group(2)}={MASK}" if _CREDENTIAL_NAME.search(m.group(2)) else m.group(0)

    return _PARAM.sub(one, tail)


def printable(text: str) -> str:
    """``text`` with every non-printable character written as an escape (``\\n``, ``\\x1b``, ``\\u202e``)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def mask_url(url: object) -> str:
    """``url`` as a message may show it: credentials masked (see the module's docstring), printable, at most
    :data:`SHOWN` characters. Never raises, whatever ``url`` holds."""
    text = str(url)
    parts = _Parts(text)
    scheme = f"{parts.scheme}://" if parts.scheme else ""
    return shorten(printable(f"{scheme}{parts.userinfo()}{parts.host}{_mask_params(parts.tail)}"), SHOWN)


def mask_secret_url(url: str) -> str:
    """A URL that is a credential, shown without its secret: ``scheme://host[:port]/***`` and a fingerprint,
    ``[sha256:<first 8 hex digits of SHA-256 of the whole URL>]``, to tell two URLs apart without showing them
    (compare with ``printf %s "$URL" | sha256sum``). Only ``***[sha256:...]`` when no host can be told."""
    digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    parts = _Parts(url)
    where = _HOST_PORT.fullmatch(parts.host)
    port = where.group(2) if where else None
    if not where or not parts.scheme.isalpha() or (port is not None and not 0 < int(port) < 65536):
        return f"{MASK}[sha256:{digest}]"
    host = where.group(1)[:100]
    return f"{parts.scheme[:10].lower()}://{host}{f':{int(port)}' if port else ''}/{MASK}[sha256:{digest}]"


def unencoded_at(url: str) -> bool:
    """Does the password of ``url`` hold an unencoded ``@``? Parsers then disagree on where the host starts: one
    takes a piece of the password for the host name, and looks it up in DNS. Refuse such a URL before using it."""
    return "@" in (_Parts(url).password or "")


def scrub(text: str, *urls: str | None, secret_path: bool = False) -> str:
    """``text`` (e.g. another library's error message, or what a server answered) with every secret of ``urls``
    replaced by ``***``: each URL itself becomes its masked form, then any password, web user info or
    credential parameter value of it left over (as written or percent-decoded; of 3 characters or more).
    ``secret_path``: the URLs are credentials (:func:`mask_secret_url`): their path and query are secrets too."""
    for url in (u for u in urls if u):
        text = text.replace(url, mask_secret_url(url) if secret_path else mask_url(url))
        for secret in sorted(_Parts(url).secrets(secret_path), key=len, reverse=True):
            if len(secret) >= 3:
                text = text.replace(secret, MASK)
    return text


def excerpt(value: object, limit: int = EXCERPT) -> str:
    """A value quoted in a message: the ``repr`` of at most ``limit`` characters of a string (with the total
    length when cut), or, for anything else, only its kind (a node's or a structure's repr can be huge)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int) and value.bit_length() > 4 * limit:
        return f"<a number of {value.bit_length()} bits>"
    if isinstance(value, int | float):
        return shorten(repr(value), limit)
    if not isinstance(value, str):
        return f"<{type(value).__name__}>"
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value)} characters)"
