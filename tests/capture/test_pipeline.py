"""PacketPipeline end to end on scapy-crafted frames: every channel, dedup, attribution."""

from __future__ import annotations

import logging

import pytest

from allowlist.names import normalise_domain
from allowlist.observation import Channel, Observation
from monitor.capture import streams
from monitor.capture.pipeline import CaptureObservation, PacketPipeline, PipelineConfig
from monitor.capture.quic import QUIC_V1, QUIC_V2
from tests.capture.pcaps import craft


def run(
    frames: list[bytes], pipe: PacketPipeline | None = None, t0: float = 1000.0, step: float = 0.01
) -> list[CaptureObservation]:
    pipe = (
        pipe if pipe is not None else PacketPipeline(PipelineConfig(chamber_networks=craft.CHAMBER))
    )
    out: list[CaptureObservation] = []
    for i, f in enumerate(frames):
        for obs in pipe.feed(t0 + i * step, f):
            assert isinstance(obs, CaptureObservation) and isinstance(obs, Observation)
            out.append(obs)
    return out


def only(obs: list[CaptureObservation]) -> CaptureObservation:
    assert len(obs) == 1, obs
    return obs[0]


# ------------------------------------------------------------------------- channels


def test_dns_query() -> None:
    o = only(run([craft.dns_query("WWW.Instagram.COM.", "AAAA")]))
    assert (o.channel, o.domain, o.ip, o.mac) == (
        Channel.DNS,
        "www.instagram.com",
        craft.CLIENT_IP,
        craft.CLIENT_MAC,
    )
    assert o.ts == 1000.0


def test_dns_query_with_compression_pointer() -> None:
    wire = craft.dns_wire_with_pointers("m.facebook.com")
    o = only(run([craft.udp(wire, 40000, 53, dst=craft.RESOLVER_IP)]))
    assert o.domain == "m.facebook.com" and o.channel is Channel.DNS


def test_dns_pointer_loop_counted() -> None:
    loop = bytes.fromhex("1234 0100 0001 0000 0000 0000") + b"\xc0\x0c\x00\x01\x00\x01"
    pipe = PacketPipeline()
    assert run([craft.udp(loop, 40000, 53)], pipe) == []
    assert pipe.counters.dns_errors == 1
    assert any(k.startswith("dns:") for k in pipe.error_reasons)


def test_dns_response_to_client_names_the_question() -> None:
    pipe = PacketPipeline(PipelineConfig(chamber_networks=craft.CHAMBER))
    o = only(run([craft.dns_response("www.tiktok.com")], pipe))
    assert (o.channel, o.domain, o.ip, o.mac) == (
        Channel.DNS,
        "www.tiktok.com",
        craft.CLIENT_IP,
        craft.CLIENT_MAC,
    )
    assert pipe.counters.dns_responses == 1


def test_dns_over_tcp_query() -> None:
    from monitor import dnswire

    q = dnswire.make_query("tcp.example", qid=7)
    stream = len(q).to_bytes(2, "big") + q
    o = only(run(craft.tcp_stream(stream, [1], dport=53, order=[1, 0])))
    assert o.domain == "tcp.example" and o.channel is Channel.DNS


def test_tls_hello_split_over_two_segments() -> None:
    o = only(run(craft.tls_hello_stream("www.linkedin.com")))
    assert (o.channel, o.domain, o.mac) == (Channel.TLS, "www.linkedin.com", craft.CLIENT_MAC)


def test_tls_hello_segments_out_of_order_and_overlapping() -> None:
    from tests.capture.pcaps import tlsbuild

    hello = tlsbuild.records(
        tlsbuild.client_hello("www.reddit.com", pq_key_share=True, sni_last=True)
    )
    assert len(hello) > 1500
    frames = craft.tcp_stream(hello, [700, 1400], order=[2, 0, 1])
    # an overlapping retransmission of the middle, before anything is contiguous
    frames.insert(2, craft.tcp_stream(hello[600:1500], [], isn=1000 + 600, syn=False)[0])
    pipe = PacketPipeline()
    o = only(run(frames, pipe))
    assert (o.channel, o.domain) == (Channel.TLS, "www.reddit.com")
    assert pipe.tcp.buffered_bytes == 0  # finished stream keeps no bytes


def test_tls_without_syn_starts_from_hello() -> None:
    o = only(run(craft.tls_hello_stream("web.telegram.org", syn=False)))
    assert o.domain == "web.telegram.org"


def test_big_key_share_hello_over_ipv6() -> None:
    frames = craft.tls_hello_stream(
        "www.youtube.com", cuts=[1200], src=craft.CLIENT6, dst=craft.SERVER6
    )
    o = only(run(frames))
    assert (o.ip, o.domain) == (craft.CLIENT6, "www.youtube.com")


@pytest.mark.parametrize("version", [QUIC_V1, QUIC_V2])
def test_quic_two_packet_initial(version: int) -> None:
    datagrams = craft.quic_initials("www.snapchat.com", version=version)
    assert len(datagrams) == 2
    frames = [craft.udp(d, 51000, 443) for d in datagrams]
    o = only(run(frames))
    assert (o.channel, o.domain, o.mac) == (Channel.QUIC, "www.snapchat.com", craft.CLIENT_MAC)


