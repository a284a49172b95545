"""Renderers: one report document → HTML, PDF, CSV or JSON bytes, and the signed file.

All four read only the document (see builder), so a figure cannot differ between them.
The HTML *file* is self-contained (its print CSS inlined, allowed by a hash in the
Content-Security-Policy it is served with) so it prints and verifies anywhere; the
dashboard *page* links the same CSS as an external file. The PDF is that HTML through
WeasyPrint, with the report JSON attached (``report.json``) for machine reading.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.reports import formats
from dashboard.reports import timeline

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
CSS_PATH = HERE / "static" / "report.css"
BODY_TEMPLATE = {"meeting": "_meeting_body.html", "member": "_member_body.html",
                 "site": "_site_body.html"}


# ---------------------------------------------------------------------------- filters
def _dt(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso) if iso else None


def hm(iso: str | None) -> str:
    t = _dt(iso)
    return t.strftime("%H:%M") if t else "–"


def hms(iso: str | None) -> str:
    t = _dt(iso)
    return t.strftime("%H:%M:%S") if t else "–"


def day(iso: str | None) -> str:
    t = _dt(iso)
    return f"{t:%a} {t.day} {t:%b %Y}" if t else "–"


def when(iso: str | None) -> str:
    t = _dt(iso)
    return f"{t:%a} {t.day} {t:%b %Y} {t:%H:%M}" if t else "–"


def cap1(text: str | None) -> str:
    """Upper-case the first letter only (Jinja's ``capitalize`` lowers the rest)."""
    return (text[:1].upper() + text[1:]) if text else ""


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def filters() -> dict[str, Callable[..., str]]:
    """Shared with the page templates in api/reports (one set of time words)."""
    return {"hm": hm, "hms": hms, "day": day, "when": when, "cap1": cap1}


@cache
def env() -> Environment:
    e = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                    autoescape=select_autoescape(default=True), trim_blocks=True,
                    lstrip_blocks=True)
    e.filters.update(filters())
    e.globals.update(plural=plural, member_timeline=timeline.member_timeline)
    return e


@cache
def css() -> str:
    return CSS_PATH.read_text(encoding="utf-8")


def css_csp() -> str:
    """The CSP for the self-contained HTML file: nothing but its own inlined stylesheet."""
    digest = base64.b64encode(hashlib.sha256(css().encode()).digest()).decode()
    return (f"default-src 'none'; style-src 'sha256-{digest}'; img-src data:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


# ---------------------------------------------------------------------------- appendix
def appendix(doc: dict[str, Any]) -> dict[int, list[tuple[str, str, str, int, str]]]:
    """Each episode's lookups one by one, for the appendix: episode number → (name, verdict,
    channel, how many, their UK times) in order of first lookup. A time is written in full
    (``19:02:11``) when its hour or minute differs from the one before, else as ``:SS``:
    every lookup is listed with its second, and a PDF of 20,000 lookups lays out as words
    rather than as 20,000 table rows (WeasyPrint's cost is per box)."""
    out: dict[int, list[tuple[str, str, str, int, str]]] = {}
    groups: dict[tuple[int, str, str, str], list[str]] = {}
    for r in doc.get("lookups") or ():
        n = r["episode"]
        if n is None:
            continue  # another DNS service: listed with the member, not in an episode
        key = (n, r["name"], r["verdict"], r["channel"])
        times = groups.get(key)
        if times is None:
            times = groups[key] = []
            out.setdefault(n, [])
        times.append(r["at"][11:19])
    for (n, name, verdict, channel), times in groups.items():
        words, last = [], ""
        for t in times:
            words.append(t if t[:5] != last else ":" + t[6:])
            last = t[:5]
        out[n].append((name, verdict, channel, len(times), " ".join(words)))
    return out


# ---------------------------------------------------------------------------- formats
def html(doc: dict[str, Any], *, print_pdf: bool = False) -> bytes:
    """The self-contained, printable HTML document; ``print_pdf``: the PDF's layout (the
    same figures; per-member timelines only for members with a likely-opened episode)."""
    t = env().get_template("document.html")
    return t.render(doc=doc, css=css(), body=BODY_TEMPLATE[doc["kind"]],
                    print_pdf=print_pdf, appendix=appendix(doc)).encode("utf-8")


PDF_VARIANT = "pdf/ua-1"  # tagged, for UK public-sector accessibility


def pdf(doc: dict[str, Any]) -> bytes:
    """The HTML document through WeasyPrint (A4, page numbers) as tagged PDF/UA-1, its
    dates (dcterms.created/modified in the HTML) in UK time, report.json attached."""
    try:
        from weasyprint import HTML, Attachment
    except ImportError as exc:  # pragma: no cover - the pdf extra is not installed
        raise RuntimeError("PDF needs WeasyPrint: pip install 'chamberguard[pdf]'") from exc
    data = formats.json_body(doc)
    with _quiet("weasyprint", "fontTools"):
        out: bytes = HTML(string=html(doc, print_pdf=True).decode("utf-8")).write_pdf(
            pdf_variant=PDF_VARIANT,
            attachments=[Attachment(string=data.decode("utf-8"), name="report.json",
                                    description="The report's data (same figures)")])
    return out


@contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """WeasyPrint and fontTools log every unsupported CSS property and font subset at
    WARNING/INFO: noise on the operator's terminal for a report that renders fine. Errors
    still show."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def body(doc: dict[str, Any], fmt: str) -> bytes:
    """Every format's body: HTML and PDF here, the data formats from api.reports.formats.
    Pass this as the ``render`` of api.reports.service to issue any format."""
    if fmt == "html":
        return html(doc)
    if fmt == "pdf":
        return pdf(doc)
    return formats.body(doc, fmt)
