"""deploy/backup: online backup and restore of the database (SQLite, and PostgreSQL)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY, clean_env, run_cli
from tests.pg import pg_cluster  # noqa: F401  (session fixture)

BACKUP = DEPLOY / "backup" / "chamberguard-backup"
RESTORE = DEPLOY / "backup" / "chamberguard-restore"


def script(path: Path, *args: str, config: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # CG_PYTHON: this interpreter (the scripts otherwise look for the checkout's .venv).
    e = clean_env(CHAMBERGUARD_CONFIG=str(config), CG_PYTHON=sys.executable, **env)
    return subprocess.run([str(path), *args], capture_output=True, text=True, timeout=120,
                          env=e, check=False)


def members(db: Path) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return [r[0] for r in con.execute("SELECT name FROM members ORDER BY id")]
    finally:
        con.close()


@pytest.fixture
def sqlite_site(tmp_path: Path) -> Path:
    config = tmp_path / "chamberguard.toml"
    config.write_text(f'[site]\ndata_dir = "{tmp_path / "data"}"\n')
    assert run_cli("db", "upgrade", config=config).returncode == 0
    assert run_cli("member", "add", "Cllr Before Backup", config=config).returncode == 0
    return config


@pytest.mark.parametrize("tool", ["sqlite3", "python"])
def test_sqlite_backup_while_writing_then_restore(sqlite_site: Path, tmp_path: Path,
                                                  tool: str) -> None:
    if tool == "sqlite3" and shutil.which("sqlite3") is None:
        pytest.skip("the sqlite3 tool is not installed (the test command installs it as root)")
    db = tmp_path / "data" / "chamberguard.db"
    dest = tmp_path / "backups"
    # Online: another connection keeps writing while the backup runs.
    stop = threading.Event()

    def writer() -> None:
        con = sqlite3.connect(db, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        n = 0
        while not stop.is_set():
            con.execute("INSERT INTO audit (ts, actor, action, entity) VALUES "
                        "('2026-01-01 00:00:00', 'test', 'write', ?)", (f"row{n}",))
            con.commit()
            n += 1
            time.sleep(0.001)
        con.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        extra = {} if tool == "sqlite3" else {"CG_BACKUP_PYTHON_ONLY": "1"}
        p = script(BACKUP, "-d", str(dest), config=sqlite_site, **extra)
    finally:
        stop.set()
        t.join()
    assert p.returncode == 0, p.stderr
    backup = Path(p.stdout.strip().splitlines()[-1])
    assert backup.parent == dest and backup.name.endswith(".sqlite3") and backup.exists()
    assert Path(f"{backup}.sha256").exists()
    assert not list(dest.glob("*-wal")) and not list(dest.glob("*.partial"))
    con = sqlite3.connect(f"file:{backup}?immutable=1", uri=True)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()

    # After the backup: another member. The restore brings back the state of the backup.
    assert run_cli("member", "add", "Cllr After Backup", config=sqlite_site).returncode == 0
    assert members(db) == ["Cllr Before Backup", "Cllr After Backup"]
    p = script(RESTORE, "-f", str(backup), config=sqlite_site)
    assert p.returncode == 0, p.stderr
    assert members(db) == ["Cllr Before Backup"]
    kept = list((tmp_path / "data").glob("chamberguard.db.before-restore-*"))
    assert kept and "Cllr After Backup" in members(next(k for k in kept if k.suffix != ".db-wal"
                                                        and "-wal" not in k.name
                                                        and "-shm" not in k.name))
    # The restored database is usable by chamberguard (and at the current schema).
    assert run_cli("meetings", "list", "--json", config=sqlite_site).returncode == 0


def test_backup_keeps_the_newest_and_restore_refuses_damage(sqlite_site: Path,
                                                            tmp_path: Path) -> None:
    dest = tmp_path / "backups"
    made = []
    for _ in range(3):
        p = script(BACKUP, "-d", str(dest), "-k", "2", config=sqlite_site)
        assert p.returncode == 0, p.stderr
        made.append(Path(p.stdout.strip()))
        time.sleep(1.05)  # names carry the second
    assert sorted(dest.glob("*.sqlite3")) == sorted(made[1:])
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"not a database at all" * 100)
    p = script(RESTORE, "-f", str(bad), config=sqlite_site)
    assert p.returncode == 1 and "not a sound SQLite database" in p.stderr
    tampered = dest / made[-1].name
    data = tampered.read_bytes()
    tampered.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    p = script(RESTORE, "-f", str(tampered), config=sqlite_site)
    assert p.returncode == 1 and "does not match its .sha256" in p.stderr
    assert members(tmp_path / "data" / "chamberguard.db") == ["Cllr Before Backup"]


@pytest.mark.postgres
def test_postgres_backup_and_restore(pg_cluster, tmp_path: Path) -> None:  # noqa: F811
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump/pg_restore are not installed (postgresql-client)")
    url = pg_cluster.new_database()
    config = tmp_path / "chamberguard.toml"
    config.write_text(f'[site]\ndata_dir = "{tmp_path / "data"}"\n[database]\nurl = "{url}"\n')
    assert run_cli("member", "add", "Cllr Before Backup", config=config).returncode == 0
    p = script(BACKUP, "-d", str(tmp_path / "b"), config=config)
    assert p.returncode == 0, p.stderr
    dump = Path(p.stdout.strip())
    assert dump.suffix == ".pgdump" and dump.stat().st_size > 0
    assert run_cli("member", "add", "Cllr After Backup", config=config).returncode == 0
    p = script(RESTORE, "-f", str(dump), config=config)
    assert p.returncode == 0, p.stderr
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM members ORDER BY id")]
    assert names == ["Cllr Before Backup"]