def test_http_host() -> None:
    o = only(run(craft.http_request("Captive.Apple.com:80")))
    assert (o.channel, o.domain) == (Channel.HTTP, "captive.apple.com")


def test_dhcp_hostname_and_binding() -> None:
    pipe = PacketPipeline(PipelineConfig(chamber_networks=craft.CHAMBER))
    o = only(
        run(
            [
                craft.dhcp_request(
                    "Cllr-Smiths-iPad", mac=craft.OTHER_MAC, requested="198.51.100.77"
                )
            ],
            pipe,
        )
    )
    assert (o.channel, o.domain, o.mac, o.ip) == (
        Channel.DHCP,
        "cllr-smiths-ipad",
        craft.OTHER_MAC,
        "198.51.100.77",
    )
    assert pipe.mac_for("198.51.100.77") is None  # a request is not a lease
    run([craft.dhcp_ack(craft.OTHER_MAC, "198.51.100.77")], pipe)
    assert pipe.mac_for("198.51.100.77") == craft.OTHER_MAC


def test_dhcp_utf8_hostname_becomes_alabel_and_junk_is_dropped() -> None:
    pipe = PacketPipeline()
    got = run(
        [craft.dhcp_request("Jürgens-iPad".encode()), craft.dhcp_request("John's iPhone")], pipe
    )
    assert [o.domain for o in got] == [normalise_domain("jürgens-ipad")]
    assert got[0].domain.startswith("xn--")
    assert pipe.counters.invalid_names == 1


def test_arp_and_ndp_teach_the_address_book() -> None:
    pipe = PacketPipeline(PipelineConfig(chamber_networks=craft.CHAMBER))
    run([craft.arp_reply(), craft.ndp_na(), craft.ndp_ns()], pipe)
    book = pipe.address_book
    assert book[craft.OTHER_IP] == craft.OTHER_MAC
    assert book["2001:db8:100::42"] == craft.OTHER_MAC
    assert book[craft.CLIENT6] == craft.CLIENT_MAC


def test_routed_traffic_attributed_through_address_book() -> None:
    """A capture point behind a router sees the router's MAC; the DHCP ACK names the device,
    and the router's MAC on later frames does not overwrite that binding."""
    router = "02:00:5e:99:99:99"
    pipe = PacketPipeline(PipelineConfig(chamber_networks=craft.CHAMBER))
    run([craft.dhcp_ack(craft.OTHER_MAC, "198.51.100.77")], pipe)
    q = craft.dns_query("x.com", src="198.51.100.77", mac=router)
    assert only(run([q], pipe, t0=2000.0)).mac == craft.OTHER_MAC
    r = craft.dns_response("y.com", dst="198.51.100.77", mac=router)
    assert only(run([r], pipe, t0=3000.0)).mac == craft.OTHER_MAC
    # without any DHCP/ARP/NDP evidence the frame's source MAC is used
    q2 = craft.dns_query("z.com", src="198.51.100.78", mac=router)
    assert only(run([q2], pipe, t0=4000.0)).mac == router
    # ARP is strong evidence and replaces the weak binding
    run([craft.arp_reply(craft.CLIENT_MAC, "198.51.100.78")], pipe)
    assert pipe.mac_for("198.51.100.78") == craft.CLIENT_MAC


def test_clients_outside_chamber_networks_are_not_observed() -> None:
    pipe = PacketPipeline(PipelineConfig(chamber_networks=craft.CHAMBER))
    assert run([craft.dns_query("x.com", src="203.0.113.99")], pipe) == []
    assert pipe.counters.outside_chamber == 1
    assert "203.0.113.99" not in pipe.address_book


def test_invalid_names_counted_not_observed() -> None:
    from monitor import dnswire

    pipe = PacketPipeline()
    bad = [
        craft.udp(dnswire.make_query("1.2.3.4"), 4000, 53),
        craft.udp(
            b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04a b!\x00\x00\x01\x00\x01",
            4000,
            53,
        ),
        craft.http_request("[2001:db8::1]")[1],
    ]
    assert run(bad, pipe) == []
    assert pipe.counters.invalid_names == 3  # IP literal, bad characters, IPv6 literal Host


# -------------------------------------------------------------------------- dedup


def _dns_then_tls(name: str, gap: float) -> list[tuple[float, bytes]]:
    frames = [(0.0, craft.dns_query(name)), (0.001, craft.dns_query(name, "AAAA"))]
    frames += [(gap + i * 0.001, f) for i, f in enumerate(craft.tls_hello_stream(name))]
    return frames


def _feed(pipe: PacketPipeline, timed: list[tuple[float, bytes]]) -> list[CaptureObservation]:
    out: list[CaptureObservation] = []
    for ts, f in timed:
        out += pipe.feed(ts, f)  # type: ignore[arg-type]
    return out


