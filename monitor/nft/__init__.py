"""nftables enforcement: our own ``inet chamberguard`` table, driven through libnftables JSON."""
