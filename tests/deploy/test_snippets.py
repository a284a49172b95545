"""DHCP, AP and reverse-proxy snippets: valid where a validator exists, and saying what matters."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from monitor.doctor import check_dhcp, dnsmasq_dns_servers, kea_dns_servers
from monitor.settings import load_settings
from tests.deploy.conftest import DEPLOY

INLINE = DEPLOY / "config" / "inline.toml"
STREAM = "/api/v1/events/stream"


def dnsmasq() -> str | None:
    return shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if Path("/usr/sbin/dnsmasq").exists()
                                       else None)


@pytest.mark.skipif(dnsmasq() is None, reason="dnsmasq is not installed (dnsmasq-base)")
def test_dnsmasq_snippet_passes_dnsmasq_syntax_check() -> None:
    exe = dnsmasq()
    assert exe is not None
    p = subprocess.run([exe, "--test", f"--conf-file={DEPLOY / 'dhcp' / 'dnsmasq-chamber.conf'}"],
                       capture_output=True, text=True, timeout=20, check=False)
    assert p.returncode == 0 and "syntax check OK" in (p.stdout + p.stderr), p.stderr


def test_dhcp_snippets_hand_out_the_gate_as_resolver() -> None:
    settings = load_settings(INLINE, env={})
    gate = settings.chamber.gate_address
    text = (DEPLOY / "dhcp" / "dnsmasq-chamber.conf").read_text()
    servers, serves = dnsmasq_dns_servers(text)
    assert serves and servers == [gate]
    assert re.search(r"^port=0$", text, re.M), "dnsmasq must leave port 53 to the gate"
    assert kea_dns_servers((DEPLOY / "dhcp" / "kea-dhcp4.conf").read_text()) == [gate]
    for name in ("dnsmasq-chamber.conf", "kea-dhcp4.conf"):
        c = check_dhcp(settings, [str(DEPLOY / "dhcp" / name)])
        assert c.status == "ok", c


def test_hostapd_snippet_bridges_onto_the_chamber_and_isolates_clients() -> None:
    text = (DEPLOY / "hostapd" / "hostapd-chamber.conf").read_text()
    keys = dict(ln.split("=", 1) for ln in text.splitlines() if ln and not ln.startswith("#"))
    assert keys["bridge"] and keys["ap_isolate"] == "1" and "SAE" in keys["wpa_key_mgmt"]


def _block(text: str, opener: str) -> str:
    """The brace block that follows ``opener``."""
    start = text.index(opener)
    i = text.index("{", start)
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j + 1]
    raise AssertionError(f"unbalanced block after {opener}")


def test_the_live_feed_path_is_the_apps() -> None:
    from api.events.routes import events_router

    assert STREAM in {getattr(r, "path", "") for r in events_router.routes}


def test_nginx_serves_the_live_feed_unbuffered() -> None:
    text = (DEPLOY / "proxy" / "nginx-chamberguard.conf").read_text()
    assert text.count("{") == text.count("}")
    sse = _block(text, f"location = {STREAM}")
    for directive in ("proxy_buffering off;", "proxy_cache off;", "gzip off;"):
        assert directive in sse, directive
    assert re.search(r"proxy_read_timeout\s+1h;", sse)
    assert "proxy_pass http://chamberguard_web;" in sse and "server 127.0.0.1:8000;" in text
    assert "X-Forwarded-Proto" in text and "listen 443 ssl;" in text


def test_caddy_flushes_the_live_feed_and_never_compresses_it() -> None:
    text = (DEPLOY / "proxy" / "Caddyfile").read_text()
    assert text.count("{") == text.count("}")
    sse = _block(text, f"handle {STREAM}")
    assert "flush_interval -1" in sse and "encode" not in sse
    assert "reverse_proxy 127.0.0.1:8000" in sse
