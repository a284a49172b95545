"""Settings: a typo stops start-up and names the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.main.cli import main
from monitor.settings import ConfigError, load_settings


def test_typo_in_file_names_key_and_file(tmp_path: Path) -> None:
    cfg = tmp_path / "cg.toml"
    cfg.write_text('[dns]\nupstrem = "203.0.113.53:53"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env={})
    assert str(cfg) in str(err.value) and "dns.upstrem" in str(err.value)


def test_unknown_section_and_bad_value(tmp_path: Path) -> None:
    cfg = tmp_path / "cg.toml"
    cfg.write_text('[sight]\nname = "x"\n[site]\nmode = "enforcing"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env={})
    assert "unknown key 'sight'" in str(err.value) and "site.mode" in str(err.value)


def test_env_overrides_file_and_unknown_env_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "cg.toml"
    cfg.write_text("[dns]\nmax_ttl = 20\n")
    assert load_settings(cfg, env={}).dns.max_ttl == 20
    assert load_settings(cfg, env={"CHAMBERGUARD_DNS__MAX_TTL": "45"}).dns.max_ttl == 45
    with pytest.raises(ConfigError, match="CHAMBERGUARD_DNS__MAXTTL"):
        load_settings(cfg, env={"CHAMBERGUARD_DNS__MAXTTL": "45"})


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[dns\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", env={})


def test_cli_start_up_stops_with_the_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "cg.toml"
    cfg.write_text("[web]\nprot = 8000\n")
    assert main(["--config", str(cfg), "db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert "web.prot" in err and str(cfg) in err
