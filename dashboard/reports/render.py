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
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jinja2 import Environment, FileSystemLoader, select_autoescape

from dashboard.reports import signing, timeline
from monitor.csvout import write_csv

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
CSS_PATH = HERE / "static" / "report.css"
FORMATS = ("html", "pdf", "csv", "json")  # the document's formats
ALL_FORMATS = (*FORMATS, "lookups")  # and a meeting's per-lookup CSV
MEDIA = {"html": "text/html; charset=utf-8", "pdf": "application/pdf",
         "csv": "text/csv; charset=utf-8", "json": "application/json",
         "lookups": "text/csv; charset=utf-8"}
# What each format is signed as (its trailer's kind): the lookups CSV is a CSV file.
SIGNED_AS = {"html": "html", "pdf": "pdf", "csv": "csv", "json": "json", "lookups": "csv"}
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


# ---------------------------------------------------------------------------- formats
def html(doc: dict[str, Any], *, print_pdf: bool = False) -> bytes:
    """The self-contained, printable HTML document; ``print_pdf``: the PDF's layout (the
    same figures; per-member timelines only for members with a likely-opened episode)."""
    t = env().get_template("document.html")
    return t.render(doc=doc, css=css(), body=BODY_TEMPLATE[doc["kind"]],
                    print_pdf=print_pdf).encode("utf-8")


PDF_VARIANT = "pdf/ua-1"  # tagged, for UK public-sector accessibility


def pdf(doc: dict[str, Any]) -> bytes:
    """The HTML document through WeasyPrint (A4, page numbers) as tagged PDF/UA-1, its
    dates (dcterms.created/modified in the HTML) in UK time, report.json attached."""
    try:
        from weasyprint import HTML, Attachment
    except ImportError as exc:  # pragma: no cover - the pdf extra is not installed
        raise RuntimeError("PDF needs WeasyPrint: pip install 'chamberguard[pdf]'") from exc
    data = json_body(doc)
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


def json_body(doc: dict[str, Any]) -> bytes:
    """Compact (one line; ``jq .`` shows it indented): the C encoder, 5x faster than
    ``indent=``, and the report's bytes are what is signed, not its layout."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


_FORMULA = ("=", "+", "-", "@", "\t", "\r")
CSV_HEAD = ("record", "name", "device", "platform", "episodes", "lookups", "bypass_attempts",
            "other_refused", "first", "last", "detail", "likely_opened")


def _cell(v: object) -> object:
    """Text that a spreadsheet would run as a formula is prefixed with ' (CSV injection)."""
    if isinstance(v, str) and v.startswith(_FORMULA):
        return "'" + v
    return "" if v is None else v


def _row(record: str, name: object = "", device: object = "", platform: object = "",
         episodes: object = "", lookups: object = "", bypass: object = "",
         other: object = "", first: object = "", last: object = "",
         detail: object = "", opened: object = "") -> list[object]:
    return [record, name, device, platform, episodes, lookups, bypass, other, first, last,
            detail, opened]


def _meta(doc: dict[str, Any], pairs: Iterable[tuple[str, object]]) -> list[list[object]]:
    base = [("report_kind", doc["kind"]), ("report_id", doc["report_id"]),
            ("subject", doc["subject"]), ("generated_at", doc["generated_at"]),
            ("generated_by", doc["generated_by"]), ("site", doc["site"]["name"]),
            ("room", doc["site"]["room"]), ("timezone", doc["timezone"])]
    return [_row("meta", k, detail=v) for k, v in [*base, *pairs]]


def _tail(doc: dict[str, Any]) -> list[list[object]]:
    rows = [_row("method", m["title"], detail=m["text"]) for m in doc["method"]]
    rows += [_row("evidence", k, detail=v) for k, v in doc["evidence"].items()]
    return rows


def _member_rows(m: dict[str, Any], name: str) -> list[list[object]]:
    rows = []
    for p in m["platforms"]:
        rows.append(_row("member-platform", name, platform=p["name"], episodes=p["episodes"],
                         lookups=p["lookups"], first=p["first"], last=p["last"],
                         opened=p["opened"]))
    for e in m["episode_list"]:
        rows.append(_row("episode", name, e["device"], e["name"], 1, e["lookups"],
                         first=e["start"], last=e["end"],
                         detail=f"episode {e['number']}: {e['text']}",
                         opened=int(e["label"] == "opened")))
    for b in m["bypass_list"]:
        rows.append(_row("bypass", name, b["device"], bypass=1, first=b["at"],
                         detail=b["text"] + ("" if b["blocked"] else " (not blocked)")))
    return rows


