"""Report formats the domain produces itself (JSON, the CSV table, the per-lookup CSV), the
signed file, and file names. HTML and PDF are drawn by the dashboard (dashboard.reports.render)
from the same document and passed in as a :data:`Renderer`, so all formats sign the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.reports import signing
from api.reports.tables import csv_body, lookups_csv

FORMATS = ("html", "pdf", "csv", "json")  # the document's formats
ALL_FORMATS = (*FORMATS, "lookups")  # and a meeting's per-lookup CSV
DATA_FORMATS = ("csv", "json", "lookups")  # made here; html and pdf by the dashboard
MEDIA = {"html": "text/html; charset=utf-8", "pdf": "application/pdf",
         "csv": "text/csv; charset=utf-8", "json": "application/json",
         "lookups": "text/csv; charset=utf-8"}
# What each format is signed as (its trailer's kind): the lookups CSV is a CSV file.
SIGNED_AS = {"html": "html", "pdf": "pdf", "csv": "csv", "json": "json", "lookups": "csv"}

Renderer = Callable[[dict[str, Any], str], bytes]
"""(document, format) → the body's bytes."""


def json_body(doc: dict[str, Any]) -> bytes:
    """Compact (one line; ``jq .`` shows it indented): the C encoder, 5x faster than
    ``indent=``, and the report's bytes are what is signed, not its layout."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def body(doc: dict[str, Any], fmt: str) -> bytes:
    """The body of a data format; HTML and PDF need the dashboard's renderer."""
    if fmt == "csv":
        return csv_body(doc)
    if fmt == "json":
        return json_body(doc)
    if fmt == "lookups":
        return lookups_csv(doc)
    if fmt in ALL_FORMATS:
        raise ValueError(f"{fmt} is drawn by the dashboard (dashboard.reports.render)")
    raise ValueError(f"unknown format {fmt!r} (html, pdf, csv, json or lookups)")


def signed(doc: dict[str, Any], fmt: str, key: Ed25519PrivateKey,
           render: Renderer = body) -> bytes:
    """The report as a signed file (see api.reports.signing for the scheme); ``render``
    draws the body (the dashboard's for HTML and PDF)."""
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
    return signing.sign(render(doc, fmt), fmt=SIGNED_AS[fmt], key=key, meta=meta)


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
