"""The CLI speaks UK time and hands IT what a member needs (issue 21): ``meetings list`` in
London wall-clock time with the zone named, ``member code`` with a UK expiry and the
chamber-side registration address, and ``check`` as a green/red list with an exit status."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from tests.cli.test_replay_explain import config, run


def test_meetings_list_and_member_code_in_uk_time(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    assert run(cfg, "meetings", "add", "--title", "Full Council", "--start",
               "2026-07-01T19:00", "--end", "2026-07-01T22:00").returncode == 0
    out = run(cfg, "meetings", "list").stdout
    assert re.search(r"Wed 01 Jul 2026 19:00–22:00 BST\s+\S+\s+Full Council", out), out
    assert run(cfg, "member", "add", "Cllr Ada Lovelace").returncode == 0
    r = run(cfg, "member", "code", "Cllr Ada Lovelace")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    offset = datetime.fromisoformat(doc["expires_at"]).utcoffset()
    assert offset is not None and offset.total_seconds() in (0, 3600)  # GMT or BST
    assert doc["address"] == "http://198.51.100.1:8080/register"


def test_check_prints_a_list_and_fails_without_a_gate(tmp_path: Path) -> None:
    """``check`` asks the room's gate through the database; with no gate running nobody
    answers, and it says so within seconds (tests/netns/test_check.py runs it with one)."""
    r = run(config(tmp_path), "check")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "PROBLEM  Gate: No gate for room 'chamber' picked up the check" in r.stdout
    assert r.stdout.rstrip().endswith("Not ready")
