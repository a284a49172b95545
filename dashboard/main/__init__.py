"""The composition root: the one ``chamberguard`` program, ``run`` (gate and web in one
process) and the demo. The only package that may import every layer; nothing imports it.

See docs/architecture.md ("Layers") for why it exists and what import-linter checks.
"""
