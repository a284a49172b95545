"""``chamberguard demo``: a chamber anyone can start with one command.

Where the kernel lets us build network namespaces (root, iproute2), the demo is real
(live.py): a fake internet (dnsmasq resolver, small sites), a gateway namespace running
``chamberguard gate`` (DNS gate + nftables, enforcing), member devices and guests each in
their own namespace with a traffic generator (:mod:`monitor.chamber_sim.traffic_demo`), a
meeting in session, and ``chamberguard web`` on the host's loopback sharing the SQLite
database. Ctrl-C / SIGTERM removes every namespace, table and process it made.

Elsewhere it replays a bundled capture (``monitor/chamber_sim/data/demo.pcap``, made by
``deploy/demo/make_demo_pcap.py``) through the passive monitor's path — capture replay →
policy decision → events — so the dashboard still shows attempts and bypasses, and it says so
(replay.py).

It lives in the composition root because it composes everything: the simulator, the gate
and the web app (as processes), the sensor's path (replay) and the record-keeping services
(setup.py seeds the database through them, audited as ``demo``).
"""

from dashboard.main.demo.command import demo_for_run, register, run_demo
from dashboard.main.demo.live import LiveChamber, clean_leftovers
from dashboard.main.demo.replay import ReplayStats, replay_capture
from dashboard.main.demo.setup import (
    DEMO_PCAP,
    GUEST_MACS,
    MEMBERS,
    DemoError,
    DemoOptions,
    prepare_data_dir,
    setup_database,
    write_config,
)

__all__ = ["DEMO_PCAP", "GUEST_MACS", "MEMBERS", "DemoError", "DemoOptions", "LiveChamber",
           "ReplayStats", "clean_leftovers", "demo_for_run", "prepare_data_dir", "register",
           "replay_capture", "run_demo", "setup_database", "write_config"]
