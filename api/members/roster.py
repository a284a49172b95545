"""Members from modern.gov: ``mgWebService.asmx/GetCouncillorsByWard``, all or nothing.

The answer lists wards, each with its councillors::

    <councillorsbyward><wards><ward><wardtitle>Central</wardtitle><councillors>
      <councillor><councillorid>7377</councillorid>
        <fullusername>Councillor Jane Example</fullusername>
        <workaddress><email>jane@example.invalid</email></workaddress> …

Like the meetings import: XML only through defusedxml (no entity expansion, nothing fetched),
element names compared case-insensitively with namespaces and wrappers looked through, and
the whole document checked before anything is written. Every problem is reported with its
line, so IT can fix the source (or tell the council's modern.gov team) in one go. Importing
the same roster twice changes nothing. Home addresses and phone numbers are never read.
"""

from __future__ import annotations

import re
import xml.sax
from dataclasses import dataclass, field
from typing import Any

import defusedxml.sax
from defusedxml import DefusedXmlException
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit.service import record
from api.errors import Invalid
from api.meetings.sources.model import SourceError, clean_text
from api.meetings.sources.moderngov import check_answer, fetch
from monitor.store.models import Member
from monitor.store.revision import bump_revision

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ID = re.compile(r"[0-9]{1,12}")
MAX_BYTES = 8 * 1024 * 1024
MAX_ERRORS = 100
MAX_DEPTH = 64


@dataclass
class _Node:
    name: str
    line: int
    text: list[str] = field(default_factory=list)
    children: list[_Node] = field(default_factory=list)

    def child(self, *names: str) -> _Node | None:
        return next((c for c in self.children if c.name in names), None)

    def value(self, *names: str) -> str:
        c = self.child(*names)
        return clean_text("".join(c.all_text())) if c is not None else ""

    def all_text(self) -> list[str]:
        out, stack = [], [self]
        while stack:
            n = stack.pop()
            out.extend(n.text)
            stack.extend(reversed(n.children))
        return out


class _Builder(xml.sax.handler.ContentHandler):
    """A light tree with each element's line (ElementTree keeps no line numbers)."""

    def __init__(self) -> None:
        super().__init__()
        self.root: _Node | None = None
        self.stack: list[_Node] = []
        self.locator: Any = None

    def setDocumentLocator(self, locator: Any) -> None:  # noqa: N802 - SAX's name
        self.locator = locator

    def startElement(self, name: str, attrs: Any) -> None:  # noqa: N802
        if len(self.stack) >= MAX_DEPTH:
            raise SourceError(f"elements nested deeper than {MAX_DEPTH}",
                              where=f"line {self.locator.getLineNumber()}")
        node = _Node(name.rsplit(":", 1)[-1].lower(), self.locator.getLineNumber())
        if self.stack:
            self.stack[-1].children.append(node)
        else:
            self.root = node
        self.stack.append(node)

    def endElement(self, name: str) -> None:  # noqa: N802
        self.stack.pop()

    def characters(self, content: str) -> None:
        if self.stack:
            self.stack[-1].text.append(content)


@dataclass(frozen=True, slots=True)
class Councillor:
    moderngov_id: str
    name: str
    email: str | None
    ward: str
    line: int


def _tree(data: bytes) -> _Node:
    if len(data) > MAX_BYTES:
        raise SourceError(f"the document is larger than {MAX_BYTES} bytes")
    b = _Builder()
    try:
        defusedxml.sax.parseString(data, b, forbid_dtd=False, forbid_entities=True,
                                   forbid_external=True)
    except DefusedXmlException as exc:
        raise SourceError(f"the XML uses a construct refused for safety ({type(exc).__name__}); "
                          "nothing was expanded or fetched") from exc
    except xml.sax.SAXParseException as exc:
        raise SourceError(f"the XML is malformed ({exc.getMessage()})",
                          where=f"line {exc.getLineNumber()}, column {exc.getColumnNumber()}"
                          ) from exc
    except (xml.sax.SAXException, ValueError, LookupError) as exc:
        raise SourceError(f"the XML cannot be read: {exc}") from exc
    if b.root is None:
        raise SourceError("the document is empty")
    return b.root


def _answer(root: _Node) -> _Node:
    frontier = [root]
    for _ in range(5):
        for n in frontier:
            if n.name == "councillorsbyward":
                return n
        frontier = [c for n in frontier for c in n.children]
    if root.name == "html":
        raise SourceError("the document is HTML, not modern.gov XML")
    raise SourceError(f"unexpected XML root <{root.name}>: not a GetCouncillorsByWard answer",
                      where=f"line {root.line}")


