"""Compliance reports as a domain service: per meeting, per member over a period (a
complaint), and a site summary, each one signed document drawn as HTML, PDF, CSV and JSON.

``builder``     reads the database once per report into one document (with ``times``,
                ``sessions``, ``outages``, ``conditions``, ``members``, ``evidence``,
                ``components``, ``method`` and the one read, ``query``);
``schemas``     the document's typed model (pydantic) and its published JSON schema;
``formats``     JSON, the CSV table (``tables``) and the per-lookup CSV, the signed file;
``signing``     the installation's Ed25519 key and the signature trailer of every format;
``service``     build, sign and register; subject access (``subject``); purge;
``verification`` verify a file and the evidence behind it, and the chain checkpoints;
``routes``      the JSON API; ``cli`` the commands.

HTML and PDF are drawn by the dashboard (dashboard.reports.render) from the same document
and passed in as a renderer: nothing here imports the dashboard.
"""
