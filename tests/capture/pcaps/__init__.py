"""Packet builders for the capture tests and benchmark: frames are crafted with scapy at test
time (no binary captures are committed); TLS ClientHellos and protected QUIC Initials are
built by hand here because scapy cannot make the awkward shapes browsers send."""
