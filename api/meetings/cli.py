"""``chamberguard meetings import|sync|committees|scope``: the schedule from the command line.

Registered into the ``chamberguard`` program's ``meetings`` subcommands by
:func:`register`. Commands are thin:
load settings and the database like every other command, call api.meetings.sync, print.
Source problems (unreadable file, HTML error page, bad XML/iCalendar, unreachable site) are
reported on stderr with exit status 2 and leave the database untouched: documents are parsed
before the transaction opens, and a failure inside it rolls everything back.
"""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime
from typing import Any

from api.meetings.sources.model import LONDON, MAX_YEAR, MIN_YEAR, SourceError, london_day


def register(meetings: Any) -> None:
    """Add the import/sync/committees/scope commands to the ``meetings`` subparsers."""
    imp = meetings.add_parser(
        "import", help="import meetings from a modern.gov XML or iCalendar file or URL",
        description="Import (upsert) the meetings in a modern.gov mgWebService answer or an "
        "iCalendar document; the format is detected. A file import never removes meetings.")
    imp.add_argument("target", metavar="FILE|URL")
    imp.add_argument("--from", dest="from_date", type=_date,
                     help="only meetings from this date (YYYY-MM-DD, London); bounds open-ended "
                     "recurring calendar events")
    imp.add_argument("--to", dest="to_date", type=_date,
                     help="only meetings up to this date (YYYY-MM-DD, London, inclusive)")
    imp.add_argument("--json", action="store_true")
    imp.add_argument("--actor", default="cli")
    imp.set_defaults(func=cmd_import)

    syn = meetings.add_parser(
        "sync", help="pull the configured window from [meetings] moderngov_url or ical_url")
    syn.add_argument("--json", action="store_true")
    syn.add_argument("--actor", default="cli")
    syn.set_defaults(func=cmd_sync)

    com = meetings.add_parser("committees", help="committees of imported meetings and scope")
    com.add_argument("--json", action="store_true")
    com.set_defaults(func=cmd_committees)

    sco = meetings.add_parser(
        "scope", help="choose whether a committee's meetings restrict devices",
        description="Override the scope rules for one committee (title or modern.gov id); "
        "applies to its existing and future meetings.")
    sco.add_argument("committee", metavar="COMMITTEE")
    which = sco.add_mutually_exclusive_group(required=True)
    which.add_argument("--in", dest="scope", action="store_const", const="in",
                       help="its meetings restrict members' devices")
    which.add_argument("--out", dest="scope", action="store_const", const="out",
                       help="its meetings never restrict")
    which.add_argument("--default", dest="scope", action="store_const", const="default",
                       help="drop the override; the scope rules decide again")
    sco.add_argument("--json", action="store_true")
    sco.add_argument("--actor", default="cli")
    sco.set_defaults(func=cmd_scope)


# A string const, not None: argparse may not count an option whose value equals the default
# as given, which would make "--default" fail the required group.
_SCOPES: dict[str, bool | None] = {"in": True, "out": False, "default": None}


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def cmd_import(args: argparse.Namespace) -> int:
    from api.cli_support import CliError
    from api.cli_support import ctx as _ctx
    from api.meetings.sources import detect
    from api.meetings.sync import import_meetings

    settings, db = _ctx(args)
    window = None
    if args.from_date or args.to_date:
        lo = london_day(args.from_date or date(MIN_YEAR, 1, 1))[0]
        hi = london_day(args.to_date or date(MAX_YEAR, 1, 1))[1]
        if hi <= lo:
            raise CliError("--to is before --from")
        window = (lo, hi)
    try:
        meetings = detect.load(args.target, window=window,
                               timeout=settings.meetings.timeout_seconds)
    except SourceError as exc:
        raise CliError(f"nothing imported: {exc}") from None
    with db.session() as s:
        result = import_meetings(s, meetings=meetings, settings=settings, actor=args.actor,
                                 source_label=args.target)
        out = result.as_dict()
    _print_result(out, as_json=args.json)
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from api.cli_support import CliError
    from api.cli_support import ctx as _ctx
    from api.meetings.sync import sync

    settings, db = _ctx(args)
    try:
        with db.session() as s:
            out = sync(s, settings=settings, actor=args.actor).as_dict()
    except SourceError as exc:
        raise CliError(f"nothing synced: {exc}") from None
    _print_result(out, as_json=args.json)
    return 0


def cmd_committees(args: argparse.Namespace) -> int:
    from api.cli_support import ctx as _ctx
    from api.meetings.sync import list_committees

    settings, db = _ctx(args)
    with db.session() as s:
        rows = [c.as_dict() for c in list_committees(s, settings=settings)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for c in rows:
        print(_committee_line(c))
    return 0


def cmd_scope(args: argparse.Namespace) -> int:
    from api.cli_support import ctx as _ctx
    from api.meetings.sync import set_committee_scope

    settings, db = _ctx(args)
    with db.session() as s:
        rows = [c.as_dict() for c in set_committee_scope(
            s, committee_title_or_id=args.committee, in_scope=_SCOPES[args.scope], actor=args.actor,
            settings=settings)]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for c in rows:
            print(_committee_line(c))
    return 0


def _committee_line(c: dict[str, Any]) -> str:
    scope = "in " if c["in_scope"] else "out"
    why = ("IT override" if c["override"] is not None
           else f"rule {c['rule']!r}" if c["rule"] else "no rule matches")
    ids = f" (id {', '.join(c['committee_ids'])})" if c["committee_ids"] else ""
    counts = f"{c['meetings']} meetings, {c['upcoming']} upcoming"
    return f"{scope}  {c['title']}{ids}  — {why}; {counts}"


def _print_result(out: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(out, indent=2))
        return
    counts = ", ".join(f"{k} {v}" for k, v in out["counts"].items())
    print(f"{out['source']}: {counts}")
    for m in out["meetings"]:
        start = datetime.fromisoformat(m["start"]).astimezone(LONDON)
        scope = "in scope" if m["in_scope"] else "not in scope"
        changed = f" [{', '.join(m['changed'])}]" if m["changed"] and m["outcome"] in (
            "updated", "cancelled") else ""
        print(f"  {m['outcome']:<9} {m['source']}:{m['source_id']:<12} "
              f"{start:%a %d %b %Y %H:%M %Z}  {m['title']}  ({m['status']}, {scope}, "
              f"room {m['room'] or '-'}){changed}")
