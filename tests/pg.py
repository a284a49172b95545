"""A throwaway PostgreSQL cluster for tests and benchmarks (SQLite stays the default).

Uses the Debian server binaries (``/usr/lib/postgresql/<v>/bin``) if installed; the test
command installs them as root. PostgreSQL refuses to run as root, so as root the cluster runs
as the ``postgres`` user (``runuser``) in a temp dir chowned to it. It listens on 127.0.0.1 at
a random port and on a unix socket inside the temp dir, with trust auth — nothing outside this
machine can reach it, and it is deleted at the end.

Use from a conftest::

    from tests.pg import pg_cluster  # noqa: F401  (the session fixture)

then ``pg_cluster.new_database()`` gives a fresh, migrated database URL (cloned from a
template, so each test costs a ``CREATE DATABASE``, not a migration run).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ports import free_port as _free_port


def pg_bin() -> Path | None:
    env = os.environ.get("CHAMBERGUARD_PG_BIN")
    if env:
        return Path(env)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("initdb")
    return Path(which).parent if which else None


def unavailable_reason() -> str | None:
    b = pg_bin()
    if b is None or not (b / "initdb").exists() or not (b / "pg_ctl").exists():
        return "PostgreSQL server binaries (initdb, pg_ctl) are not installed " \
               "(Debian: apt-get install postgresql; the test command installs it as root)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]')"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
        if not shutil.which("runuser"):
            return "running as root and runuser is missing"
    return None



class PgCluster:
    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable  # fsync on (benchmarks) or off (tests: faster, same semantics)
        self.bin = pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="cg-pg-"))
        self.port = 0
        self._as: list[str] = []
        self._template: str | None = None

    @property
    def data(self) -> Path:
        return self.dir / "data"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=120,
                              check=False, cwd=self.dir)

    def start(self) -> PgCluster:
        assert self.bin is not None
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        sock = self.dir / "sock"
        r = self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                      "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync")
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed: {r.stderr or r.stdout}")
        self._run("mkdir", "-p", str(sock))
        opts = [f"-c listen_addresses=127.0.0.1 -k {sock} -c max_connections=200"]
        if not self.durable:
            opts.append("-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        for _ in range(5):
            self.port = _free_port()
            r = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
                          str(self.dir / "log"), "-w", "-t", "60", "-o",
                          " ".join([*opts, f"-p {self.port}"]), "start")
            if r.returncode == 0:
                return self
        log = (self.dir / "log").read_text() if (self.dir / "log").exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {r.stderr or r.stdout}\n{log[-2000:]}")

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self, migrated: bool = True) -> str:
        """A fresh database; ``migrated``: with the project's migrations at head."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        if migrated:
            if self._template is None:
                from monitor.store.migrate import upgrade

                tpl = f"tpl_{uuid.uuid4().hex[:8]}"
                self._admin(f"CREATE DATABASE {tpl}")
                upgrade(self.url(tpl))
                self._template = tpl
            self._admin(f"CREATE DATABASE {name} TEMPLATE {self._template}")
        else:
            self._admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        if self.bin is not None and self.data.exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                      "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    reason = unavailable_reason()
    if reason:
        print(f"\nPostgreSQL tests skipped: {reason}")
        pytest.skip(reason)
    cluster = PgCluster()
    try:
        cluster.start()
    except RuntimeError as exc:
        cluster.stop()
        pytest.skip(f"could not start a throwaway PostgreSQL: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()