def parse_roster(data: bytes) -> list[Councillor]:
    """Every councillor, or SourceError listing every problem by line (``details``)."""
    answer = _answer(_tree(data))
    out: dict[str, Councillor] = {}
    errors: list[str] = []
    wards = [w for ws in answer.children if ws.name == "wards" for w in ws.children
             if w.name == "ward"] + [w for w in answer.children if w.name == "ward"]
    for ward in wards:
        title = ward.value("wardtitle")
        people = [c for cs in ward.children if cs.name == "councillors" for c in cs.children
                  if c.name == "councillor"] + [c for c in ward.children if c.name == "councillor"]
        for c in people:
            where = f"line {c.line}"
            cid = c.value("councillorid")
            name = c.value("fullusername")
            work = c.child("workaddress")
            email = (work.value("email") if work is not None else "") or c.value("email")
            if not _ID.fullmatch(cid):
                errors.append(f"{where}: <councillorid> {cid!r} is not a modern.gov id")
                continue
            if not name:
                errors.append(f"{where}: councillor {cid} has no <fullusername>")
                continue
            if len(name) > 200:
                errors.append(f"{where}: councillor {cid}'s name is longer than 200 characters")
                continue
            if email and (len(email) > 320 or not _EMAIL.match(email)):
                errors.append(f"{where}: councillor {cid}'s email {email!r} is not an address")
                continue
            got = Councillor(cid, name, email or None, title, c.line)
            first = out.get(cid)
            if first is None:
                out[cid] = got
            elif (first.name, first.email) != (got.name, got.email):
                errors.append(f"{where}: councillor {cid} is listed again (line {first.line}) "
                              "with another name or email")
    if errors:
        raise _many(errors)
    if not out:
        raise SourceError("the answer lists no councillors")
    return list(out.values())


def _many(errors: list[str]) -> SourceError:
    shown = errors[:MAX_ERRORS]
    more = f" (and {len(errors) - MAX_ERRORS} more)" if len(errors) > MAX_ERRORS else ""
    err = SourceError(f"{len(errors)} problem{'s' if len(errors) != 1 else ''} in the roster"
                      f"{more}: {shown[0]}" + ("; …" if len(shown) > 1 else ""))
    err.details = shown  # type: ignore[attr-defined]
    return err


def fetch_roster(base_url: str, *, timeout: float = 10.0) -> list[Councillor]:
    """GET ``<site>/mgWebService.asmx/GetCouncillorsByWard`` and parse it."""
    base = base_url.strip().rstrip("/")
    if base.lower().endswith("/mgwebservice.asmx"):
        base = base[: -len("/mgwebservice.asmx")]
    if not base.lower().startswith(("http://", "https://")):
        raise SourceError(f"modern.gov base URL must be http(s): {base_url!r}")
    url = f"{base}/mgWebService.asmx/GetCouncillorsByWard"
    body = check_answer(fetch(url, timeout=timeout, max_bytes=MAX_BYTES),
                        expected="modern.gov XML")
    try:
        return parse_roster(body)
    except SourceError as exc:
        raise exc.within(url) from exc


@dataclass(frozen=True, slots=True)
class RosterResult:
    created: list[str]
    updated: list[str]
    unchanged: int
    not_in_roster: list[str]  # members IT added by hand or who left: never touched here
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "not_in_roster": self.not_in_roster, "dry_run": self.dry_run}


def import_roster(s: Session, *, councillors: list[Councillor], actor: str,
                  dry_run: bool = False) -> RosterResult:
    """Upsert by modern.gov id (or, the first time, by the exact name IT typed). Checked
    whole first: a name already used by another member is an error, nothing is written."""
    members = list(s.execute(select(Member)).scalars())
    by_id = {m.moderngov_id: m for m in members if m.moderngov_id}
    by_name = {m.name: m for m in members}
    plan: list[tuple[Councillor, Member | None]] = []
    errors = []
    claimed: set[int] = set()
    for c in councillors:
        m = by_id.get(c.moderngov_id)
        if m is None:
            m = by_name.get(c.name)
            if m is not None and m.moderngov_id not in (None, c.moderngov_id):
                errors.append(f"line {c.line}: {c.name!r} is already a member linked to "
                              f"modern.gov councillor {m.moderngov_id}")
                continue
        else:
            other = by_name.get(c.name)
            if other is not None and other is not m:
                errors.append(f"line {c.line}: another member is already called {c.name!r}")
                continue
        if m is not None:
            if m.id in claimed:
                errors.append(f"line {c.line}: {c.name!r} matches a member already matched")
                continue
            claimed.add(m.id)
        plan.append((c, m))
    if errors:
        raise Invalid(f"Nothing imported: {len(errors)} problem(s) in the roster",
                      details=errors[:MAX_ERRORS])
    created, updated, unchanged = [], [], 0
    for c, m in plan:
        if m is None:
            created.append(c.name)
            if not dry_run:
                m = Member(name=c.name, email=c.email, moderngov_id=c.moderngov_id)
                s.add(m)
                s.flush()
                record(s, actor=actor, action="import", entity="member", entity_id=m.id,
                       after={"name": c.name, "email": c.email,
                              "moderngov_id": c.moderngov_id})
            continue
        before = {"name": m.name, "email": m.email, "moderngov_id": m.moderngov_id}
        after = {"name": c.name, "email": c.email or m.email, "moderngov_id": c.moderngov_id}
        if before == after:
            unchanged += 1
            continue
        updated.append(c.name)
        if not dry_run:
            m.name, m.email, m.moderngov_id = c.name, after["email"], c.moderngov_id
            s.flush()
            record(s, actor=actor, action="import", entity="member", entity_id=m.id,
                   before=before, after=after)
    if (created or updated) and not dry_run:
        bump_revision(s)
    listed = {m.id for _, m in plan if m is not None}
    missing = sorted(m.name for m in members if m.id not in listed)
    return RosterResult(created, updated, unchanged, missing, dry_run)
