"""The capture filter in a real kernel: name-bearing frames reach the socket, the rest not.

Two namespaces of our own (unique names, removed afterwards):

- a veth pair: every frame of tests/capture/test_bpf_filter.py's case table is injected
  into one end and the monitor's :class:`CaptureSocket` on the other end must receive
  exactly the frames the table says pass (IPv4 options, TCP options and IPv6 included);
- the loopback of a fresh namespace, with real sockets: a ClientHello, a QUIC Initial, a
  DNS query and an HTTP request reach the capture; TLS application data (both ways), a
  QUIC short-header packet and an HTTP response body are dropped in the kernel.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from monitor.capture.socket import CaptureSocket
from monitor.chamber_sim.netns import unavailable_reason
from tests.capture import test_bpf_filter as table
from tests.capture.pcaps import craft

CLONE_NEWNET = 0x40000000


@pytest.fixture
def netns() -> Iterator[str]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"network namespaces unavailable: {reason}")
    name = f"cgflt-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


@contextlib.contextmanager
def inside(ns: str) -> Iterator[None]:
    """Run the block in network namespace ``ns`` (this thread only); sockets made here
    stay in it after the block."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            pytest.skip(f"setns refused: {os.strerror(ctypes.get_errno())}")
        try:
            yield
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:  # pragma: no cover - cannot go home
                raise OSError(ctypes.get_errno(), "setns back to the test's namespace")
    finally:
        os.close(target)
        os.close(home)


def _drain(cap: CaptureSocket, done: bytes, timeout: float = 10.0) -> list[bytes]:
    """Frames until one containing ``done`` (sent last, and passing the filter) arrives."""
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got += [f for _, f in cap.recv_batch()]
        if any(done in f for f in got):
            return got
    raise AssertionError(f"the end marker never arrived ({len(got)} frames)")


def test_kernel_filter_on_a_veth_matches_the_table(netns: str) -> None:
    subprocess.run(["ip", "-n", netns, "link", "add", "inj0", "type", "veth", "peer", "name",
                    "cap0"], check=True)  # fmt: skip
    for dev in ("inj0", "cap0"):
        subprocess.run(["ip", "-n", netns, "link", "set", dev, "up"], check=True)
    cases = table.cases()
    marker = craft.dns_query(f"end-{uuid.uuid4().hex[:8]}.example")
    with inside(netns):
        cap = CaptureSocket("cap0", timeout=0.2, promisc=True)
        tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        tx.bind(("inj0", 0))
    with cap, tx:
        for _, frame, _ in cases:
            tx.send(frame)
        tx.send(marker)
        got = _drain(cap, marker)
        stats = cap.read_stats()
    passed = {what for what, frame, _ in cases if frame in got}
    assert passed == {what for what, _, expected in cases if expected}
    assert stats.kernel_drops == 0
    assert stats.kernel_packets == len(got)  # nothing else reached the socket


def _tcp_exchange(family: int, host: str, port: int, client: bytes, server: bytes) -> None:
    """One connection: the client sends ``client``, the server answers ``server``."""
    with socket.socket(family, socket.SOCK_STREAM) as lst:
        lst.bind((host, port))
        lst.listen()
        with socket.create_connection((host, port)) as cli:
            conn, _ = lst.accept()
            with conn:
                cli.sendall(client)
                want = len(client)
                have = b""
                while len(have) < want:
                    have += conn.recv(65536)
                conn.sendall(server)
                have = b""
                while len(have) < len(server):
                    have += cli.recv(65536)


def test_kernel_filter_on_loopback_with_real_sockets(netns: str) -> None:
    marker = craft.dns_query(f"end-{uuid.uuid4().hex[:8]}.example")[42:]  # the DNS message
    with inside(netns):
        cap = CaptureSocket("lo", timeout=0.2, outgoing=False)  # lo shows each frame twice
        udp4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            # ClientHello, then application data each way, on a real connection to 443.
            _tcp_exchange(family, host, 443, table.HELLO, table.APP_DATA)
            _tcp_exchange(family, host, 8443, table.APP_DATA, table.APP_DATA * 3)
            _tcp_exchange(family, host, 80, table.REQUEST, table.RESPONSE)
    with cap, udp4, udp6:
        for sock, host in ((udp4, "127.0.0.1"), (udp6, "::1")):
            sock.sendto(table.INITIAL, (host, 443))
            sock.sendto(table.SHORT_HEADER, (host, 443))
            sock.sendto(craft.dns_query("lo.example")[42:], (host, 53))
        udp4.sendto(marker, ("127.0.0.1", 53))
        got = _drain(cap, marker)
        assert cap.read_stats().kernel_drops == 0

    def count(payload: bytes) -> int:
        return sum(1 for f in got if f.endswith(payload))

    assert count(table.HELLO) == 2  # IPv4 and IPv6
    assert count(table.REQUEST) == 2
    assert count(table.INITIAL) == 2
    assert count(b"\x02lo\x07example\x00\x00\x01\x00\x01") == 2
    assert count(table.APP_DATA) == 0  # client's and server's TLS records
    assert count(table.RESPONSE) == 0 and not [f for f in got if b"200 OK" in f]
    assert count(table.SHORT_HEADER) == 0
