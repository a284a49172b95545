"""What the report says beyond the numbers: method and limits from the real settings, the
mode from the audit trail, sessions from the schedule when the clerk did not act, outages
without a recorded end, presence from a device's last sighting, the SVG timelines, and the
member export from the command line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.meetings.service import create_meeting
from api.reports import service
from api.site.service import set_mode
from dashboard.main.cli import main
from dashboard.reports import render, timeline
from monitor.events import EventAction, EventKind, EventRecord, store_now
from monitor.health import Component
from monitor.incidents import open_outage
from monitor.store.models import AuditRow, Device
from tests.reports.seed import ADA, NOW, at, seed_golden


def _texts(doc: dict[str, Any]) -> dict[str, str]:
    return {m["title"]: m["text"] for m in doc["method"]}


def test_method_and_limits_come_from_the_settings(tmp_path: Path) -> None:
    g = seed_golden(tmp_path, extra='[policy]\nepisode_gap_minutes = 7\ngrace_minutes = 9\n'
                                   '[retention]\nevents_days = 90\n')
    g.settings.site.topology = "resolver-only"
    doc = service.build(db=g.db, settings=g.settings, kind="meeting", actor="t",
                        meeting_id=g.ids["meeting"],
                        now=NOW)
    t = _texts(doc)
    assert "less than 7 minutes" in t["What counts as an episode"]
    assert "episode_gap_minutes = 7" in t["What counts as an episode"]
    assert "9 minutes" in t["When a record counts for this meeting"]
    opened = t["Likely opened or likely background"]
    assert "at least 4 different host names" in opened and "within 30 seconds" in opened
    assert "opened_min_hosts = 4" in opened and "Limits:" in opened
    assert all("`" not in m["text"] for m in doc["method"])  # no markup artefacts
    assert "mobile data" in t["What was monitored"] and '"chamber"' in t["What was monitored"]
    assert t["Deployment"].startswith("Resolver only.")
    assert "background" in t["Background traffic"]
    assert "registration" in t["Attribution"]
    assert "90 days" in t["Retention"]
    assert "enforce" in t["Mode"] and "15 were refused" in t["Mode"]
    # a 7-minute gap joins the two episodes 2 minutes apart (18:20, 18:22), not 18:11-18:20
    ada = next(m for m in doc["members"] if m["name"] == ADA)
    assert [(p["name"], p["episodes"], p["lookups"]) for p in ada["platforms"]] == [
        ("Instagram", 2, 5), ("TikTok", 1, 2)]
    g.db.dispose()


def test_mode_in_force_comes_from_the_audit_trail(tmp_path: Path) -> None:
    g = seed_golden(tmp_path)
    with g.db.session() as s:
        set_mode(s, mode="monitor-only", settings=g.settings, actor="it")
        for a in s.query(AuditRow).filter(AuditRow.action == "set-mode"):
            a.ts = at(19, 30)  # switched during the second session
    doc = service.build(db=g.db, settings=g.settings, kind="meeting", actor="t",
                        meeting_id=g.ids["meeting"],
                        now=NOW)
    cond = doc["conditions"]
    assert cond["mode_at_start"] == "enforce"
    assert cond["mode_changes"] == [{"at": "2026-06-10T20:30:00+01:00", "from": "enforce",
                                     "to": "monitor-only", "by": "it"}]
    assert "changed during the meeting" in _texts(doc)["Mode"]
    g.db.dispose()


def test_schedule_decides_without_the_clerk_and_presence_lists_a_quiet_member(
        tmp_path: Path) -> None:
    g = seed_golden(tmp_path)
    with g.db.session() as s:
        m = create_meeting(s, title="Cabinet", start=datetime(2026, 1, 14, 18, tzinfo=UTC),
                           end=datetime(2026, 1, 14, 20, tzinfo=UTC), room="chamber",
                           actor="t")
        mid = m.id
        ipad = s.get(Device, g.ids["ipad"])
        assert ipad is not None
        ipad.last_seen = datetime(2026, 1, 14, 19, tzinfo=UTC)
    store_now(g.db, [EventRecord(datetime(2026, 1, 14, 18, 30, tzinfo=UTC), EventKind.OUTAGE,
                                 EventAction.OBSERVED, room="chamber",
                                 detail="gate service stopped; the chamber failed open")])
    with g.db.session() as s:  # what the service stop records (guard.record_outage): still open
        open_outage(s, "chamber", Component.GATE, datetime(2026, 1, 14, 18, 30, tzinfo=UTC),
                    "gate service stopped; the chamber failed open")
    now = datetime(2026, 1, 14, 21, tzinfo=UTC)
    doc = service.build(db=g.db, settings=g.settings, kind="meeting", actor="t", meeting_id=mid,
                        now=now)
    mt = doc["meeting"]
    assert mt["session_source"] == "schedule" and mt["actual_start"] is None
    assert mt["sessions"] == [{"start": "2026-01-14T17:55:00+00:00",  # GMT: London = UTC
                               "end": "2026-01-14T20:05:00+00:00", "minutes": 130}]
    gate = doc["conditions"]["gate"]
    assert gate["outages"][0]["end_recorded"] is False
    assert gate["outage_minutes"] == 95 and gate["uptime_percent"] == round(100 * 35 / 130, 1)
    (ada,) = doc["members"]
    assert ada["name"] == ADA and ada["episodes"] == 0
    assert ada["devices"][0]["evidence"] == ["last seen on the chamber Wi-Fi during the meeting"]
    html = render.html(doc).decode()
    assert "no clerk actions: the schedule ± 5 min applied" in html
    assert "<svg" not in html  # no contacts: no timeline
    g.db.dispose()


def test_timeline_svg_uses_presentation_attributes_only(tmp_path: Path) -> None:
    g = seed_golden(tmp_path)
    doc = service.build(db=g.db, settings=g.settings, kind="meeting", actor="t",
                        meeting_id=g.ids["meeting"],
                        now=NOW)
    ada = next(m for m in doc["members"] if m["name"] == ADA)
    tl = timeline.member_timeline(doc, ada)
    assert tl is not None
    assert len([r for r in tl.marks if r.cls == "tl-episode"]) == 4
    assert len([r for r in tl.marks if r.cls == "tl-bypass"]) == 1
    assert [b.cls for b in tl.bands] == ["tl-session", "tl-session", "tl-outage"]
    assert all(tl.plot_left <= r.x <= tl.plot_right for r in tl.marks)
    assert tl.title.startswith(f"Timeline for {ADA}: Instagram: 3 episodes; TikTok: 1 episode")
    assert [t.label for t in tl.ticks][:2] == ["19:00", "19:30"]  # London, half-hourly
    html = render.html(doc).decode()
    svg = html[html.index("<svg"):html.index("</svg>")]
    assert " style=" not in svg and 'fill="#' in svg and "<title" in svg
    g.db.dispose()


def test_member_export_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    g = seed_golden(tmp_path)
    cfg = str(tmp_path / "chamberguard.toml")
    out = tmp_path / "ada.json"
    assert main(["--config", cfg, "member", "export", ADA, "--format", "json", "-o",
                 str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["counts"] == {"devices": 2, "events": 8, "episodes": 4, "audit": 3}
    assert main(["--config", cfg, "member", "export", "Grace", "--format", "csv"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("section,id,when (Europe/London),what,data")
    assert "Cllr Grace Hopper" in text
    assert main(["--config", cfg, "member", "export", "Nobody"]) == 2
    assert "no member 'Nobody'" in capsys.readouterr().err
    assert main(["--config", cfg, "member", "export", "Cllr"]) == 2  # ambiguous
    g.db.dispose()


def test_a_meeting_report_made_during_the_meeting(tmp_path: Path) -> None:
    g = seed_golden(tmp_path)
    doc = service.build(db=g.db, settings=g.settings, kind="meeting", actor="t",
                        meeting_id=g.ids["meeting"],
                        now=at(18, 45))
    mt = doc["meeting"]
    assert mt["sessions"][-1]["end"] == "2026-06-10T19:45:00+01:00"
    assert mt["in_session_at_report"] is True and mt["in_session_minutes"] == 43
    assert doc["totals"]["episodes"] == 6  # events are as stored; the report is as of now
    g.db.dispose()


def test_unknown_subjects(tmp_path: Path) -> None:
    g = seed_golden(tmp_path)
    with pytest.raises(service.NotFound):
        service.build(db=g.db, settings=g.settings, kind="meeting", actor="t", meeting_id=424242)
    lo, hi = service.period("2026-06-01", "2026-06-30")
    with pytest.raises(service.NotFound):
        service.build(db=g.db, settings=g.settings, kind="member", actor="t", member="Nobody",
                      since=lo,
                      until=hi)
    assert hi - lo == timedelta(days=30)
    assert lo == datetime(2026, 5, 31, 23, tzinfo=UTC)  # London midnight in BST
    g.db.dispose()


@pytest.mark.parametrize("topology", ["inline", "mirror"])
def test_sensor_outage_is_downtime_only_where_it_is_the_only_source(
    tmp_path: Path, topology: str
) -> None:
    """Issue #18: read from typed incident columns — the cause's words do not matter."""
    from monitor.incidents import IncidentKind, IncidentNote, write_incidents

    g = seed_golden(tmp_path, extra=f'topology = "{topology}"')
    with g.db.session() as s:
        write_incidents(s, "chamber", [IncidentNote(
            IncidentKind.OUTAGE, Component.SENSOR, at(19, 20), at(19, 30),
            "killed by signal 9; any words at all")])
    doc = service.build(db=g.db, settings=g.settings, kind="meeting", actor="t",
                        meeting_id=g.ids["meeting"],
                        now=NOW)
    gate = doc["conditions"]["gate"]
    parts = {c["component"]: c for c in doc["conditions"]["components"]}
    assert parts["sensor"]["minutes_in_session"] == 10 and parts["sensor"]["outages"] == 1
    assert parts["events"]["outages"] == 0
    assert ("gate" in parts) is (topology != "mirror")
    html = render.html(doc).decode()
    assert "Passive sensor: 10 min down in session" in html
    if topology == "mirror":
        assert gate["outage_minutes"] == 15 and len(gate["outages"]) == 2
        assert gate["outages"][0]["detail"] == "Passive sensor: killed by signal 9; any words " \
            "at all"
    else:
        assert gate["outage_minutes"] == 5 and len(gate["outages"]) == 1
        assert "Passive sensor down: killed by signal 9; any words at all" in [
            i["detail"] for i in gate["incidents"]]


