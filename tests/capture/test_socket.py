"""The AF_PACKET edge: BPF compilation, attaching, capturing on loopback, drop counters."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from monitor.capture import socket as capsock


def test_compile_default_filter() -> None:
    prog = capsock.compile_bpf(capsock.DEFAULT_FILTER)
    assert 10 < len(prog) < 4096
    assert all(len(ins) == 4 for ins in prog)


def test_bad_filter_is_a_clear_error() -> None:
    with pytest.raises(capsock.CaptureError, match="cannot compile"):
        capsock.compile_bpf("udp port banana")


def test_filter_compiles_in_process_to_the_same_program_every_time() -> None:
    """One compiler (libpcap, in-process): no external program is run for the filter."""
    first = capsock.compile_bpf("udp dst port 53")
    assert first == capsock.compile_bpf("udp dst port 53")
    assert first != capsock.compile_bpf("udp dst port 54")


def test_list_interfaces_has_loopback() -> None:
    lo = next(i for i in capsock.list_interfaces() if i.name == "lo")
    assert "127.0.0.1/8" in lo.ipv4
    assert capsock.interface_networks("lo")[0] == "127.0.0.0/8"


needs_raw = pytest.mark.skipif(
    not capsock.can_capture(), reason="needs CAP_NET_RAW to open an AF_PACKET socket"
)


@needs_raw
@pytest.mark.parametrize("ring", [True, False])
def test_capture_on_loopback_with_kernel_filter(ring: bool) -> None:
    port = 47000 + int(time.time()) % 1000 + ring
    with capsock.CaptureSocket(
        "lo", f"udp dst port {port}", timeout=0.2, outgoing=False, ring=ring
    ) as cap:
        assert cap.mode == ("ring" if ring else "queue")
        assert cap.rcvbuf >= 8 << 20  # a queue: the kernel reports double what was granted
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(50):
            tx.sendto(b"noise", ("127.0.0.1", port + 1))  # filtered out in the kernel
            tx.sendto(b"wanted %d" % i, ("127.0.0.1", port))
        tx.close()
        got: list[tuple[float, bytes]] = []
        deadline = time.time() + 5
        while len(got) < 50 and time.time() < deadline:
            item = cap.recv()
            if item is not None:
                got.append(item)
        stats = cap.read_stats()
    assert len(got) == 50
    assert all(frame.endswith(b"wanted %d" % i) for i, (_, frame) in enumerate(got))
    assert all(abs(ts - time.time()) < 60 for ts, _ in got)
    assert stats.kernel_packets == 100 and stats.kernel_drops == 0  # lo: out + in copies


@needs_raw
@pytest.mark.parametrize("ring", [True, False])
def test_iteration_ends_when_closed(ring: bool) -> None:
    cap = capsock.CaptureSocket("lo", "udp dst port 9", timeout=0.05, ring=ring)
    threading.Timer(0.2, cap.close).start()
    assert list(cap) == []


def test_unknown_interface() -> None:
    with pytest.raises(capsock.CaptureError, match="no such interface"):
        capsock.CaptureSocket("does-not-exist0")


@needs_raw
@pytest.mark.parametrize("ring", [True, False])
def test_recv_batch_drains_the_queue_in_order(ring: bool) -> None:
    port = 46000 + int(time.time()) % 1000 + ring
    with capsock.CaptureSocket(
        "lo", f"udp dst port {port}", timeout=0.2, outgoing=False, ring=ring
    ) as cap:
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(300):
            tx.sendto(b"burst %d" % i, ("127.0.0.1", port))
        tx.close()
        got: list[tuple[float, bytes]] = []
        calls = 0
        deadline = time.time() + 5
        while len(got) < 300 and time.time() < deadline:
            got += cap.recv_batch(limit=128)
            calls += 1
        assert cap.recv_batch() == []  # nothing left: the timeout path
        stats = cap.read_stats()
    assert [f[-len(b"burst %d" % i) :] for i, (_, f) in enumerate(got)] == [
        b"burst %d" % i for i in range(300)
    ]
    assert calls <= 10  # batches, not one call per frame
    assert stats.received == 300 and stats.kernel_drops == 0


@needs_raw
def test_ring_holds_a_burst_the_same_memory_queue_drops() -> None:
    """10,000 small datagrams sent while nobody reads (20,000 frames: loopback shows each
    twice): a 4 MB ring keeps them all (frames are packed ~150 bytes apart), a 4 MB socket
    queue (~1 KB charged per frame) cannot."""
    port = 45000 + int(time.time()) % 1000
    results = {}
    for ring in (True, False):
        with capsock.CaptureSocket(
            "lo", f"udp dst port {port}", rcvbuf=4 << 20, timeout=0.2, outgoing=False, ring=ring
        ) as cap:
            tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for i in range(10_000):
                tx.sendto(b"q%d" % i, ("127.0.0.1", port))
            tx.close()
            got: list[tuple[float, bytes]] = []
            while batch := cap.recv_batch():
                got += batch
            results[ring] = (len(got), cap.read_stats().kernel_drops)
            if ring:
                assert [f[-len(b"q%d" % i) :] for i, (_, f) in enumerate(got)] == [
                    b"q%d" % i for i in range(10_000)
                ]
                assert all(abs(ts - time.time()) < 60 for ts, _ in got[:10])
    assert results[True] == (10_000, 0), results
    assert results[False][1] > 0, results  # the queue overflowed (what the ring is for)


@needs_raw
def test_recv_one_at_a_time_from_the_ring() -> None:
    port = 44000 + int(time.time()) % 1000
    with capsock.CaptureSocket("lo", f"udp dst port {port}", timeout=0.2, outgoing=False) as cap:
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(5):
            tx.sendto(b"one %d" % i, ("127.0.0.1", port))
        tx.close()
        got = [cap.recv() for _ in range(5)]
        assert cap.recv() is None
    assert [g[1][-5:] for g in got if g is not None] == [b"one %d" % i for i in range(5)]
