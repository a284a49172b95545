"""The DNS gate: a chain of small steps behind one interface (see chain.py for the wiring)."""
