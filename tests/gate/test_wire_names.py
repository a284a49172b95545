"""Issue 20, fault 1: names from the wire are stored in one canonical printable form.

The DNS gate used to store a query's raw bytes (NUL, ESC, CR/LF, ``<>"'``) as evidence. Now
``dnswire.read_name`` spells every label through :func:`allowlist.names.wire_label` (lower
case; any byte but ``a-z0-9-_`` as RFC 1035 ``\\DDD``); the C fast path never keys a verdict
on such a name (it defers it to the chain), and the sensor spells it the same way or not at all.
"""

from __future__ import annotations

import re
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allowlist.names import DomainError, is_plain, normalise_domain, wire_name
from monitor import dnswire
from monitor.capture import names
from monitor.events import EventKind
from tests.gate.conftest import World
from tests.gate.test_chain import Harness, run

CANONICAL = re.compile(r"[a-z0-9_\-.\\]*")
HOSTILE = [b"x\x00\x1b[31m<\"'\r\n", b"evil.label", b"\\", b"\xc3\xa9", b"facebook", b"COM"]


def query_with(labels: list[bytes], qid: int = 1) -> bytes:
    raw = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for lab in labels:
        raw += bytes([len(lab)]) + lab
    return raw + b"\x00" + struct.pack("!HH", 1, 1)


def unescape(name: str) -> list[bytes]:
    """Presentation format back to labels (the inverse the canonical form must allow)."""
    out, cur, i = [], bytearray(), 0
    while i < len(name):
        c = name[i]
        if c == "\\":
            cur.append(int(name[i + 1 : i + 4]))
            i += 4
            continue
        if c == ".":
            out.append(bytes(cur))
            cur = bytearray()
        else:
            cur.append(ord(c))
        i += 1
    out.append(bytes(cur))
    return out


labels_st = st.lists(st.binary(min_size=1, max_size=20), min_size=1, max_size=5)


@settings(max_examples=600, deadline=None)
@given(labels_st)
def test_fault_1_every_wire_name_is_printable_and_lossless(labels: list[bytes]) -> None:
    name = dnswire.parse_query(query_with(labels)).name
    assert CANONICAL.fullmatch(name), name
    assert name == wire_name(labels)
    assert unescape(name) == [lab.lower() for lab in labels]


def test_fault_1_gate_stores_hostile_query_bytes_escaped(world: World) -> None:
    async def scenario() -> None:
        h = Harness(world)
        await h.start()
        try:
            ex = await h.ask(query_with(HOSTILE))
            assert ex is not None and ex.response is not None
            assert ex.response[3] & 0xF == dnswire.RCODE_NXDOMAIN  # still a facebook.com name
        finally:
            h.close()
        [ev] = h.events
        assert ev.kind is EventKind.ATTEMPT
        assert ev.domain == (
            "x\\000\\027\\09131m\\060\\034\\039\\013\\010.evil\\046label.\\092"
            ".\\195\\169.facebook.com"
        )
        assert CANONICAL.fullmatch(ev.domain)

    run(scenario())


def test_fault_1_c_fast_path_defers_names_it_cannot_spell() -> None:
    fastgate = pytest.importorskip("monitor.gate._fastgate")
    for lab in (b"a.b", b"a\x00", b"<x>", b"\xff", b"a\\"):
        raw = query_with([lab, b"facebook", b"com"])
        assert not is_plain(dnswire.parse_query(raw).name)
        # None: C has no text for it, so no verdict (nor event) can be keyed on it in C
        assert fastgate.parse_query(raw) is None
    assert fastgate.parse_query(query_with([b"WWW", b"facebook", b"com"]))[0] == (
        "www.facebook.com"
    )


@settings(max_examples=300, deadline=None)
@given(labels_st)
def test_fault_1_sensor_spells_names_as_the_gate_or_not_at_all(labels: list[bytes]) -> None:
    wire = b"".join(bytes([len(lab)]) + lab for lab in labels)
    gate = dnswire.parse_query(query_with(labels)).name
    sensor = names.from_wire(wire)  # what both of the sensor's frame paths use
    assert sensor in (None, "", gate)
    # The sensor keeps host names only (LDH labels: "-" or "a-.b" are dropped, not respelled);
    # for those it must agree with the gate letter for letter.
    if is_plain(gate) and host_name(gate) and not gate.rpartition(".")[2].isdigit():
        assert sensor == gate


def host_name(name: str) -> bool:
    try:
        return normalise_domain(name) == name
    except DomainError:
        return False
