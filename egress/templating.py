"""The one jinja2 set-up every renderer uses: package templates, HTML autoescaped, strict undefined."""

from __future__ import annotations

import functools

import jinja2


@functools.cache
def environment(package: str, plain_extension: str) -> jinja2.Environment:
    """Templates of ``package``/templates; ``*.html.j2`` autoescaped, ``*.<plain_extension>`` not."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2", "html"), disabled_extensions=(plain_extension,), default=True
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
