"""The ``chamberguard`` command. Subcommands are thin: parse, call a service, print."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from allowlist.clock import ClerkAction, to_london
from allowlist.macs import MacError, normalise_mac
from allowlist.names import DomainError, normalise_domain
from api.cli_support import CliError, ctx, parse_time
from api.errors import ServiceError
from api.meetings.cli import register as register_meetings_cli
from api.members.roster_cli import register as register_roster_cli
from api.ops_cli import register as register_ops_cli
from api.privacy.cli import register as register_privacy_cli
from api.reports.cli import register as register_reports_cli
from api.wifi.cli import register as register_wifi_cli
from monitor.settings import ConfigError, Settings
from monitor.store.db import Database

log = logging.getLogger("chamberguard")


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
    from dashboard.slip import registration_address

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


def cmd_replay(args: argparse.Namespace) -> int:
    """A capture file through the same parsing and classification as the live sensor."""
    from monitor.capture.replay import ReplayError, replay_jsonl
    from monitor.store.policy_loader import load_policy

    settings, db = _ctx(args)
    with db.session() as s:
        policy = load_policy(s, settings, datetime.now(UTC))

    def decide(domain: str) -> tuple[str | None, str | None]:
        rule, category = policy.classify(domain)
        return category.value, rule.platform if rule is not None else None

    try:
        n = replay_jsonl(args.pcap, sys.stdout, decide=decide)
    except (ReplayError, OSError) as exc:
        raise CliError(f"cannot replay {args.pcap}: {exc}") from None
    print(f"{n} observations", file=sys.stderr)
    return 0


def cmd_gate(args: argparse.Namespace) -> int:
    """`gate`: the guard, which runs `gate --worker` and fails open if it dies.
    `gate --fail-open`: install the fail-open table and exit (systemd ExecStopPost)."""
    from monitor.daemon import GateDaemon, table_spec
    from monitor.guard import Guard, fail_open, record_outage, worker_command
    from monitor.nft.enforcer import Enforcer

    settings, db = _ctx(args)
    if args.sensor:
        from monitor.sensor import sensor_main

        return sensor_main(settings, db)
    spec = table_spec(settings)
    if args.fail_open:
        if spec is not None:
            fail_open(settings, Enforcer(spec))
        record_outage(db, settings.site.room, "gate service stopped; the chamber failed open")
        print("fail-open table installed: nobody restricted, DNS forwarded upstream")
        return 0
    if args.worker:
        _use_uvloop()
        asyncio.run(GateDaemon(settings, db, config_path=args.config).run())
        return 0
    guard = Guard(
        settings,
        db,
        worker_command(args.config),
        Enforcer(spec) if spec is not None else None,
        hang_seconds=args.hang_seconds,
    )
    return guard.run()


def _web_server(settings: Settings, db: Database, host: str, port: int) -> Any:
    import uvicorn

    from api.app import create_app

    return uvicorn.Server(uvicorn.Config(create_app(settings, db), host=host, port=port,
                                         log_level="warning",
                                         # forwarded headers: api.middleware.TrustedProxies
                                         proxy_headers=False))


def _registration_server(settings: Settings, db: Database) -> Any:
    """A second listener with only the registration pages, when configured."""
    if not settings.web.registration_host:
        return None
    import uvicorn

    from api.app import create_registration_app

    return uvicorn.Server(uvicorn.Config(
        create_registration_app(settings, db), host=settings.web.registration_host,
        port=settings.web.registration_port, log_level="warning", proxy_headers=False))


async def _serve_web(settings: Settings, db: Database, server: Any) -> None:
    """The web app with what runs beside it: the periodic meeting sync, the daily retention
    purge and, when configured, the chamber-side registration listener.

    These live with the web process, not the gate: plain HTTP and database work, and the gate
    reads everything it needs from the database whether or not this process is up.
    """
    from api.meetings.sync import run_periodic_sync
    from api.reports.service import after_purge
    from api.site.conditions import watch_conditions
    from monitor.evidence.retention import run_daily_purge

    stop = asyncio.Event()
    jobs = [asyncio.create_task(run_periodic_sync(settings, db, stop)),
            asyncio.create_task(watch_conditions(settings, db, stop)),
            asyncio.create_task(run_daily_purge(
                settings, db, stop, after=lambda res: after_purge(db, settings, res)))]
    extra = _registration_server(settings, db)
    if extra is not None:
        jobs.append(asyncio.create_task(extra.serve()))
    try:
        await server.serve()
    finally:
        stop.set()
        if extra is not None:
            extra.should_exit = True
        await asyncio.gather(*jobs, return_exceptions=True)


def cmd_web(args: argparse.Namespace) -> int:
    """The unprivileged web app (dashboard, API) and its periodic jobs."""
    settings, db = _ctx(args)
    if args.registration_only:  # a process on the chamber side: never the staff login
        reg = _registration_server(settings, db)
        if reg is None:
            raise CliError("--registration-only needs [web] registration_host")
        try:
            asyncio.run(reg.serve())
        except KeyboardInterrupt:
            pass
        return 0
    if args.no_registration:
        settings.web.registration_host = ""
    server = _web_server(settings, db, args.host or settings.web.host,
                         args.port or settings.web.port)
    try:
        asyncio.run(_serve_web(settings, db, server))
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C once it has shut down cleanly
        pass
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Gate and web in one process (small installs). With no Wi-Fi interface configured,
    the simulated chamber (the demo) instead."""
    from monitor.daemon import GateDaemon

    settings, db = _ctx(args)
    if settings.simulated:  # no Wi-Fi interface: the demo chamber
        from api.ops_cli import demo_for_run

        return demo_for_run(settings)
    server = _web_server(settings, db, settings.web.host, settings.web.port)

    async def both() -> None:
        gate = GateDaemon(settings, db, config_path=args.config)
        task = asyncio.create_task(gate.run())
        try:
            await _serve_web(settings, db, server)
        finally:
            gate.stop()
            await task

    _use_uvloop()
    try:
        asyncio.run(both())
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C once it has shut down cleanly
        pass
    return 0


