"""``chamberguard wifi keys``: one Wi-Fi passphrase per member, hostapd's key file, rotation.

Registered into the ``chamberguard`` program by :func:`register`. Thin: parse, call
api.wifi.service, write the file, print. Passphrases are printed only with ``--show``
(IT prints slips from the Wi-Fi keys page instead).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    wifi = sub.add_parser("wifi", help="per-member Wi-Fi keys (hostapd wpa_psk_file)"
                          ).add_subparsers(dest="wifi_command", required=True)
    k = wifi.add_parser(
        "keys", help="a key for every active member; write hostapd's wpa_psk_file",
        description="Generate a strong passphrase for every active member who has none, "
        "rotate on request, and write hostapd's wpa_psk_file (keyid= per member). With "
        "[identity] hostapd_ctrl set, the gate tells hostapd to re-read the file within "
        "a few seconds.")
    k.add_argument("--rotate", metavar="MEMBER", action="append", default=[],
                   help="new passphrase for this member (name); repeatable")
    k.add_argument("--rotate-all", action="store_true", help="new passphrase for everyone")
    k.add_argument("--psk-file", type=Path,
                   help="where to write (default: [identity] wpa_psk_file)")
    k.add_argument("--show", action="store_true", help="print the passphrases too")
    k.add_argument("--json", action="store_true")
    k.add_argument("--actor", default="cli")
    k.set_defaults(func=cmd_keys)


def cmd_keys(args: argparse.Namespace) -> int:
    from api.cli_support import CliError
    from api.cli_support import ctx as _ctx
    from api.members.service import get_member
    from api.wifi.service import ensure_keys, psk_file_text
    from monitor.identity import pskfile

    settings, db = _ctx(args)
    path = args.psk_file or settings.identity.wpa_psk_file
    with db.session() as s:
        ids = [get_member(s, name=name).id for name in args.rotate]
        views = ensure_keys(s, actor=args.actor, rotate=ids, rotate_all=args.rotate_all)
        text = psk_file_text(s)
        try:
            written = pskfile.write(path, text)
        except OSError as exc:  # nothing committed: keys and file stay in step
            raise CliError(f"could not write {path}: {exc}") from None
    # Telling hostapd is the gate's job (its identity service re-reads the keys every few
    # seconds and asks hostapd to reload when they changed): this command never talks to it.
    reload = ("the gate asks hostapd to re-read the file within a few seconds"
              if written and settings.identity.hostapd_ctrl else None)
    rows = [{k: v for k, v in asdict(v).items() if args.show or k != "passphrase"}
            for v in views]
    if args.json:
        print(json.dumps({"psk_file": str(path), "written": written, "hostapd_reload": reload,
                          "keys": rows}, indent=2))
        return 0
    for r in rows:
        state = r["changed"] or ("kept" if r["key_id"] else "no key (inactive)")
        secret = f"  {r['passphrase']}" if args.show and r.get("passphrase") else ""
        print(f"{r['key_id'] or '-':<8} {state:<18} {r['member']}{secret}")
    print(f"{path}: {'written' if written else 'unchanged'}"
          + (f"; hostapd: {reload}" if reload else ""))
    return 0
