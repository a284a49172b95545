"""The report pages and the HTML and PDF drawn from a report document built by
api.reports: ``render`` (Jinja2 templates, print CSS, WeasyPrint's tagged PDF), ``timeline``
(server-side SVG geometry; presentation attributes only, the CSP forbids inline styles) and
``routes`` (the pages, the verify-by-upload page and the HTML/PDF downloads).

Neutral wording throughout, from allowlist.wording; likely-opened episodes first, background
apart, every lookup listed in the appendix; times in Europe/London.
"""
