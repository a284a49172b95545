"""``chamberguard privacy``: the DPIA draft, the members' notice and the level in force.

    chamberguard privacy dpia [--format md|html|pdf] [-o FILE]
    chamberguard privacy notice [--format md|html|pdf] [-o FILE]
    chamberguard privacy level

Thin: gather the installation's facts (api.privacy.facts), render (dashboard.privacy.render),
write. Here, with the renderer, because the API never imports the dashboard.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from api.cli_support import ctx

FORMATS = ("md", "html", "pdf")


def register(sub: Any) -> None:
    p = sub.add_parser("privacy", help="DPIA draft, members' notice, privacy level in force")
    psub = p.add_subparsers(dest="privacy_command", required=True)
    for name, what in (("dpia", "a DPIA draft from this installation's configuration and "
                                "schema"),
                       ("notice", "the one-page notice for members")):
        c = psub.add_parser(name, help=what)
        c.add_argument("--format", choices=FORMATS, default="md")
        c.add_argument("-o", "--output", help="write to this file (default: standard output)")
        c.set_defaults(func=cmd_document, document=name)
    lv = psub.add_parser("level", help="the privacy level in force and its history")
    lv.set_defaults(func=cmd_level)


def cmd_document(args: argparse.Namespace) -> int:
    from api.privacy.facts import gather
    from dashboard.privacy import render

    settings, db = ctx(args)
    with db.session() as s:
        facts = gather(s, settings)
    data = (render.dpia if args.document == "dpia" else render.notice)(facts, args.format)
    if args.output:
        Path(args.output).write_bytes(data)
        print(f"wrote {args.output} ({len(data)} bytes)", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


def cmd_level(args: argparse.Namespace) -> int:
    from api.privacy.facts import gather

    settings, db = ctx(args)
    with db.session() as s:
        f = gather(s, settings)
    print(f"privacy level in force: {f.level} — {f.level_text}")
    for c in f.level_changes:
        print(f"  {c['at']:%Y-%m-%d %H:%M} UTC: {c['from'] or '(first set)'} -> {c['to']} "
              f"by {c['by']}")
    return 0
