"""QUIC Initial decryption: RFC 9001 (v1) and RFC 9369 (v2) Appendix A vectors, multi-packet
CRYPTO reassembly, coalesced packets, and the tracker's bounds."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.capture import quic
from tests.capture.pcaps import quicbuild, tlsbuild

DCID = bytes.fromhex("8394c8f03e515708")

# RFC 9001 A.2 / RFC 9369 A.2: the client Initial's plaintext (a CRYPTO frame holding a
# ClientHello for example.com, then PADDING) is the same for both versions.
RFC_CLIENT_PAYLOAD = bytes.fromhex(
    "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868"
    "04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578"
    "616d706c652e636f6dff01000100000a00080006001d00170018001000070005"
    "04616c706e000500050100000000003300260024001d00209370b2c9caa47fba"
    "baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400"
    "0d0010000e0403050306030203080408050806002d00020101001c0002400100"
    "3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000"
    "75300901100f088394c8f03e51570806048000ffff"
) + bytes(917)
# RFC 9001 Appendix A.2: the protected client Initial (packet number 2).
RFC9001_CLIENT_INITIAL = bytes.fromhex(
    "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11"
    "d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399"
    "1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c"
    "8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212"
    "30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5"
    "457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208"
    "4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec"
    "4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3"
    "485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db"
    "059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c"
    "7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8"
    "9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556"
    "be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74"
    "68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a"
    "c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00"
    "f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632"
    "291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964"
    "25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd"
    "14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff"
    "ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198"
    "e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd"
    "c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73"
    "203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f"
    "cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e"
    "fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade"
    "a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047"
    "90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2"
    "162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4"
    "40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0"
    "6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e"
    "8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0"
    "be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400"
    "54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab"
    "760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9"
    "f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4"
    "056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064"
    "7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241"
    "e221af44860018ab0856972e194cd934"
)
# RFC 9369 Appendix A.2: the same Initial under QUIC v2.
RFC9369_CLIENT_INITIAL = bytes.fromhex(
    "d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485"
    "dd04de806071bf03dceebfa162e75d6c96058bdbfb127cdfcbf903388e99ad04"
    "9f9a3dd4425ae4d0992cfff18ecf0fdb5a842d09747052f17ac2053d21f57c5d"
    "250f2c4f0e0202b70785b7946e992e58a59ac52dea6774d4f03b55545243cf1a"
    "12834e3f249a78d395e0d18f4d766004f1a2674802a747eaa901c3f10cda5500"
    "cb9122faa9f1df66c392079a1b40f0de1c6054196a11cbea40afb6ef5253cd68"
    "18f6625efce3b6def6ba7e4b37a40f7732e093daa7d52190935b8da58976ff33"
    "12ae50b187c1433c0f028edcc4c2838b6a9bfc226ca4b4530e7a4ccee1bfa2a3"
    "d396ae5a3fb512384b2fdd851f784a65e03f2c4fbe11a53c7777c023462239dd"
    "6f7521a3f6c7d5dd3ec9b3f233773d4b46d23cc375eb198c63301c21801f6520"
    "bcfb7966fc49b393f0061d974a2706df8c4a9449f11d7f3d2dcbb90c6b877045"
    "636e7c0c0fe4eb0f697545460c806910d2c355f1d253bc9d2452aaa549e27a1f"
    "ac7cf4ed77f322e8fa894b6a83810a34b361901751a6f5eb65a0326e07de7c12"
    "16ccce2d0193f958bb3850a833f7ae432b65bc5a53975c155aa4bcb4f7b2c4e5"
    "4df16efaf6ddea94e2c50b4cd1dfe06017e0e9d02900cffe1935e0491d77ffb4"
    "fdf85290fdd893d577b1131a610ef6a5c32b2ee0293617a37cbb08b847741c3b"
    "8017c25ca9052ca1079d8b78aebd47876d330a30f6a8c6d61dd1ab5589329de7"
    "14d19d61370f8149748c72f132f0fc99f34d766c6938597040d8f9e2bb522ff9"
    "9c63a344d6a2ae8aa8e51b7b90a4a806105fcbca31506c446151adfeceb51b91"
    "abfe43960977c87471cf9ad4074d30e10d6a7f03c63bd5d4317f68ff325ba3bd"
    "80bf4dc8b52a0ba031758022eb025cdd770b44d6d6cf0670f4e990b22347a7db"
    "848265e3e5eb72dfe8299ad7481a408322cac55786e52f633b2fb6b614eaed18"
    "d703dd84045a274ae8bfa73379661388d6991fe39b0d93debb41700b41f90a15"
    "c4d526250235ddcd6776fc77bc97e7a417ebcb31600d01e57f32162a8560cacc"
    "7e27a096d37a1a86952ec71bd89a3e9a30a2a26162984d7740f81193e8238e61"
    "f6b5b984d4d3dfa033c1bb7e4f0037febf406d91c0dccf32acf423cfa1e70710"
    "10d3f270121b493ce85054ef58bada42310138fe081adb04e2bd901f2f13458b"
    "3d6758158197107c14ebb193230cd1157380aa79cae1374a7c1e5bbcb80ee23e"
    "06ebfde206bfb0fcbc0edc4ebec309661bdd908d532eb0c6adc38b7ca7331dce"
    "8dfce39ab71e7c32d318d136b6100671a1ae6a6600e3899f31f0eed19e3417d1"
    "34b90c9058f8632c798d4490da4987307cba922d61c39805d072b589bd52fdf1"
    "e86215c2d54e6670e07383a27bbffb5addf47d66aa85a0c6f9f32e59d85a44dd"
    "5d3b22dc2be80919b490437ae4f36a0ae55edf1d0b5cb4e9a3ecabee93dfc6e3"
    "8d209d0fa6536d27a5d6fbb17641cde27525d61093f1b28072d111b2b4ae5f89"
    "d5974ee12e5cf7d5da4d6a31123041f33e61407e76cffcdcfd7e19ba58cf4b53"
    "6f4c4938ae79324dc402894b44faf8afbab35282ab659d13c93f70412e85cb19"
    "9a37ddec600545473cfb5a05e08d0b209973b2172b4d21fb69745a262ccde96b"
    "a18b2faa745b6fe189cf772a9f84cbfc"
)


# ----------------------------------------------------------------- RFC test vectors


def test_v1_initial_secrets_and_keys_rfc9001_a1() -> None:
    client, server = quic.initial_secrets(DCID, quic.QUIC_V1)
    assert client.hex() == "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea"
    assert server.hex() == "3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b"
    k = quic.initial_keys(DCID, quic.QUIC_V1)
    assert k.key.hex() == "1f369613dd76d5467730efcbe3b1a22d"
    assert k.iv.hex() == "fa044b2f42a3fd3b46fb255c"
    assert k.hp.hex() == "9f50449e04a0e810283a1e9933adedd2"
    s = quic.initial_keys(DCID, quic.QUIC_V1, server=True)
    assert s.key.hex() == "cf3a5331653c364c88f0f379b6067e37"
    assert s.iv.hex() == "0ac1493ca1905853b0bba03e"
    assert s.hp.hex() == "c206b8d9b9f0f37644430b490eeaa314"


def test_v2_initial_secrets_and_keys_rfc9369_a1() -> None:
    client, server = quic.initial_secrets(DCID, quic.QUIC_V2)
    assert client.hex() == "14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b"
    assert server.hex() == "0263db1782731bf4588e7e4d93b7463907cb8cd8200b5da55a8bd488eafc37c1"
    k = quic.initial_keys(DCID, quic.QUIC_V2)
    assert k.key.hex() == "8b1a0bc121284290a29e0971b5cd045d"
    assert k.iv.hex() == "91f73e2351d8fa91660e909f"
    assert k.hp.hex() == "45b95e15235d6f45a6b19cbcb0294ba9"
    s = quic.initial_keys(DCID, quic.QUIC_V2, server=True)
    assert s.key.hex() == "82db637861d55e1d011f19ea71d5d2a7"
    assert s.iv.hex() == "dd13c276499c0249d3310652"
    assert s.hp.hex() == "edf6d05c83121201b436e16877593c3a"


@pytest.mark.parametrize(
    ("version", "packet"),
    [(quic.QUIC_V1, RFC9001_CLIENT_INITIAL), (quic.QUIC_V2, RFC9369_CLIENT_INITIAL)],
)
def test_rfc_client_initial_decrypts_to_example_com(version: int, packet: bytes) -> None:
    h = quic.parse_long_header(packet, 0)
    assert h is not None and h.is_initial and h.version == version and h.dcid == DCID
    pkt = quic.decrypt_initial(packet, 0, h, quic.initial_keys(DCID, version))
    assert pkt.pn == 2
    assert pkt.payload == RFC_CLIENT_PAYLOAD
    tracker = quic.QuicSniTracker()
    assert tracker.datagram(0.0, packet) == ["example.com"]


@pytest.mark.parametrize(
    ("version", "packet"),
    [(quic.QUIC_V1, RFC9001_CLIENT_INITIAL), (quic.QUIC_V2, RFC9369_CLIENT_INITIAL)],
)
def test_test_helper_encrypts_like_the_rfc(version: int, packet: bytes) -> None:
    """The helper that builds our multi-packet test Initials reproduces the RFC bytes."""
    built = quicbuild.protect_initial(RFC_CLIENT_PAYLOAD, DCID, version=version, pn=2, pad_to=None)
    assert built == packet


# -------------------------------------------------------- multi-packet ClientHellos


def _flight(sni: str, version: int, split: int = 2, dcid: bytes | None = None) -> list[bytes]:
    dcid = dcid or os.urandom(8)
    hello = tlsbuild.client_hello(sni, pq_key_share=True, sni_last=True)
    step = -(-len(hello) // split)
    return [
        quicbuild.protect_initial(
            quicbuild.crypto_frame(i * step, hello[i * step : (i + 1) * step]),
            dcid,
            version=version,
            pn=i,
        )
        for i in range(split)
    ]


@pytest.mark.parametrize("version", [quic.QUIC_V1, quic.QUIC_V2])
@pytest.mark.parametrize("reverse", [False, True])
def test_crypto_split_across_two_initials(version: int, reverse: bool) -> None:
    packets = _flight("www.threads.net", version)
    assert all(len(p) == 1200 for p in packets)
    if reverse:
        packets.reverse()
    t = quic.QuicSniTracker()
    assert t.datagram(0.0, packets[0]) == []
    assert t.datagram(0.01, packets[1]) == ["www.threads.net"]
    assert t.datagram(0.02, packets[1]) == []  # retransmission: reported once
    assert t.stats.decrypted == 2


def test_chaos_protection_shuffled_frames_ping_padding() -> None:
    from tests.capture.pcaps import craft

    for version in (quic.QUIC_V1, quic.QUIC_V2):
        t = quic.QuicSniTracker()
        names: list[str] = []
        for d in reversed(craft.quic_initials("bsky.app", version=version, shuffle=True)):
            names += t.datagram(1.0, d)
        assert names == ["bsky.app"]


def test_coalesced_initials_in_one_datagram() -> None:
    hello = tlsbuild.client_hello("coalesced.example", grease=False)
    dcid = os.urandom(8)
    half = len(hello) // 2
    p1 = quicbuild.protect_initial(quicbuild.crypto_frame(0, hello[:half]), dcid, pn=0, pad_to=None)
    p2 = quicbuild.protect_initial(
        quicbuild.crypto_frame(half, hello[half:]), dcid, pn=1, pad_to=None
    )
    junk_handshake = bytes([0xE0]) + (1).to_bytes(4, "big") + bytes([8]) + dcid + b"\x00\x05abcde"
    t = quic.QuicSniTracker()
    assert t.datagram(0.0, p1 + junk_handshake + p2 + bytes(300)) == ["coalesced.example"]
    assert t.stats.other_packets == 1


def test_wrong_dcid_is_counted_not_raised() -> None:
    pkt = bytearray(_flight("x.example", quic.QUIC_V1, split=1)[0])
    pkt[6] ^= 0xFF  # first DCID byte: keys no longer match
    t = quic.QuicSniTracker()
    assert t.datagram(0.0, bytes(pkt)) == []
    assert t.stats.decrypt_failed == 1


def test_tracker_bounds_and_timeout() -> None:
    t = quic.QuicSniTracker(max_conns=4, timeout=5.0)
    for i in range(10):
        t.datagram(float(i) * 0.1, _flight(f"h{i}.example", quic.QUIC_V1)[0])
        assert len(t) <= 4
    assert t.stats.evicted == 6
    t.expire(100.0)
    assert len(t) == 0


def test_crypto_frames_stop_on_unknown_frame() -> None:
    frames = quicbuild.crypto_frame(0, b"abc") + b"\x1e" + quicbuild.crypto_frame(3, b"def")
    assert quic.crypto_frames(frames) == [(0, b"abc")]
    ack = b"\x02\x05\x00\x01\x00\x01\x02"  # largest 5, delay 0, 1 range: first 0, gap 1 len 2
    assert quic.crypto_frames(ack + quicbuild.crypto_frame(0, b"z")) == [(0, b"z")]


def test_version_negotiation_and_short_header_ignored() -> None:
    t = quic.QuicSniTracker()
    assert t.datagram(0.0, b"\x80\x00\x00\x00\x00\x08" + bytes(40)) == []
    assert t.datagram(0.0, b"\x40" + bytes(40)) == []


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_frames_only_raise_quic_error(data: bytes) -> None:
    try:
        quic.crypto_frames(data)
    except quic.QuicError:
        pass
    try:
        quic.QuicSniTracker().datagram(0.0, b"\xc0\x00\x00\x00\x01" + data)
    except quic.QuicError:
        pass


def test_junk_after_coalesced_initial_keeps_the_name() -> None:
    hello = tlsbuild.client_hello("junk.example", grease=False)
    pkt = quicbuild.protect_initial(quicbuild.crypto_frame(0, hello), os.urandom(8), pad_to=None)
    t = quic.QuicSniTracker()
    assert t.datagram(0.0, pkt + b"\xc0\x00\x00\x00\x01\x30") == ["junk.example"]
    with pytest.raises(quic.QuicError):
        t.datagram(0.0, b"\xc0\x00\x00\x00\x01\x30")


@pytest.mark.parametrize("length", [1, 16, 32, 33, 64, 100])
def test_hkdf_expand_label_matches_cryptography(length: int) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

    secret = bytes(range(32))
    full = b"tls13 quic key"
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    want = HKDFExpand(algorithm=hashes.SHA256(), length=length, info=info).derive(secret)
    assert quic.hkdf_expand_label(secret, b"quic key", b"", length) == want


@pytest.mark.parametrize("version", [quic.QUIC_V1, quic.QUIC_V2])
def test_initial_keys_match_the_spelled_out_derivation(version: int) -> None:
    dcid = os.urandom(8)
    for server in (False, True):
        client, srv = quic.initial_secrets(dcid, version)
        want = quic.InitialKeys.from_secret(srv if server else client, version)
        got = quic.initial_keys(dcid, version, server=server)
        assert (got.key, got.iv, got.hp) == (want.key, want.iv, want.hp)


def test_client_initial_prefilter() -> None:
    """Only a long-header Initial of v1/v2 in a ≥ 1200-byte datagram is worth decrypting."""
    v1 = quicbuild.protect_initial(quicbuild.crypto_frame(0, b"x" * 50), DCID)
    v2 = quicbuild.protect_initial(quicbuild.crypto_frame(0, b"x" * 50), DCID, version=quic.QUIC_V2)
    assert len(v1) == len(v2) == 1200
    assert quic.looks_like_client_initial(v1) and quic.looks_like_client_initial(v2)
    assert not quic.looks_like_client_initial(v1[:1199])  # clients must pad to 1200
    assert not quic.looks_like_client_initial(bytes([0x40]) + v1[1:])  # short header (1-RTT)
    handshake = bytes([(v1[0] & 0xCF) | 0x20]) + v1[1:]  # v1 type 2: Handshake
    assert not quic.looks_like_client_initial(handshake)
    v2_with_v1_type = bytes([v2[0] & 0xCF]) + v2[1:]  # v2 type 0 is 0-RTT, not Initial
    assert not quic.looks_like_client_initial(v2_with_v1_type)
    unknown = v1[:1] + b"\xff\x00\x00\x1d" + v1[5:]
    assert not quic.looks_like_client_initial(unknown)


def test_pipeline_decrypts_only_client_initials() -> None:
    from monitor.capture.pipeline import PacketPipeline
    from tests.capture.pcaps import craft

    pipe = PacketPipeline()
    initial = craft.quic_initials("www.example.org", split=1, pq=False)[0]
    noise = [
        bytes([0x43]) + os.urandom(1299),  # 1-RTT short header: the bulk of QUIC
        bytes([0xE3]) + initial[1:],  # Handshake long header, same size
        initial[:1000],  # too short for a client Initial
    ]
    for d in noise:
        pipe.feed(1.0, craft.udp(d, 51000, 443))
    assert pipe.quic.stats.datagrams == 0 and pipe.counters.ignored == 3
    assert [o.domain for o in pipe.feed(2.0, craft.udp(initial, 51000, 443))] == ["www.example.org"]
    assert pipe.quic.stats.decrypted == 1
