"""ClientHello SNI extraction from stream prefixes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.tls.record import TLS

from monitor.capture import tls
from tests.capture.pcaps import tlsbuild


def _scapy_sni(stream: bytes) -> bytes:
    """Independent check that the builder makes real ClientHellos: scapy's TLS dissector."""
    hello = TLS(stream).msg[0]
    ext = next(e for e in hello.ext if type(e).__name__ == "TLS_Ext_ServerName")
    return bytes(ext.servernames[0].servername)


@pytest.mark.parametrize("seed", range(8))
def test_shuffled_grease_hello(seed: int) -> None:
    stream = tlsbuild.records(tlsbuild.client_hello("www.instagram.com", seed=seed))
    assert _scapy_sni(stream) == b"www.instagram.com"
    assert tls.sni_from_stream(stream) == "www.instagram.com"


def test_big_post_quantum_key_share_spans_segments() -> None:
    hello = tlsbuild.client_hello("static.xx.fbcdn.net", pq_key_share=True, sni_last=True)
    stream = tlsbuild.records(hello)
    assert len(stream) > 1500
    assert _scapy_sni(stream) == b"static.xx.fbcdn.net"
    assert tls.sni_from_stream(stream[:1460]) is tls.NEED_MORE
    assert tls.sni_from_stream(stream) == "static.xx.fbcdn.net"


def test_every_prefix_is_need_more_or_the_name() -> None:
    stream = tlsbuild.records(tlsbuild.client_hello("a.example", pq_key_share=True, seed=3))
    seen_name_at = None
    for i in range(len(stream) + 1):
        res = tls.sni_from_stream(stream[:i])
        assert res in (tls.NEED_MORE, "a.example"), (i, res)
        if res == "a.example" and seen_name_at is None:
            seen_name_at = i
    assert seen_name_at is not None


def test_name_returned_before_rest_of_hello_arrives() -> None:
    hello = tlsbuild.client_hello("early.example", pq_key_share=True, sni_first=True)
    stream = tlsbuild.records(hello)
    end_of_name = stream.index(b"early.example") + len("early.example")
    assert end_of_name < len(stream) - 1000
    assert tls.sni_from_stream(stream[: end_of_name - 1]) is tls.NEED_MORE
    assert tls.sni_from_stream(stream[:end_of_name]) == "early.example"


def test_hello_fragmented_over_several_records() -> None:
    hello = tlsbuild.client_hello("frag.example", pq_key_share=True)
    stream = tlsbuild.records(hello, max_fragment=300)
    assert stream.count(b"\x16\x03\x01") >= 5
    assert tls.sni_from_stream(stream) == "frag.example"
    assert tls.sni_from_stream(stream[:700]) in (tls.NEED_MORE, "frag.example")


def test_no_sni_and_not_tls() -> None:
    assert tls.sni_from_stream(tlsbuild.records(tlsbuild.client_hello(None))) is tls.NO_SNI
    assert tls.sni_from_stream(b"GET / HTTP/1.1\r\n") is tls.NOT_TLS
    server_hello = b"\x16\x03\x03\x00\x05\x02\x00\x00\x01\x00"
    assert tls.sni_from_stream(server_hello) is tls.NOT_TLS
    assert tls.sni_from_stream(b"") is tls.NEED_MORE
    assert tls.sni_from_stream(b"\x16\x03") is tls.NEED_MORE


def test_handshake_layer_entry_point() -> None:
    hello = tlsbuild.client_hello("quic.example")
    assert tls.sni_from_handshake(hello) == "quic.example"
    assert tls.sni_from_handshake(hello[:30]) is tls.NEED_MORE


def test_lying_extension_length_is_not_tls() -> None:
    hello = bytearray(tlsbuild.client_hello("x.example", grease=False))
    # Corrupt the extensions-block length to point past the message end.
    pos = 4 + 2 + 32 + 1 + 32
    pos += 2 + int.from_bytes(hello[pos : pos + 2], "big")
    pos += 1 + hello[pos]
    hello[pos : pos + 2] = b"\xff\xff"
    assert tls.sni_from_handshake(bytes(hello)) is tls.NOT_TLS


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(data: bytes) -> None:
    assert tls.sni_from_stream(data) is not None
    assert tls.sni_from_stream(b"\x16\x03\x01" + data) is not None
    assert tls.sni_from_handshake(b"\x01" + data) is not None
