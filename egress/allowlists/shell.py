"""The shape of every POSIX shell script format (ufw, aws-sg-sync, aws-prefix-list-sync): a script that changes
nothing unless the whole file arrived.

A customer may run a file whose download stopped halfway (``curl ... | sh`` on a dropped connection, a copy cut
short). Run as it is, the first half of a list would remove every address of the second half. So a script is
definitions only, then ``main() { ... }``, called by the file's last line, ``{ main "$@"; }``: a file cut inside
``main`` does not parse, one cut after it never calls it, and a cut inside the last line is an unclosed brace
group (never ``main`` without its arguments). Until ``main`` starts, an exit trap reports the file as incomplete,
so a cut-short file fails loudly instead of exiting 0 having done nothing.
"""

from __future__ import annotations

INCOMPLETE = (
    "error: this file is incomplete (cut short, e.g. by a failed download): nothing was changed; download it again"
)
GUARD = f"trap 'echo \"{INCOMPLETE}\" >&2; exit 1' EXIT"
CALL = '{ main "$@"; }'


def heredoc(call: str, rows: list[str]) -> list[str]:
    """``call`` reading ``rows`` on its standard input (a quoted here-document: no expansion)."""
    return [f"{call} <<'EOF'", *rows, "EOF"]


def _indent(body: list[str]) -> list[str]:
    """``body`` indented two spaces, except here-document rows and their terminator (read verbatim)."""
    out, data = [], False
    for line in body:
        out.append(line if data or not line else f"  {line}")
        if line.endswith("<<'EOF'"):
            data = True
        elif data and line == "EOF":
            data = False
    return out


def script(header: list[str], definitions: list[str], body: list[str]) -> list[str]:
    """``#!/bin/sh``, the ``header`` comment lines, the incomplete-file guard and strict mode, ``definitions``
    (variables and functions: nothing that changes the system), then ``body`` as ``main``, called last.
    ``main`` has a private temporary directory, ``$tmp``, removed when the script exits."""
    return [
        "#!/bin/sh",
        *header,
        "# Everything that changes the system is in main(), run by the last line: a file cut short changes nothing.",
        GUARD,
        "set -eu",
        *definitions,
        "",
        "main() {",
        "  trap - EXIT # the whole file was read",
        "  tmp=$(mktemp -d)",
        "  trap 'rm -rf \"$tmp\"' EXIT",
        *_indent(body),
        "}",
        "",
        CALL,
    ]