def _use_uvloop() -> None:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover
        pass


# -- parser --------------------------------------------------------------------------------
def _render_report(doc: dict[str, Any], fmt: str) -> bytes:
    """HTML and PDF reports are drawn by the dashboard; the entry point composes it in."""
    from dashboard.reports.render import body

    return body(doc, fmt)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chamberguard",
        description="Keeps members' registered devices on the chamber Wi-Fi to the agenda and "
        "webcast during meetings, and records attempts to reach social platforms. "
        "Run 'chamberguard COMMAND --help' for a command's options.",
        epilog="Times are shown in UK time. The configuration file is TOML; see "
        "deploy/chamberguard.toml for every setting.")
    p.add_argument(
        "--config",
        default=os.environ.get("CHAMBERGUARD_CONFIG"),
        help="TOML config file (default: $CHAMBERGUARD_CONFIG)",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="gate and web in one process").set_defaults(func=cmd_run)
    g = sub.add_parser("gate", help="the privileged gateway daemon (guard + worker)")
    g.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    g.add_argument("--sensor", action="store_true", help=argparse.SUPPRESS)
    g.add_argument(
        "--fail-open",
        action="store_true",
        help="install the fail-open table and exit (service manager's stop hook)",
    )
    g.add_argument(
        "--hang-seconds",
        type=float,
        default=8.0,
        help="kill and fail open if the worker's loop stalls this long",
    )
    g.set_defaults(func=cmd_gate)
    w = sub.add_parser("web", help="the unprivileged web app")
    w.add_argument("--host")
    w.add_argument("--port", type=int)
    reg = w.add_mutually_exclusive_group()
    reg.add_argument("--registration-only", action="store_true",
                     help="serve only the members' registration page on [web] "
                     "registration_host (run it where the chamber's address is)")
    reg.add_argument("--no-registration", action="store_true",
                     help="do not start the registration listener here")
    w.set_defaults(func=cmd_web)

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

    rp = sub.add_parser("replay", help="run a pcap through the passive monitor")
    rp.add_argument("pcap")
    rp.add_argument("--jsonl", action="store_true", required=True,
                    help="one JSON object per observation (the only format)")
    rp.set_defaults(func=cmd_replay)

    ex = sub.add_parser("explain", help="why a name is allowed or refused (JSON)")
    ex.add_argument("domain")
    ex.add_argument("--device", help="MAC address")
    ex.add_argument("--at", help="ISO 8601 time (default now)")
    ex.set_defaults(func=cmd_explain)
    register_ops_cli(sub)
    register_reports_cli(sub, render=_render_report)
    register_privacy_cli(sub)
    register_wifi_cli(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"chamberguard: configuration error:\n{exc}", file=sys.stderr)
        return 2
    except (CliError, ServiceError) as exc:
        print(f"chamberguard: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
