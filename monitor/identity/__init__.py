"""Who a device belongs to, from the Wi-Fi itself: RADIUS accounting and per-member keys.

Pure cores (radius.py: packets → accounting records; sighting.py: records → bindings) with
thin edges (udp.py, hostapd.py: sockets; store.py: the database), wired by service.py.
"""