def _csv_meeting(doc: dict[str, Any]) -> list[list[object]]:
    mt, cond = doc["meeting"], doc["conditions"]
    gate = cond["gate"]
    rows = _meta(doc, [
        ("meeting_id", mt["id"]), ("committee", mt["committee"]), ("title", mt["title"]),
        ("status", mt["status"]), ("room", mt["room"]), ("location", mt["location"]),
        ("scheduled_start", mt["scheduled_start"]), ("scheduled_end", mt["scheduled_end"]),
        ("actual_start", mt["actual_start"]), ("actual_end", mt["actual_end"]),
        ("in_session_minutes", mt["in_session_minutes"]),
        ("session_source", mt["session_source"]), ("mode_at_start", cond["mode_at_start"]),
        ("topology", cond["topology"]), ("refused", cond["refused"]),
        ("observed_only", cond["observed_only"]),
        ("gate_uptime_percent", gate["uptime_percent"]),
        ("gate_outage_minutes", gate["outage_minutes"]),
        ("unregistered_devices_seen", cond["unregistered_devices_seen"])])
    rows += [_row("clerk-action", a["action"], first=a["at"], detail=a["by"])
             for a in mt["clerk_actions"]]
    rows += [_row("session", first=s["start"], last=s["end"], detail=f"{s['minutes']} min")
             for s in mt["sessions"]]
    rows += [_row("mode-change", c["by"], first=c["at"], detail=f"{c['from']} -> {c['to']}")
             for c in cond["mode_changes"]]
    rows += [_row("outage", first=o["start"], last=o["end"],
                  detail=f"{o['minutes_in_session']} min in session; {o['detail']}")
             for o in gate["outages"]]
    rows += [_row("incident", first=i["at"], detail=i["detail"]) for i in gate["incidents"]]
    for m in doc["members"]:
        devices = "; ".join(f"{d['label']} ({d['mac']})" for d in m["devices"])
        evidence = "; ".join(sorted({e for d in m["devices"] for e in d["evidence"]}))
        rows.append(_row("member", m["name"], devices, "", m["episodes"], m["lookups"],
                         m["bypass_attempts"], m["other_refused"], m["first"], m["last"],
                         f"present: {evidence}", m["opened"]))
        rows += [_row("member-device", m["name"], d["label"],
                      detail=f"{d['mac']}; identified by {d['identified_by']}")
                 for d in m["devices"] if d.get("identified_by")]
        rows += _member_rows(m, m["name"])
    t = doc["totals"]
    rows += [_row("total-platform", platform=p["name"], episodes=p["episodes"],
                  lookups=p["lookups"]) for p in t["platforms"]]
    rows += [_row("policy-change", c["by"], first=c["at"],
                  detail=c["text"] + (f" ({c['effect']})" if c.get("effect") else ""))
             for c in cond.get("policy_changes", [])]
    rows += [_row("rule-allowing-platform", r["domain"], first=r["created_at"],
                  detail=r["effect"]) for r in cond.get("rules_allowing_platforms", [])]
    rows.append(_row("total", "all members", episodes=t["episodes"], lookups=t["lookups"],
                     bypass=t["bypass_attempts"],
                     detail=f"{t['members_with_contacts']} of {t['members_listed']} members "
                            "listed had records", opened=t["opened"]))
    return rows + _tail(doc)


def _csv_member(doc: dict[str, Any]) -> list[list[object]]:
    mem = doc["member"]
    rows = _meta(doc, [("member_id", mem["id"]), ("member", mem["name"]),
                       ("from", doc["period"]["from"]), ("to", doc["period"]["to"]),
                       ("topology", doc["conditions"]["topology"])])
    rows += [_row("device", mem["name"], d["label"],
                  detail=f"{d['mac']}; identified by {d['identified_by']}")
             for d in mem["devices"]]
    for mt in doc["meetings"]:
        label = f"{mt['committee']} {mt['scheduled_start']}"
        rows.append(_row("meeting", label, "", "", mt["episodes"], mt["lookups"],
                         mt["bypass_attempts"], mt["other_refused"], mt["first"], mt["last"],
                         f"meeting {mt['meeting_id']}, {mt['in_session_minutes']} min in "
                         "session"))
        rows += _member_rows(mt, label)
    t = doc["totals"]
    rows += [_row("total-platform", platform=p["name"], episodes=p["episodes"],
                  lookups=p["lookups"]) for p in t["platforms"]]
    rows.append(_row("total", mem["name"], episodes=t["episodes"], lookups=t["lookups"],
                     bypass=t["bypass_attempts"],
                     detail=f"{t['meetings_with_contacts']} meetings with contacts; "
                            f"{t['events_outside_meetings']} events outside meetings"))
    return rows + _tail(doc)


