"""Issue #18: every supervised part of the monitor is shown with its typed state on the
clerk's page and IT's readiness list; a monitor that is not recording says so prominently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from monitor.health import Component, ComponentHealth, State
from tests.dashboard.conftest import Site
from tests.dashboard.seed import heartbeat


def components(sensor: State, why: str = "") -> dict[str, dict[str, str]]:
    since = datetime.now(UTC) - timedelta(minutes=3)
    parts = {Component.GATE: State.UP, Component.FIREWALL: State.UP, Component.SENSOR: sensor,
             Component.EVENTS: State.UP, Component.SPOOL: State.UP,
             Component.MEETING_SYNC: State.OFF}
    return {str(c): ComponentHealth(c, st, since, why if c is Component.SENSOR else "")
            .as_json() for c, st in parts.items()}


def test_clerk_page_shows_each_part_and_a_dead_sensor(site: Site) -> None:
    heartbeat(site.seeded.db, components=components(State.DOWN, "killed by signal 9"))
    c = site.login("clerk")
    for path in ("/", "/live/fragment"):
        html = c.get(path).text
        assert 'data-component="sensor" data-state="down"' in html
        assert "killed by signal 9" in html
        assert 'data-component="gate" data-state="up"' in html
        # Inline: the gate still records DNS, so this is not "not recording".
        assert "NOT RECORDING" not in html


def test_mirror_with_sensor_down_is_not_recording(site: Site) -> None:
    from dashboard.app import create_app

    base = site.seeded.settings
    settings = base.model_copy(update={"site": base.site.model_copy(
        update={"topology": "mirror"})})
    heartbeat(site.seeded.db, components=components(State.DOWN, "killed by signal 9"))
    app = create_app(settings, site.seeded.db)
    c = Site(site.seeded, TestClient(app, follow_redirects=False)).login("clerk")
    html = c.get("/").text
    assert "NOT RECORDING" in html and "data-health-alert" in html
    heartbeat(site.seeded.db, components=components(State.UP))
    assert "NOT RECORDING" not in c.get("/live/fragment").text


def test_stale_heartbeat_shows_every_part_down(site: Site) -> None:
    heartbeat(site.seeded.db, components=components(State.UP),
              at=datetime.now(UTC) - timedelta(minutes=5))
    html = site.login("clerk").get("/").text
    assert 'data-component="sensor" data-state="down"' in html
    assert "NOT RECORDING: the DNS gate is down" in html


def test_readiness_lists_the_sensor(site: Site) -> None:
    heartbeat(site.seeded.db, components=components(State.DOWN, "exited with status 1"))
    html = site.login("it").get("/").text
    assert "Passive sensor" in html and "Down: exited with status 1" in html
