"""CSV import of devices: all or nothing, every error reported with its line number.

IT pastes a spreadsheet export; one bad row must not leave half the chamber registered, and
the answer must say which lines to fix (``line 7: 'zz:zz' is not a MAC address``) in one go.
Columns (header row required, any order, case-insensitive): ``mac`` (required), ``member``
(the member's name; empty = known but unregistered), ``label``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from allowlist.macs import MacError, normalise_mac
from api.audit.service import record
from api.devices.service import register_device
from api.errors import Invalid
from monitor.store.models import Device, Member

COLUMNS = frozenset({"mac", "member", "label"})
MAX_ROWS = 10_000
MAX_CHARS = 2 * 1024 * 1024
MAX_ERRORS_SHOWN = 100


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    mac: str
    member_id: int | None
    label: str


def _parse(s: Session, text: str) -> tuple[list[Row], list[str]]:
    errors: list[str] = []
    if len(text) > MAX_CHARS:
        return [], [f"line 1: the file is larger than {MAX_CHARS // 1024} KiB; split it"]
    # strict: an unclosed quote is an error, not a field that swallows the following rows
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), strict=True)  # Excel writes a BOM
    try:
        header = next(reader)
    except StopIteration:
        return [], ["line 1: the file is empty; expected a header row such as mac,member,label"]
    except csv.Error as exc:
        return [], [f"line 1: {exc}"]
    names = [h.strip().lower() for h in header]
    unknown = [h for h in names if h not in COLUMNS]
    if unknown or "mac" not in names or len(set(names)) != len(names):
        return [], [f"line 1: the header must name the columns mac, member, label (member and "
                    f"label optional, each once); got {', '.join(header) or 'nothing'}"]
    members = {m.name: m.id for m in s.execute(select(Member)).scalars()}
    owners = {d.mac: d.member_id for d in s.execute(select(Device)).scalars()}
    seen: dict[str, int] = {}
    rows: list[Row] = []
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(f"line {start}: {exc} (is a quote left open?)")
            break
        line = reader.line_num
        if line != start:
            # No column may hold a line break: a record over several lines is a quote left
            # open that took the next rows with it — every one of them would be lost.
            errors.append(f"line {start}: a quoted cell runs on to line {line}; "
                          f"is a closing quote missing?")
            continue
        if not any(c.strip() for c in cells):
            continue
        bad = next((c for c in cells if any(ord(ch) < 32 or ord(ch) == 127 for ch in c)), None)
        if bad is not None:
            errors.append(f"line {line}: a cell holds a control character")
            continue
        if len(rows) >= MAX_ROWS:
            errors.append(f"line {line}: more than {MAX_ROWS} devices; split the file")
            break
        if len(cells) != len(names):
            errors.append(f"line {line}: expected {len(names)} columns, found {len(cells)}")
            continue
        row = dict(zip(names, (c.strip() for c in cells), strict=True))
        try:
            mac = normalise_mac(row["mac"])
        except MacError as exc:
            errors.append(f"line {line}: {exc}")
            continue
        member_name = " ".join(row.get("member", "").split())
        member_id = None
        if member_name:
            member_id = members.get(member_name)
            if member_id is None:
                errors.append(f"line {line}: no member called {member_name!r}")
                continue
        label = row.get("label", "")
        if len(label) > 200:
            errors.append(f"line {line}: label is longer than 200 characters")
            continue
        if mac in seen:
            errors.append(f"line {line}: {mac} is already on line {seen[mac]}")
            continue
        seen[mac] = line
        owner = owners.get(mac)
        if owner is not None and member_id is not None and owner != member_id:
            errors.append(f"line {line}: {mac} is registered to another member; revoke it first")
            continue
        rows.append(Row(line, mac, member_id, label))
    return rows, errors


def import_devices(s: Session, *, text: str, dry_run: bool = False,
                   actor: str) -> dict[str, object]:
    """Validate every line first; write only if all are good. 422 lists each bad line."""
    rows, errors = _parse(s, text)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise Invalid(f"nothing imported: {errors[0]}{more}",
                      details=errors[:MAX_ERRORS_SHOWN])
    owners = {mac: owner for mac, owner in s.execute(select(Device.mac, Device.member_id))}
    created = sum(1 for r in rows if r.mac not in owners)
    summary: dict[str, object] = {"rows": len(rows), "created": created,
                                  "updated": len(rows) - created, "dry_run": dry_run}
    if dry_run:
        return summary
    for r in rows:
        # An empty member cell never unbinds a registered device: that is what revoke is for.
        member_id = r.member_id if r.member_id is not None else owners.get(r.mac)
        register_device(s, mac=r.mac, member_id=member_id, label=r.label, actor=actor)
    record(s, actor=actor, action="import", entity="device", after=summary)
    return summary
