"""Report, evidence and data-protection commands, registered by :func:`register`:

    chamberguard report MEETING_ID --format html|pdf|csv|json|lookups [-o FILE]
    chamberguard report member NAME --from DATE --to DATE [--format …] [-o FILE]
    chamberguard report site --from DATE --to DATE [--format …] [-o FILE]
    chamberguard report verify FILE [--public-key PEM] [--json]
    chamberguard verify-chain [--json]
    chamberguard purge [--json]
    chamberguard member export NAME --format json|csv [-o FILE]

Thin, like the other command modules: parse, call api.reports.service, write or print.
Exit status: 0 done / intact, 1 a verification failed (the reason on stderr; "ALTERED" when
the file is intact but the events behind it were changed), 2 an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from api.cli_support import CliError, ctx
from api.reports.formats import DATA_FORMATS, Renderer
from api.reports.times import uk_text

FORMATS = ("html", "pdf", "csv", "json", "lookups")  # lookups: the per-lookup CSV


def _subparsers(parser: argparse.ArgumentParser) -> Any:
    for action in parser._actions:  # argparse has no public accessor for these
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def register(sub: Any, *, render: Renderer | None = None) -> None:
    """Add ``report``, ``verify-chain``, ``purge`` and ``member export``; ``render``: what
    draws HTML and PDF (the dashboard's renderer, passed in by the entry point)."""
    rp = sub.add_parser(
        "report", help="compliance reports (meeting, member, site) and their verification",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="chamberguard report MEETING_ID --format html|pdf|csv|json|lookups "
        "[-o FILE]\n(lookups: one row per lookup, UK time, signed like the others)\n"
        "chamberguard report member NAME --from YYYY-MM-DD --to YYYY-MM-DD [...]\n"
        "chamberguard report site --from YYYY-MM-DD --to YYYY-MM-DD [...]\n"
        "chamberguard report verify FILE\n\n"
        "Every report is signed with this installation's Ed25519 key (made on first use in "
        "<data_dir>/keys) and entered in the register of issued reports.")
    rp.add_argument("target", metavar="MEETING_ID|member|site|verify")
    rp.add_argument("name", nargs="?", metavar="NAME|FILE",
                    help="member name or id (report member), or the file (report verify)")
    rp.add_argument("--format", choices=FORMATS, default="html")
    rp.add_argument("-o", "--output", help="write to this file (default: standard output)")
    rp.add_argument("--from", dest="from_date", help="start day YYYY-MM-DD (London), or ISO time")
    rp.add_argument("--to", dest="to_date", help="last day YYYY-MM-DD (included), or ISO time")
    rp.add_argument("--public-key", help="report verify: check against this public key (PEM) "
                    "instead of this installation's")
    rp.add_argument("--json", action="store_true", help="report verify: the result as JSON")
    rp.add_argument("--actor", default="cli")
    rp.set_defaults(func=cmd_report, render=render)

    vc = sub.add_parser("verify-chain", help="check the events' hash chain in the database")
    vc.add_argument("--json", action="store_true")
    vc.set_defaults(func=cmd_verify_chain)

    pg = sub.add_parser("purge", help="delete data past its retention period (recorded)")
    pg.add_argument("--json", action="store_true")
    pg.add_argument("--actor", default="cli")
    pg.set_defaults(func=cmd_purge)

    member = sub.choices.get("member")
    msub = _subparsers(member) if member is not None else None
    if msub is None:
        msub = sub.add_parser("member").add_subparsers(dest="member_command", required=True)
    ex = msub.add_parser("export", help="subject-access export: everything held about a member")
    ex.add_argument("name", help="member name or id")
    ex.add_argument("--format", choices=("json", "csv"), default="json")
    ex.add_argument("-o", "--output")
    ex.add_argument("--actor", default="cli")
    ex.set_defaults(func=cmd_member_export)


def _write(data: bytes, output: str | None) -> None:
    if output:
        Path(output).write_bytes(data)
        print(f"wrote {output} ({len(data)} bytes)", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def cmd_report(args: argparse.Namespace) -> int:
    from api.reports import service

    target = args.target
    if target == "verify":
        return _verify(args)
    settings, db = ctx(args)
    params: dict[str, Any]
    if target.isdigit():
        kind, params = "meeting", {"meeting_id": int(target)}
    elif target in ("member", "site"):
        if not (args.from_date and args.to_date):
            raise CliError(f"report {target} needs --from and --to")
        lo, hi = service.period(args.from_date, args.to_date)
        kind, params = target, {"since": lo, "until": hi}
        if target == "member":
            if not args.name:
                raise CliError("report member needs the member's name (or id)")
            params["member"] = args.name
    else:
        raise CliError(f"{target!r}: expected a meeting id, 'member', 'site' or 'verify'")
    render = getattr(args, "render", None)
    if render is None and args.format not in DATA_FORMATS:
        raise CliError(f"{args.format} reports are drawn by the dashboard, which this command "
                       "was built without")
    _, data = service.report_file(db=db, settings=settings, kind=kind, fmt=args.format,
                                  actor=args.actor, **params,
                                  **({"render": render} if render is not None else {}))
    _write(data, args.output)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from api.reports import service
    from monitor.settings import load_settings
    from monitor.store.db import Database

    if not args.name:
        raise CliError("report verify needs the report file")
    try:
        data = Path(args.name).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {args.name}: {exc.strerror}") from None
    settings = load_settings(args.config)
    # The database is consulted if there is one (register, chain) — never created or
    # migrated: verifying a file must work on any machine.
    url = settings.database_url
    db: Database | None = None
    if not url.startswith("sqlite") or Path(url.split("///", 1)[-1]).exists():
        db = Database(url)
    key = Path(args.public_key) if args.public_key else None
    v = service.verify_file(data=data, settings=settings, db=db, public_key=key)
    if args.json:
        print(json.dumps(v.as_dict(), indent=2))
    else:
        if v.ok:
            print(f"OK: {v.reason}")
        elif v.altered:
            print(v.reason, file=sys.stderr)  # begins "ALTERED:"
        else:
            print(f"FAILED: {v.reason}", file=sys.stderr)
        if v.ok:
            sig = v.signature
            print(f"  {sig.get('kind')} report {sig.get('report_id')} ({sig.get('format')}), "
                  f"{sig.get('subject')}, generated {uk_text(str(sig.get('generated_at') or ''))}")
        for line in v.details:
            print(f"  {line}")
    return 0 if v.ok else 1


def cmd_verify_chain(args: argparse.Namespace) -> int:
    from api.reports import service

    settings, db = ctx(args)
    rep = service.verify_events(db=db, settings=settings)
    if args.json:
        print(json.dumps(rep.as_dict(), indent=2))
    elif rep.ok:
        span = f"events {rep.first_id}–{rep.last_id}" if rep.first_id else "no events yet"
        print(f"OK: {rep.checked} chained events verified ({span}); head "
              f"{rep.head_hash[:16]}…, anchor {rep.anchor_hash[:16]}…")
        for n in rep.notes:
            print(f"  {n}")
    else:
        assert rep.problem is not None
        bad = rep.problem.event_id
        print(f"FAILED at event {bad}: {rep.problem.reason}" if bad is not None
              else f"FAILED: {rep.problem.reason}", file=sys.stderr)
        print(f"  {rep.checked} events verified before it", file=sys.stderr)
    return 0 if rep.ok else 1


def cmd_purge(args: argparse.Namespace) -> int:
    from api.reports import service

    settings, db = ctx(args)
    res = service.run_purge(db=db, settings=settings, actor=args.actor)
    if args.json:
        print(json.dumps(res.as_dict(), indent=2))
        return 0
    print(f"events older than {uk_text(res.events_cutoff)}: {res.events_deleted} "
          f"deleted" + (f" (ids {res.first_event_id}–{res.last_event_id})"
                        if res.events_deleted else ""))
    if res.late_events_kept:
        print(f"  {res.late_events_kept} expired events kept: written after newer ones, they "
              "go when the events before them expire (the chain stays whole)")
    print(f"issued-report register entries older than {res.reports_cutoff:%Y-%m-%d}: "
          f"{res.reports_deleted} deleted")
    print(f"unregistered devices not seen since the cut-off: {res.devices_deleted} deleted")
    print(f"chain anchor: {res.anchor_hash}" + (f" (purge record {res.purge_id})"
                                                 if res.purge_id else ""))
    return 0


def cmd_member_export(args: argparse.Namespace) -> int:
    from api.reports import service

    settings, db = ctx(args)
    _, data = service.subject_access(db=db, settings=settings, member=args.name,
                                     fmt=args.format, actor=args.actor)
    _write(data, args.output)
    return 0