def test_policy_changes_and_a_rule_allowing_a_platform_are_in_the_report(
        tmp_path: Path) -> None:
    """Conditions as they were: a rule allowing Instagram added during the meeting (after an
    explicit confirmation), a device registered mid-meeting, the mode switched — each listed
    with who and when, the rule flagged, the device marked."""
    from api.devices.service import register_device
    from api.rules.service import ConfirmationNeeded, create_rule

    g = seed_golden(tmp_path)
    with g.db.session() as s:
        try:
            create_rule(s, domain="instagram.com", category="webcast", actor="it-officer")
        except ConfirmationNeeded as exc:
            effect = exc.details["effect"]
        else:  # pragma: no cover - the point of the test
            raise AssertionError("a rule allowing Instagram must ask first")
        create_rule(s, domain="instagram.com", category="webcast", actor="it-officer",
                    confirm_effect=effect)
        d = register_device(s, mac="02:00:5e:10:00:09", member_id=g.ids["ada"], label="Tablet",
                            actor="it-officer")
        set_mode(s, mode="monitor-only", settings=g.settings, actor="it-officer")
        for a in s.query(AuditRow).filter(AuditRow.actor == "it-officer"):
            a.ts = at(19, 30)  # all inside the meeting's window
        from monitor.store.models import RuleRow
        for r in s.query(RuleRow):
            r.created_at = at(19, 30)
    store_now(g.db, [EventRecord(at(19, 35), EventKind.ATTEMPT, EventAction.REFUSED,
                                 room="chamber", mac="02:00:5e:10:00:09", device_id=d.id,
                                 member_id=g.ids["ada"], meeting_id=g.ids["meeting"],
                                 domain="x.com", platform="x", category="platform")])
    doc = service.build(db=g.db, settings=g.settings, kind="meeting", actor="t",
                        meeting_id=g.ids["meeting"],
                        now=NOW)
    cond = doc["conditions"]
    changes = [(c["at"], c["by"], c["text"]) for c in cond["policy_changes"]]
    assert ("2026-06-10T20:30:00+01:00", "it-officer",
            "create: rule for instagram.com (webcast)") in changes
    assert any(t.startswith("register: device Tablet") for _, _, t in changes)
    assert any(t == "set-mode: site mode enforce → monitor-only" for _, _, t in changes)
    rule_change = next(c for c in cond["policy_changes"] if c["entity"] == "rule")
    assert rule_change["effect"] == effect and "Instagram" in effect
    assert [r["domain"] for r in cond["rules_allowing_platforms"]] == ["instagram.com"]
    assert "Changes during the meeting" in _texts(doc)
    ada = next(m for m in doc["members"] if m["name"] == ADA)
    tablet = next(x for x in ada["devices"] if x["label"] == "Tablet")
    assert tablet["registered_during_meeting"] is True
    html = render.html(doc).decode()
    assert "Rules allowing a social platform or a public suffix were active" in html
    assert "(registered during the meeting)" in html
    g.db.dispose()
