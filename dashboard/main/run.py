"""``chamberguard run``: the gate and the web app in one process (small installs). With no
Wi-Fi interface configured, the simulated chamber (the demo) instead.

Here, in the composition root, because it is the one place the gate (monitor) and the web
app (dashboard) meet in a process.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from monitor.cli_support import ctx, use_uvloop


def cmd_run(args: argparse.Namespace) -> int:
    from dashboard.cli import serve_web, web_server
    from monitor.daemon import GateDaemon

    settings, db = ctx(args)
    if settings.simulated:  # no Wi-Fi interface: the demo chamber
        from dashboard.main.demo import demo_for_run

        return demo_for_run(settings)
    server = web_server(settings, db, settings.web.host, settings.web.port)

    async def both() -> None:
        gate = GateDaemon(settings, db, config_path=args.config)
        task = asyncio.create_task(gate.run())
        try:
            await serve_web(settings, db, server)
        finally:
            gate.stop()
            await task

    use_uvloop()
    try:
        asyncio.run(both())
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C once it has shut down cleanly
        pass
    return 0


def register(sub: Any) -> None:
    sub.add_parser("run", help="gate and web in one process").set_defaults(func=cmd_run)
