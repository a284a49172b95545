"""The fake internet's resolver: dnsmasq answering from a fixed zone, nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path

from monitor.chamber_sim.netns import ChamberNet

FAKE_RESOLVER = "203.0.113.53"


def start_fake_upstream(
    net: ChamberNet,
    records: dict[str, str],
    cnames: dict[str, str],
    log: Path | None = None,
    listen: str = FAKE_RESOLVER,
    ttl: int = 300,
) -> None:
    """``records``: name → "v4[,v6]" (covers subdomains too); ``cnames``: alias → target."""
    exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    net.add_inet_address(listen)
    args = [
        exe,
        "--keep-in-foreground",
        "--no-resolv",
        "--no-hosts",
        "--no-poll",
        "--bind-interfaces",
        f"--listen-address={listen}",
        "--except-interface=nonexistent",
        "--port=53",
        f"--local-ttl={ttl}",
        "--cache-size=0",
        "--user=root",
        "--pid-file=",
        "--conf-file=/dev/null",
        "--log-facility=-",
    ]
    for name, addrs in records.items():
        args.append(f"--host-record={name},{addrs}")
        for addr in addrs.split(","):
            args.append(f"--address=/{name}/{addr}")
    for alias, target in cnames.items():
        args.append(f"--cname={alias},{target}")
    net.popen(net.inet, *args, log=log)
