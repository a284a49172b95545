"""A simulated chamber on real kernel networking: network namespaces joined by veth pairs.

Used by the netns tests and by the demo. Only 198.51.100.0/24, 203.0.113.0/24 and
2001:db8::/32 are used, veths are created directly inside our namespaces, and no namespace is
ever routed to the host: nothing leaves the machine (DESIGN §8).
"""

from pathlib import Path

# In a data directory `chamberguard demo` made (its contents are thrown away on the next start).
# The doctor reads it to know a configuration describes the demo's simulated chamber.
DEMO_MARKER = ".chamberguard-demo"


def is_demo_dir(data_dir: Path) -> bool:
    return (data_dir / DEMO_MARKER).is_file()
