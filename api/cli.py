"""The web side's record-keeping commands (database, users, members, devices, meetings,
learn mode, explain). Thin: parse, call a service, print.

dashboard/main/cli.py composes them with the gate's and the dashboard's commands into the
one ``chamberguard`` program; each ``register_*`` adds its commands to the subparsers.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from allowlist.clock import ClerkAction, to_london
from allowlist.macs import MacError, normalise_mac
from allowlist.names import DomainError, normalise_domain
from api.cli_support import CliError, ctx, parse_time
from api.meetings.cli import register as register_meetings_cli
from api.members.roster_cli import register as register_roster_cli

_ctx = ctx  # kept short: every command starts with it


# -- commands ------------------------------------------------------------------------------
def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings, _ = _ctx(args)  # ctx brings the schema to head
    print(f"database at revision head ({settings.database_url.split('://')[0]})")
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    from api.users.service import create_user

    settings, db = _ctx(args)
    password = args.password
    if password is None:
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass()
    with db.session() as s:
        u = create_user(s, username=args.username, password=password, role=args.role, actor="cli")
        print(json.dumps({"id": u.id, "username": u.username, "role": u.role}))
    return 0


def cmd_token_add(args: argparse.Namespace) -> int:
    from api.users.service import create_token

    _, db = _ctx(args)
    with db.session() as s:
        print(create_token(s, username=args.username, name=args.name, actor="cli"))
    return 0


def cmd_member_add(args: argparse.Namespace) -> int:
    from api.members.service import create_member

    _, db = _ctx(args)
    with db.session() as s:
        m = create_member(s, name=args.name, email=args.email, actor="cli")
        print(json.dumps({"id": m.id, "name": m.name}))
    return 0


def cmd_member_code(args: argparse.Namespace) -> int:
    """A one-time registration code (DESIGN §11), printed this once: only its hash is kept."""
    from api.registration.service import issue_code, slip_urls

    settings, db = _ctx(args)
    with db.session() as s:
        c = issue_code(s, name=args.name, hours=args.hours, actor="cli")
    # Printed after the commit: a code that was shown must exist. Expiry in UK time; the
    # slip's links: where to register, and the notice that says what registering means.
    from api.registration.service import registration_address

    links = slip_urls(settings.web.registration_host or settings.chamber.gate_address,
                      settings.web.registration_port)
    print(json.dumps({"member_id": c.member_id, "member": c.member, "code": c.code,
                      "expires_at": to_london(c.expires_at).isoformat(),
                      "address": registration_address(settings), **links}))
    return 0


def cmd_device_add(args: argparse.Namespace) -> int:
    from api.devices.service import register_device
    from api.members.service import get_member

    _, db = _ctx(args)
    with db.session() as s:
        member_id = get_member(s, name=args.member).id if args.member else None
        d = register_device(s, mac=args.mac, member_id=member_id, label=args.label, actor="cli")
        print(
            json.dumps(
                {"id": d.id, "mac": d.mac, "member_id": d.member_id, "randomised": d.randomised}
            )
        )
    return 0


def cmd_meetings_add(args: argparse.Namespace) -> int:
    from api.meetings.service import create_meeting

    _, db = _ctx(args)
    start = parse_time(args.start)
    end = parse_time(args.end) if args.end else start + timedelta(hours=3)
    with db.session() as s:
        m = create_meeting(s, title=args.title, start=start, end=end, room=args.room, actor="cli")
        print(
            json.dumps(
                {
                    "id": m.id,
                    "title": m.title,
                    "start": m.start.isoformat(),
                    "end": m.end.isoformat(),
                }
            )
        )
    return 0


def cmd_meetings_list(args: argparse.Namespace) -> int:
    from api.meetings.service import list_meetings, meeting_dict

    settings, db = _ctx(args)
    grace = timedelta(minutes=settings.policy.grace_minutes)
    with db.session() as s:
        listed = list_meetings(s)
        rows = [meeting_dict(m, grace=grace) for m in listed]
        times = [(to_london(m.start), to_london(m.end)) for m in listed]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:  # what the clerk's watch says (UK time, BST or GMT named)
        for r, (start, end) in zip(rows, times, strict=True):
            print(f"{r['id']:>5}  {start:%a %d %b %Y %H:%M}–{end:%H:%M %Z}  "
                  f"{r['state']:<11} {r['title']}")
    return 0


def _clerk(action: ClerkAction) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from api.meetings.service import clerk_action, meeting_dict

        settings, db = _ctx(args)
        grace = timedelta(minutes=settings.policy.grace_minutes)
        with db.session() as s:
            m = clerk_action(
                s, meeting_id=args.meeting_id, action=action, actor=args.actor, grace=grace,
                settings=settings,
            )
            print(json.dumps(meeting_dict(m, grace=grace)))
        return 0

    return run


def cmd_explain(args: argparse.Namespace) -> int:
    from monitor.store.policy_loader import load_policy

    settings, db = _ctx(args)
    try:
        domain = normalise_domain(args.domain)
        mac = normalise_mac(args.device) if args.device else None
    except (DomainError, MacError) as exc:
        raise CliError(str(exc)) from None
    at = parse_time(args.at) if args.at else datetime.now(UTC)
    with db.session() as s:
        policy = load_policy(s, settings, at)
    decision = policy.decide(domain, mac, at)
    out: dict[str, Any] = decision.as_dict()
    out["at"] = at.isoformat()
    out["device"] = mac
    out["mode"] = policy.mode.value
    out["platform_name"] = policy.platform_name(decision.platform)
    print(json.dumps(out, indent=2))
    return 0


def cmd_learn_start(args: argparse.Namespace) -> int:
    from api.learn.service import start_learning

    _, db = _ctx(args)
    with db.session() as s:
        ls = start_learning(s, mac=args.mac, minutes=args.minutes, actor="cli")
        print(json.dumps({"session": ls.id, "until": ls.until.isoformat()}))
    return 0


def cmd_learn_stop(args: argparse.Namespace) -> int:
    from api.learn.service import stop_learning

    _, db = _ctx(args)
    with db.session() as s:
        print(json.dumps({"stopped": stop_learning(s, mac=args.mac, actor="cli")}))
    return 0


def cmd_learn_proposals(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from api.learn.service import proposals
    from monitor.store.policy_loader import load_policy

    settings, db = _ctx(args)
    with db.session() as s:
        policy = load_policy(s, settings, datetime.now(UTC))
        props = proposals(s, policy=policy, session_id=args.session)
    if args.json:
        print(json.dumps([asdict(p) for p in props], indent=2))
        return 0
    for p in props:
        state = "allowed" if not p.proposed_rules else "NOT allowed"
        print(f"{p.registrable:<40} {p.lookups:>6} lookups  {state}")
        for rule in p.proposed_rules:
            kind = "exactly" if rule["exact"] else "and subdomains"
            print(f"    propose: {rule['domain']} ({kind})")
    return 0


# -- parser --------------------------------------------------------------------------------
def register_records(sub: Any) -> None:
    """``db``, ``user``, ``member``, ``device``, ``meetings`` and ``learn``."""
    db = sub.add_parser(
        "db", help="the database: bring its schema up to date",
    ).add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    user = sub.add_parser(
        "user", help="dashboard users and API tokens",
    ).add_subparsers(dest="user_command", required=True)
    ua = user.add_parser("add", help="create a user")
    ua.add_argument("username")
    ua.add_argument("--role", required=True)
    ua.add_argument("--password", help="(visible in the process list; prefer --password-stdin)")
    ua.add_argument("--password-stdin", action="store_true")
    ua.set_defaults(func=cmd_user_add)
    ut = user.add_parser("token", help="create an API token for a user")
    ut.add_argument("username")
    ut.add_argument("--name", default="automation")
    ut.set_defaults(func=cmd_token_add)

    member = sub.add_parser(
        "member", help="council members: add, registration codes, data export",
    ).add_subparsers(dest="member_command", required=True)
    ma = member.add_parser("add")
    ma.add_argument("name")
    ma.add_argument("--email")
    ma.set_defaults(func=cmd_member_add)
    mcode = member.add_parser("code", help="one-time code for the member to register a device")
    mcode.add_argument("name")
    mcode.add_argument("--hours", type=int, default=24, help="how long the code can be used")
    mcode.set_defaults(func=cmd_member_code)
    register_roster_cli(member)

    device = sub.add_parser(
        "device", help="register a member's device by its Wi-Fi (MAC) address",
    ).add_subparsers(dest="device_command", required=True)
    da = device.add_parser("add")
    da.add_argument("mac")
    da.add_argument("--member", help="member name (omit for a known but unregistered device)")
    da.add_argument("--label", default="")
    da.set_defaults(func=cmd_device_add)

    meetings = sub.add_parser(
        "meetings", help="the meeting schedule and the clerk's actions",
    ).add_subparsers(dest="meetings_command", required=True)
    register_meetings_cli(meetings)
    mad = meetings.add_parser("add", help="a manual meeting")
    mad.add_argument("--title", required=True)
    mad.add_argument("--start", required=True, help="ISO 8601; local London time if no zone")
    mad.add_argument("--end")
    mad.add_argument("--room")
    mad.set_defaults(func=cmd_meetings_add)
    ml = meetings.add_parser("list")
    ml.add_argument("--json", action="store_true")
    ml.set_defaults(func=cmd_meetings_list)
    for action in ClerkAction:
        mc = meetings.add_parser(action.value, help=f"clerk: {action.value} a meeting")
        mc.add_argument("meeting_id", type=int)
        mc.add_argument("--actor", default="cli")
        mc.set_defaults(func=_clerk(action))

    learn = sub.add_parser(
        "learn", help="learn mode: which hosts does the agenda need?"
    ).add_subparsers(dest="learn_command", required=True)
    ls = learn.add_parser("start", help="record every name this device resolves for a while")
    ls.add_argument("mac")
    ls.add_argument("--minutes", type=int, default=30)
    ls.set_defaults(func=cmd_learn_start)
    lt = learn.add_parser("stop")
    lt.add_argument("mac")
    lt.set_defaults(func=cmd_learn_stop)
    lp = learn.add_parser("proposals", help="proposed rules, grouped by registrable domain")
    lp.add_argument("--session", type=int)
    lp.add_argument("--json", action="store_true")
    lp.set_defaults(func=cmd_learn_proposals)



def register_explain(sub: Any) -> None:
    ex = sub.add_parser("explain", help="why a name is allowed or refused (JSON)")
    ex.add_argument("domain")
    ex.add_argument("--device", help="MAC address")
    ex.add_argument("--at", help="ISO 8601 time (default now)")
    ex.set_defaults(func=cmd_explain)
