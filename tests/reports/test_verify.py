"""`report verify`: an untouched report passes in every format; one altered figure, an
edited signature block, a cut-off signature or another key's signature fails, with the
reason. The CLI returns 0/1 accordingly."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.reports import formats, service, signing
from dashboard.main.cli import main
from dashboard.reports import render
from tests.reports.seed import NOW, Golden, seed_golden


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Golden, dict[str, bytes]]]:
    g = seed_golden(tmp_path_factory.mktemp("verify"))
    doc = service.build(db=g.db, settings=g.settings, kind="meeting", actor="officer",
                        meeting_id=g.ids["meeting"], now=NOW)
    yield g, {fmt: service.issue(db=g.db, settings=g.settings, doc=doc, fmt=fmt, actor="officer",
                            render=render.body)
              for fmt in formats.FORMATS}
    g.db.dispose()


def _verify(g: Golden, data: bytes) -> service.Verification:
    return service.verify_file(data=data, settings=g.settings)


def _alter_figure(fmt: str, data: bytes) -> bytes:
    """Change Ada's lookups from 7 to 8 (PDF: one byte inside the content)."""
    if fmt == "html":
        old = b'<td class="num">4</td>\n      <td class="num">7</td>'
        assert data.count(old) == 1
        return data.replace(old, old.replace(b">7<", b">8<"))
    if fmt == "csv":
        old = b"member,Cllr Ada Lovelace,iPad (02:00:5e:10:00:01); iPhone (02:00:5e:10:00:02),,4,7,"
        assert data.count(old) == 1
        return data.replace(old, old.replace(b",4,7,", b",4,8,"))
    if fmt == "json":
        old = b'"background":4,"lookups":7,'
        assert data.count(old) == 1
        return data.replace(old, old.replace(b"7", b"8"))
    i = len(data) // 3
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


@pytest.mark.parametrize("fmt", formats.FORMATS)
def test_untouched_report_verifies(files: tuple[Golden, dict[str, bytes]], fmt: str) -> None:
    g, f = files
    v = _verify(g, f[fmt])
    assert v.ok and v.reason.startswith("intact"), v.reason


@pytest.mark.parametrize("fmt", formats.FORMATS)
def test_one_altered_figure_fails_as_altered_content(files: tuple[Golden, dict[str, bytes]],
                                                     fmt: str) -> None:
    g, f = files
    v = _verify(g, _alter_figure(fmt, f[fmt]))
    assert not v.ok
    assert v.reason.startswith("altered content"), v.reason


