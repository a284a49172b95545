"""``chamberguard member import [FILE|URL]``: the councillors from modern.gov; and
``chamberguard member login NAME [LOGIN]``: the member's Wi-Fi login for RADIUS accounting.

Registered into the ``chamberguard`` program's ``member`` subcommands. Without a target,
the configured ``[meetings] moderngov_url`` site is asked.
Nothing is written unless the whole roster reads.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(member: Any) -> None:
    imp = member.add_parser(
        "import", help="import councillors from modern.gov (GetCouncillorsByWard)",
        description="Upsert members from a modern.gov GetCouncillorsByWard answer: a file, "
        "a site URL, or (no target) [meetings] moderngov_url. All or nothing; importing "
        "twice changes nothing; members missing from the roster are listed, not removed.")
    imp.add_argument("target", nargs="?", metavar="FILE|URL")
    imp.add_argument("--dry-run", action="store_true", help="check and report, change nothing")
    imp.add_argument("--json", action="store_true")
    imp.add_argument("--actor", default="cli")
    imp.set_defaults(func=cmd_import)
    login = member.add_parser(
        "login", help="the member's Wi-Fi (802.1X) login, when it is not their email",
        description="RADIUS accounting names a device's user (User-Name); the gate matches it "
        "to this login, then to the member's email.")
    login.add_argument("name", help="member name")
    login.add_argument("login", nargs="?", help="omit to clear")
    login.add_argument("--actor", default="cli")
    login.set_defaults(func=cmd_login)


def cmd_login(args: argparse.Namespace) -> int:
    from api.cli_support import ctx as _ctx
    from api.members.service import get_member, set_radius_user

    _, db = _ctx(args)
    with db.session() as s:
        m = set_radius_user(s, member_id=get_member(s, name=args.name).id, login=args.login,
                            actor=args.actor)
        print(json.dumps({"id": m.id, "name": m.name, "radius_user": m.radius_user}))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from api.cli_support import CliError
    from api.cli_support import ctx as _ctx
    from api.errors import ServiceError
    from api.meetings.sources.model import SourceError
    from api.members.roster import fetch_roster, import_roster, parse_roster

    settings, db = _ctx(args)
    target = args.target or settings.meetings.moderngov_url
    if not target:
        raise CliError("name a file or URL, or set [meetings] moderngov_url")
    try:
        if target.lower().startswith(("http://", "https://")):
            roster = fetch_roster(target, timeout=settings.meetings.timeout_seconds)
        else:
            try:
                data = Path(target).read_bytes()
            except OSError as exc:
                raise SourceError(f"cannot read the file: {exc.strerror}", where=target) from None
            try:
                roster = parse_roster(data)
            except SourceError as exc:
                raise exc.within(target) from exc
    except SourceError as exc:
        details = getattr(exc, "details", None) or []
        raise CliError("nothing imported: " + ("\n  ".join([str(exc), *details[1:]]))) from None
    try:
        with db.session() as s:
            out = import_roster(s, councillors=roster, actor=args.actor,
                                dry_run=args.dry_run).as_dict()
    except ServiceError as exc:
        raise CliError("\n  ".join([exc.message, *(exc.details or [])])) from None
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    verb = "would be" if out["dry_run"] else ""
    print(f"created {len(out['created'])}, updated {len(out['updated'])}, unchanged "
          f"{out['unchanged']}{' (dry run: nothing ' + verb + ' written)' if verb else ''}")
    for name in out["created"]:
        print(f"  new      {name}")
    for name in out["updated"]:
        print(f"  updated  {name}")
    for name in out["not_in_roster"]:
        print(f"  not in roster (kept) {name}")
    return 0
