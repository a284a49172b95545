"""Compliance reports for the monitoring officer: per meeting, per member over a period (a
complaint), and a site summary — each as HTML, PDF, CSV and JSON with the same numbers.

``builder``   reads the database once per report into one JSON-ready document (a dict):
              every renderer draws from that document and nothing else, so the four
              formats cannot disagree.
``method``    the "method and limits" text, generated from the settings in force.
``timeline``  server-side SVG geometry (presentation attributes only: the CSP forbids
              inline styles).
``render``    HTML (Jinja2, print CSS), PDF (WeasyPrint), CSV, JSON.
``signing``   the installation's Ed25519 key, the signature trailer every format carries,
              and ``verify`` (any altered byte fails, with the reason).
``subject``   a member's subject-access export (everything held about them).

Neutral wording throughout, from allowlist.wording: a device *looked up* a platform's name
(refused), or *connected to* it only where traffic reached it; likely-opened episodes first,
background apart, the lookups themselves in the appendix and the lookups CSV; times in
Europe/London.
"""
