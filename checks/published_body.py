"""A body that is not the published document, described without quoting it: an error or login page may hold
credentials (a token in a link, a connection string in a stack trace). Its size, Content-Type and kind are named,
and for a JSON object its keys (never its values)."""

from __future__ import annotations

import json

from smtp_egress.masking import excerpt


def describe_body(body: bytes, resp=None) -> str:
    """A body that is not the document, described without quoting it (it may hold credentials): its size,
    its Content-Type and what kind of content it looks like."""
    ctype = resp.headers.get("Content-Type") if resp is not None else None
    declared = resp.headers.get("Content-Length", "") if resp is not None else ""
    size = f"{declared} bytes" if declared.isdigit() else f"{len(body)} bytes" + ("" if len(body) < 4096 else "+")
    served = f" served as {excerpt(ctype, 60)}" if ctype else " with no Content-Type"
    media = (ctype or "").split(";")[0].strip().lower()
    return f"body: {size}{served}, {kind_of(body, media)}" if body.strip() else f"an empty body{served}"


def kind_of(body: bytes, media: str) -> str:
    head = body[:1024].lstrip().lower()
    html = media in ("text/html", "application/xhtml+xml") or head.startswith((b"<!doctype html", b"<html"))
    if html or b"<body" in head or b"<head" in head:
        return "an HTML page (not quoted: it may hold credentials)"
    if head.startswith(b"<"):
        return "XML or markup (not quoted)"
    if head.startswith((b"{", b"[")):
        try:
            value = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return "JSON, cut or malformed (not quoted)"
        if isinstance(value, dict):
            keys = ", ".join(excerpt(k, 20) for k in list(value)[:5]) + (", ..." if len(value) > 5 else "")
            return f"a JSON object with the keys {keys or 'none'} (values not quoted)"
        return f"a JSON {type(value).__name__} (not quoted)"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data"
    return "text (not quoted: it may hold credentials)"
