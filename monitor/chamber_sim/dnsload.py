"""Fixed-rate DNS load with per-query latency (dnsperf 2.10 reports only averages).

Run inside a device namespace: ``python -m monitor.chamber_sim.dnsload --server IP --qps N
--seconds S --names FILE``; prints JSON with sent, answered, p50/p95/p99 in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import selectors
import socket
import time

from monitor import dnswire


def run(server: str, qps: int, seconds: float, names: list[str]) -> dict[str, float]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.connect((server, 53))
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    sent_at: dict[int, float] = {}
    lat: list[float] = []
    interval = 1.0 / qps
    start = time.perf_counter()
    n = 0
    end = start + seconds
    while True:
        now = time.perf_counter()
        if now >= end and not sent_at:
            break
        if now >= end + 2.0:
            break
        due = start + n * interval
        if now >= due and now < end:
            qid = n & 0xFFFF
            q = dnswire.make_query(names[n % len(names)], dnswire.TYPE_A, qid)
            sent_at[qid] = now
            try:
                sock.send(q)
            except BlockingIOError:
                pass
            n += 1
            continue
        for _ in sel.select(timeout=max(0.0, min(due - now, 0.01))):
            while True:
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    break
                t0 = sent_at.pop(int.from_bytes(data[:2], "big"), None)
                if t0 is not None:
                    lat.append(time.perf_counter() - t0)
    lat.sort()

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 3) if lat else float("nan")

    return {
        "sent": n,
        "answered": len(lat),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--qps", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--names", required=True)
    a = ap.parse_args()
    names = [ln.split()[0] for ln in open(a.names) if ln.strip()]
    print(json.dumps(run(a.server, a.qps, a.seconds, names)))


if __name__ == "__main__":
    main()
