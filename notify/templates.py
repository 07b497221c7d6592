"""Message templates: ``notify/templates/<name>.txt|.html`` filled with ``string.Template``."""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from string import Template

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


@cache
def _template(filename: str) -> Template:
    return Template((TEMPLATE_DIR / filename).read_text(encoding="utf-8"))


def render_text(template: str, /, **values: object) -> str:
    """Return the plain-text template ``template`` filled with ``values`` (a missing value is an error)."""
    return _template(f"{template}.txt").substitute({k: str(v) for k, v in values.items()}).strip()


def render_html(template: str, /, *, raw: frozenset[str] = frozenset(), **values: object) -> str:
    """Return the HTML template ``template`` filled with HTML-escaped ``values`` (keys in ``raw`` go in as is)."""
    escaped = {k: str(v) if k in raw else html.escape(str(v)) for k, v in values.items()}
    return _template(f"{template}.html").substitute(escaped)
