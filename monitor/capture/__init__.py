"""Passive capture: sans-io packet parsers, a pipeline that turns frames into observations,
and thin I/O edges (an AF_PACKET socket with a TPACKET_V3 ring, pcap replay, and the
``tally`` measuring tool).

Everything under this package except :mod:`socket`, :mod:`replay` and :mod:`tally` is pure:
bytes in, records out, no clocks and no syscalls, so the same code runs live, on a pcap and
in tests. The hot path parses raw bytes by hand; scapy is only used at the edges (BPF
compilation, pcapng input, crafting test packets) because its dissectors manage ~600 TLS
packets/s. The kernel's BPF filter lets through only frames that can carry a name, so
one Python path keeps up with a chamber many times over.
"""
