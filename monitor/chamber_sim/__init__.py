"""A simulated chamber on real kernel networking: network namespaces joined by veth pairs.

Used by the netns tests and by the demo. Only 198.51.100.0/24, 203.0.113.0/24 and
2001:db8::/32 are used, veths are created directly inside our namespaces, and no namespace is
ever routed to the host: nothing leaves the machine (DESIGN §8).
"""
