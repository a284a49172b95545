"""The DPIA draft and the members' notice as Markdown, HTML and PDF — one set of facts
(:mod:`api.privacy.facts`), three formats, so they cannot say different things."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from allowlist.clock import LONDON
from api.privacy.facts import Facts

TEMPLATES = Path(__file__).with_name("templates")
CSS_PATH = Path(__file__).with_name("privacy.css")
FORMATS = ("md", "html", "pdf")
MEDIA = {"md": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8",
         "pdf": "application/pdf"}
NOTICE_TITLE = "How chamberguard records devices during council meetings"


def when(t: datetime | None) -> str:
    if t is None:
        return "—"
    return t.astimezone(LONDON).strftime("%-d %B %Y, %H:%M")


def md_cell(value: object) -> str:
    """A Markdown table cell: pipes escaped, lines joined."""
    return str(value).replace("|", "\\|").replace("\n", " ")


@cache
def _env(markdown: bool) -> Environment:
    e = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                    autoescape=select_autoescape(default=not markdown, default_for_string=False,
                                                 enabled_extensions=() if markdown
                                                 else ("html",)),
                    trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    e.filters.update(when=when, cell=md_cell)
    return e


@cache
def css() -> str:
    return CSS_PATH.read_text(encoding="utf-8")


def csp() -> str:
    """The pages' CSP: nothing but their own inlined stylesheet (as the reports do)."""
    digest = base64.b64encode(hashlib.sha256(css().encode()).digest()).decode()
    return (f"default-src 'none'; style-src 'sha256-{digest}'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")


def _ctx(f: Facts) -> dict[str, Any]:
    return {"f": f, "notice_title": NOTICE_TITLE, "css": css()}


def data_items_table(f: Facts) -> str:
    """The DPIA's table of data items, in Markdown (also its own section of the draft)."""
    return _env(True).get_template("_data_items.md").render(**_ctx(f))


def dpia_markdown(f: Facts) -> str:
    return _env(True).get_template("dpia.md").render(**_ctx(f), table=data_items_table(f))


def dpia_html(f: Facts) -> str:
    return _env(False).get_template("dpia.html").render(**_ctx(f))


def notice_markdown(f: Facts) -> str:
    return _env(True).get_template("notice.md").render(**_ctx(f))


def notice_html(f: Facts, *, registration: bool = False) -> str:
    """The printable one-page notice; ``registration``: as served on the chamber-side
    registration listener (links back to /register)."""
    return _env(False).get_template("notice.html").render(**_ctx(f), registration=registration)


def pdf(html_text: str) -> bytes:
    try:
        from weasyprint import HTML
    except ImportError as exc:  # pragma: no cover - the pdf extra is not installed
        raise RuntimeError("PDF needs WeasyPrint: pip install 'chamberguard[pdf]'") from exc
    out: bytes = HTML(string=html_text).write_pdf()
    return out


def dpia(f: Facts, fmt: str) -> bytes:
    if fmt == "md":
        return dpia_markdown(f).encode()
    h = dpia_html(f)
    return pdf(h) if fmt == "pdf" else h.encode()


def notice(f: Facts, fmt: str) -> bytes:
    if fmt == "md":
        return notice_markdown(f).encode()
    h = notice_html(f)
    return pdf(h) if fmt == "pdf" else h.encode()
