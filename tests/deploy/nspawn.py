"""A fresh Debian 12 root under real systemd, for the deployment test.

``fresh-root.sh`` makes the root (mmdebstrap minbase plus systemd); :meth:`Machine.run` runs a
command in it without booting (host network, for the installer's apt and pip), and
:meth:`Machine.boot` boots it with ``systemd-nspawn -b --private-network``: its own network
namespace with only loopback, so nothing it does reaches the host's network. Commands run in
the booted machine through ``nsenter`` into its PID 1's namespaces.

nspawn is called with ``--register=no --keep-unit`` (no system bus or machined needed, as on
a CI host whose PID 1 is not systemd) from a private mount namespace with a tmpfs on
``/run/systemd/nspawn`` (nspawn refuses to clean up its propagation directory on a disk
file system).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.deploy.conftest import wait_for

HERE = Path(__file__).resolve().parent
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The installer's package clients need the host's client settings from the environment too.
PASSED_ENV = re.compile(r"^(https?_proxy|no_proxy|HTTPS?_PROXY|NO_PROXY|PIP_\w+|SSL_CERT_\w+|"
                        r"REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE)$")
NSPAWN = ("unshare", "--mount", "--propagation", "private", "sh", "-c",
          'mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn && '
          'exec systemd-nspawn --quiet --register=no --keep-unit "$@"', "nspawn")


def unavailable_reason() -> str | None:
    """Why this host cannot run the test, or None."""
    if os.geteuid() != 0:
        return "needs root (systemd-nspawn, mmdebstrap)"
    for tool, pkg in (("systemd-nspawn", "systemd-container"), ("mmdebstrap", "mmdebstrap"),
                      ("unshare", "util-linux"), ("nsenter", "util-linux")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: {pkg}; deploy/bootstrap.sh test installs it)"
    return None


@dataclass
class Machine:
    root: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    leader: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)  # what set-up printed, for the tests

    @classmethod
    def create(cls, root: Path, packages: str) -> Machine:
        subprocess.run([str(HERE / "fresh-root.sh"), str(root), packages], check=True,
                       capture_output=True, timeout=900)
        env = {k: v for k, v in os.environ.items() if PASSED_ENV.match(k)}
        return cls(root=root, log=root.parent / f"{root.name}-console.log", env=env)

    # -- not booted ------------------------------------------------------------------------------
    def run(self, *cmd: str, input: str | None = None, timeout: float = 900,
            ) -> subprocess.CompletedProcess[str]:
        """Run a command in the root without booting it (the host's network: apt, pip)."""
        setenv = [f"--setenv={k}={v}" for k, v in {**self.env, "PATH": PATH}.items()]
        return subprocess.run([*NSPAWN, "-D", str(self.root), "--pipe", *setenv, "--", *cmd],
                              input=input, capture_output=True, text=True, timeout=timeout,
                              check=False)

    # -- booted ----------------------------------------------------------------------------------
    def boot(self, timeout: float = 120) -> None:
        out = self.log.open("wb")
        self.proc = subprocess.Popen([*NSPAWN, "-D", str(self.root), "-b", "--private-network",
                                      "--console=read-only"], stdout=out, stderr=out)
        if not wait_for(self._find_leader, timeout=60):
            raise RuntimeError(f"the machine did not start: {self.console()[-2000:]}")
        # "degraded" is fine here (the test judges our units itself); "starting" is not.
        state = ""

        def settled() -> bool:
            nonlocal state
            state = self.sh("systemctl is-system-running || true").stdout.strip()
            return state in ("running", "degraded")

        if not wait_for(settled, timeout=timeout, step=0.5):
            raise RuntimeError(f"boot did not finish (state {state!r}): {self.console()[-2000:]}")

    def _find_leader(self) -> bool:
        """The container's PID 1: a descendant of our nspawn whose innermost pid is 1."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"systemd-nspawn exited: {self.console()[-2000:]}")
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                text = status.read_text()
            except OSError:
                continue
            m = re.search(r"^NSpid:\s+(\d+)\s+1$", text, re.M)
            if m and self._descends_from_nspawn(int(m.group(1))):
                self.leader = int(m.group(1))
                return True
        return False

    def _descends_from_nspawn(self, pid: int) -> bool:
        assert self.proc is not None
        while pid > 1:
            try:
                ppid = int(re.search(r"^PPid:\s+(\d+)$", Path(f"/proc/{pid}/status").read_text(),
                                     re.M).group(1))  # type: ignore[union-attr]
            except (OSError, AttributeError):
                return False
            if ppid == self.proc.pid:
                return True
            pid = ppid
        return False

    def sh(self, script: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a shell command inside the booted machine (all of PID 1's namespaces)."""
        assert self.leader is not None
        # -r -w: the machine's root and cwd. Inside a chroot (as in CI) the machine's mount
        # namespace has the host's root as its root (nspawn moves its root onto "/" and
        # chroots), so entering the namespace alone would land outside the machine.
        return subprocess.run(["nsenter", "-t", str(self.leader), "-a", "-r", "-w", "--",
                               "/usr/bin/env", "-i",
                               f"PATH={PATH}", "LANG=C.UTF-8", "/bin/sh", "-c", script],
                              capture_output=True, text=True, timeout=timeout, check=False)

    def console(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def shutdown(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        if self.leader is not None:
            self.sh("systemctl poweroff --no-block || true", timeout=20)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=20)
        # nspawn killed before its machine: the machine's PID 1 would live on, orphaned.
        if self.leader is not None:
            try:
                os.kill(self.leader, signal.SIGKILL)
            except ProcessLookupError:
                pass