def test_dns_then_tls_is_one_attempt() -> None:
    pipe = PacketPipeline()
    o = only(_feed(pipe, _dns_then_tls("www.facebook.com", 0.2)))
    assert o.channel is Channel.DNS and o.channels == {Channel.DNS}
    assert pipe.counters.merged == 1 and pipe.counters.duplicates == 1


def test_report_merges_tells_consumer_the_extra_channels() -> None:
    pipe = PacketPipeline(PipelineConfig(report_merges=True))
    first, update = _feed(pipe, _dns_then_tls("www.facebook.com", 0.2))
    assert not first.merged and update.merged
    assert update.attempt == first.attempt
    assert (update.ts, update.channel, update.domain) == (first.ts, Channel.DNS, first.domain)
    assert update.channels == {Channel.DNS, Channel.TLS}


def test_outside_window_is_a_new_attempt() -> None:
    pipe = PacketPipeline(PipelineConfig(dedup_window=10.0))
    got = _feed(pipe, _dns_then_tls("www.facebook.com", 10.5))
    assert [o.channel for o in got] == [Channel.DNS, Channel.TLS]
    assert got[0].attempt != got[1].attempt


def test_window_zero_disables_dedup() -> None:
    pipe = PacketPipeline(PipelineConfig(dedup_window=0))
    assert len(_feed(pipe, _dns_then_tls("x.example", 0.1))) == 3


def test_different_devices_are_different_attempts() -> None:
    pipe = PacketPipeline()
    got = run(
        [
            craft.dns_query("x.com"),
            craft.dns_query("x.com", src=craft.OTHER_IP, mac=craft.OTHER_MAC),
        ],
        pipe,
    )
    assert len(got) == 2


def test_quic_after_dns_merges() -> None:
    pipe = PacketPipeline(PipelineConfig(report_merges=True))
    frames = [craft.dns_query("www.youtube.com", "HTTPS")]
    frames += [craft.udp(d, 51000, 443) for d in craft.quic_initials("www.youtube.com")]
    first, update = run(frames, pipe)
    assert update.channels == {Channel.DNS, Channel.QUIC}


# ---------------------------------------------------------------------- robustness


def test_parser_bug_is_counted_and_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(_buf: bytes) -> object:
        raise RuntimeError("bug")

    monkeypatch.setattr(streams, "sni_from_stream", boom)  # the TLS parser, where it is used
    pipe = PacketPipeline()
    with caplog.at_level(logging.ERROR, logger="monitor.capture.pipeline"):
        assert (
            run(craft.tls_hello_stream("a.example") + craft.tls_hello_stream("b.example"), pipe)
            == []
        )
    assert pipe.counters.internal_errors == 2
    assert pipe.error_reasons["internal:RuntimeError"] == 2
    assert len([r for r in caplog.records if "capture pipeline bug" in r.message]) == 1
    # still working afterwards
    assert only(run([craft.dns_query("after.example")], pipe, t0=5000.0)).domain == "after.example"


def test_counters_dataclass_of_ints() -> None:
    pipe = PacketPipeline()
    run([b"", b"\x00" * 13, craft.dns_query("x.com")], pipe)
    d = pipe.counters.as_dict()
    assert all(isinstance(v, int) for v in d.values())
    assert d["frames"] == 3 and d["frame_errors"] == 2 and d["observations"] == 1


def test_full_conversation_server_side_is_not_parsed_as_a_client() -> None:
    """A pcap holds both directions; the server's ServerHello must not open a stream."""
    from scapy.layers.inet import IP, TCP
    from scapy.packet import Raw

    frames = craft.tls_hello_stream("www.flickr.com")
    server = craft.ether(craft.GW_MAC, craft.CLIENT_MAC) / IP(
        src=craft.SERVER_IP, dst=craft.CLIENT_IP
    )
    synack = server / TCP(sport=443, dport=50000, flags="SA", seq=9000, ack=1001)
    server_hello = b"\x16\x03\x03\x00\x30\x02\x00\x00\x2c\x03\x03" + bytes(44)
    data = server / TCP(sport=443, dport=50000, flags="PA", seq=9001, ack=2000) / Raw(server_hello)
    frames.insert(1, bytes(synack))
    frames.append(bytes(data))
    pipe = PacketPipeline()
    assert only(run(frames, pipe)).domain == "www.flickr.com"
    assert pipe.counters.tls_errors == 0
    assert len(pipe.tcp) == 1  # only the client's stream (now a tombstone)


def test_health_is_flat_ints() -> None:
    pipe = PacketPipeline()
    run(
        craft.tls_hello_stream("a.example")
        + [craft.udp(d, 5, 443) for d in craft.quic_initials("b.example")],
        pipe,
    )
    h = pipe.health()
    assert all(isinstance(v, int) for v in h.values())
    assert h["tls_sni"] == 1 and h["quic_sni"] == 1 and h["quic_decrypted"] == 2
    assert h["tcp_created"] == 1 and h["tcp_flows"] == 1 and h["tcp_buffered_bytes"] == 0