@pytest.mark.parametrize("fmt", formats.FORMATS)
def test_every_single_byte_matters(files: tuple[Golden, dict[str, bytes]], fmt: str) -> None:
    """A byte changed at a spread of positions — body or signature block — always fails."""
    g, f = files
    data = f[fmt]
    for i in range(0, len(data), max(1, len(data) // 40)):
        bad = data[:i] + bytes([data[i] ^ 0x20]) + data[i + 1:]
        if bad == data:
            continue
        assert not _verify(g, bad).ok, (fmt, i)
    assert not _verify(g, data + b" ").ok
    assert not _verify(g, b" " + data).ok


def test_an_edited_signature_block_is_a_bad_signature(
        files: tuple[Golden, dict[str, bytes]]) -> None:
    g, f = files
    data = f["csv"]
    body, block, _ = signing.split(data)
    block["subject"] = "Another meeting"
    forged = body + b"# chamberguard-signature " + json.dumps(block).encode() + b"\n"
    v = _verify(g, forged)
    assert not v.ok and v.reason.startswith("bad signature"), v.reason


def test_a_report_re_signed_with_another_key_is_refused(
        files: tuple[Golden, dict[str, bytes]]) -> None:
    g, f = files
    body, block, _ = signing.split(f["html"])
    other = Ed25519PrivateKey.generate()
    forged = signing.sign(body.replace(b">7<", b">8<"), fmt="html", key=other,
                          meta={k: block[k] for k in ("kind", "report_id", "subject",
                                                      "generated_at", "chain")})
    v = _verify(g, forged)
    assert not v.ok and v.reason.startswith("unknown key"), v.reason
    # Integrity alone (any key) still holds for that file, so the reason is the key.
    assert signing.verify(forged, None).ok


def test_a_missing_signature_is_reported(files: tuple[Golden, dict[str, bytes]]) -> None:
    g, f = files
    for fmt in ("html", "csv", "pdf"):
        body, _, _ = signing.split(f[fmt])
        v = _verify(g, body)
        assert not v.ok and v.reason.startswith("no signature"), (fmt, v.reason)
    v = _verify(g, b'{"report": {}}\n')
    assert not v.ok and "no signature" in v.reason


def test_the_key_is_made_once_with_0600(files: tuple[Golden, dict[str, bytes]]) -> None:
    g, _ = files
    d = signing.key_dir(g.settings.site.data_dir)
    key = d / signing.KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (d / signing.PUB_FILE).exists()
    k1 = signing.load_or_create_key(g.settings.site.data_dir)
    k2 = signing.load_or_create_key(g.settings.site.data_dir)
    assert signing.raw_public(k1.public_key()) == signing.raw_public(k2.public_key())
    os.chmod(key, 0o644)
    signing.load_or_create_key(g.settings.site.data_dir)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def _cli(g: Golden, *args: str) -> int:
    cfg = g.settings.site.data_dir / "chamberguard.toml"
    return main(["--config", str(cfg), *args])


def test_cli_report_and_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    g = seed_golden(tmp_path)
    out = tmp_path / "m.html"
    assert _cli(g, "report", str(g.ids["meeting"]), "--format", "html", "-o", str(out)) == 0
    assert out.read_bytes().startswith(b"<!doctype html>")
    assert _cli(g, "report", "verify", str(out)) == 0
    said = capsys.readouterr().out
    assert "OK: intact" in said and "register: issued" in said
    out.write_bytes(out.read_bytes().replace(b"Planning Committee", b"Planning Committe!", 1))
    assert _cli(g, "report", "verify", str(out)) == 1
    assert "altered content" in capsys.readouterr().err
    pub = signing.key_dir(g.settings.site.data_dir) / signing.PUB_FILE
    for fmt in ("csv", "json", "pdf"):
        f = tmp_path / f"m.{fmt}"
        assert _cli(g, "report", str(g.ids["meeting"]), "--format", fmt, "-o", str(f)) == 0
        assert _cli(g, "report", "verify", str(f), "--public-key", str(pub), "--json") == 0
        res: dict[str, Any] = json.loads(capsys.readouterr().out)
        assert res["ok"] and res["signature"]["format"] == fmt
    # member and site reports through the CLI
    f = tmp_path / "member.csv"
    assert _cli(g, "report", "member", "Grace", "--from", "2026-06-01", "--to", "2026-06-30",
                "--format", "csv", "-o", str(f)) == 0
    assert b"Cllr Grace Hopper" in f.read_bytes()
    f = tmp_path / "site.json"
    assert _cli(g, "report", "site", "--from", "2026-06-01", "--to", "2026-06-30",
                "--format", "json", "-o", str(f)) == 0
    assert json.loads(f.read_bytes())["report"]["totals"]["meetings"] == 2
    assert _cli(g, "report", "999", "--format", "json") == 2
    assert "no meeting 999" in capsys.readouterr().err
    assert _cli(g, "report", "site", "--format", "json") == 2
    g.db.dispose()


def test_verifying_elsewhere_needs_the_issuers_public_key(
        files: tuple[Golden, dict[str, bytes]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A third party's machine has no key of its own: verify says so (and makes none);
    with the issuer's public key the report verifies."""
    g, f = files
    report = tmp_path / "r.json"
    report.write_bytes(f["json"])
    cfg = tmp_path / "other.toml"
    cfg.write_text(f'[site]\ndata_dir = "{tmp_path / "other"}"\n', encoding="utf-8")
    assert main(["--config", str(cfg), "report", "verify", str(report)]) == 2
    assert "--public-key" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()  # neither a key nor a database was made
    pub = signing.key_dir(g.settings.site.data_dir) / signing.PUB_FILE
    assert main(["--config", str(cfg), "report", "verify", str(report), "--public-key",
                 str(pub)]) == 0
