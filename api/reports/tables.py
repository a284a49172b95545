"""The report as CSV: one table, one row per fact (``record`` says what the row is), and a
meeting's per-lookup CSV. Times are the document's: ISO 8601 in UK time (Europe/London) with
the offset, and the ``meta`` rows name the zone."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from api.reports.times import ZONE
from monitor.csvout import write_csv

_FORMULA = ("=", "+", "-", "@", "\t", "\r")
# Every time in these files is UK time: ISO 8601 in Europe/London with its offset, and the
# headers of time columns name the zone (the meta rows of the report CSV name it too).
CSV_HEAD = ("record", "name", "device", "platform", "episodes", "lookups", "bypass_attempts",
            "other_refused", f"first ({ZONE})", f"last ({ZONE})", "detail", "likely_opened")


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


LOOKUPS_HEAD = (f"time ({ZONE})", "device", "member", "name", "platform", "kind", "verdict",
                "channel", "episode", "event_id")


def lookups_csv(doc: dict[str, Any]) -> bytes:
    """One row per lookup of the meeting (platform lookups and uses of another DNS service),
    time in UK time with its offset, the episode number as in the report."""
    if "lookups" not in doc:
        raise ValueError("the lookups CSV is made for a meeting report")
    return write_csv(LOOKUPS_HEAD, ((r["at"], r["device"], r["member"], r["name"],
                                     r["platform"], r["kind"], r["verdict"], r["channel"],
                                     r["episode"], r["id"]) for r in doc["lookups"]))