def _csv_site(doc: dict[str, Any]) -> list[list[object]]:
    rows = _meta(doc, [("from", doc["period"]["from"]), ("to", doc["period"]["to"]),
                       ("topology", doc["conditions"]["topology"])])
    for mt in doc["meetings"]:
        rows.append(_row("meeting", f"{mt['committee']} {mt['scheduled_start']}", "", "",
                         mt["episodes"], mt["lookups"], mt["bypass_attempts"], "", "", "",
                         f"meeting {mt['meeting_id']}; {mt['members_with_contacts']} members "
                         f"with contacts; {mt['in_session_minutes']} min in session; "
                         f"uptime {mt['uptime_percent']}%"))
    rows += [_row("member", m["name"], episodes=m["episodes"], lookups=m["lookups"],
                  bypass=m["bypass_attempts"], detail=f"{m['meetings']} meetings")
             for m in doc["members"]]
    rows += [_row("incident", first=i["at"], detail=i["detail"]) for i in doc["incidents"]]
    t = doc["totals"]
    rows += [_row("total-platform", platform=p["name"], episodes=p["episodes"],
                  lookups=p["lookups"]) for p in t["platforms"]]
    rows.append(_row("total", "all meetings", episodes=t["episodes"], lookups=t["lookups"],
                     bypass=t["bypass_attempts"],
                     detail=f"{t['meetings']} meetings; {t['members_with_contacts']} members "
                            f"with contacts; {t['outage_minutes']} min of gate outage"))
    return rows + _tail(doc)




def csv_body(doc: dict[str, Any]) -> bytes:
    """One table, one row per fact; ``record`` says what the row is."""
    rows = {"meeting": _csv_meeting, "member": _csv_member, "site": _csv_site}[doc["kind"]](doc)
    return write_csv(CSV_HEAD, rows)


LOOKUPS_HEAD = ("time_uk", "device", "member", "name", "platform", "kind", "verdict",
                "channel", "episode", "event_id")


def lookups_csv(doc: dict[str, Any]) -> bytes:
    """One row per lookup of the meeting (platform lookups and uses of another DNS service),
    time in UK time with its offset, the episode number as in the report."""
    if "lookups" not in doc:
        raise ValueError("the lookups CSV is made for a meeting report")
    return write_csv(LOOKUPS_HEAD, ((r["at"], r["device"], r["member"], r["name"],
                                     r["platform"], r["kind"], r["verdict"], r["channel"],
                                     r["episode"], r["id"]) for r in doc["lookups"]))


def body(doc: dict[str, Any], fmt: str) -> bytes:
    if fmt == "html":
        return html(doc)
    if fmt == "pdf":
        return pdf(doc)
    if fmt == "csv":
        return csv_body(doc)
    if fmt == "json":
        return json_body(doc)
    if fmt == "lookups":
        return lookups_csv(doc)
    raise ValueError(f"unknown format {fmt!r} (html, pdf, csv, json or lookups)")


def signed(doc: dict[str, Any], fmt: str, key: Ed25519PrivateKey) -> bytes:
    """The report as a signed file (see dashboard.reports.signing for the scheme)."""
    ev = doc["evidence"]
    meta = {"kind": doc["kind"], "report_id": doc["report_id"], "subject": doc["subject"],
            "generated_at": doc["generated_at"],
            "chain": {"last_event_id": ev["last_event_id"],
                      "last_event_hash": ev["last_event_hash"],
                      "head_id": ev["chain_head_id"], "head_hash": ev["chain_head_hash"],
                      "anchor_event_id": ev.get("chain_anchor_event_id"),
                      "anchor_hash": ev.get("chain_anchor_hash")}}
    if fmt == "lookups":
        meta["content"] = "lookups"
    return signing.sign(body(doc, fmt), fmt=SIGNED_AS[fmt], key=key, meta=meta)


def filename(doc: dict[str, Any], fmt: str) -> str:
    stamp = (doc["generated_at"] or "")[:10]
    if doc["kind"] == "meeting":
        stem = f"meeting-{doc['meeting']['id']}"
    elif doc["kind"] == "member":
        stem = f"member-{doc['member']['id']}"
    else:
        stem = "site"
    if fmt == "lookups":
        return f"chamberguard-{stem}-lookups-{stamp}.csv"
    return f"chamberguard-{stem}-{stamp}.{fmt}"
