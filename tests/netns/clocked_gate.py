"""A gate worker whose policy clock the test moves: ``python -m tests.netns.clocked_gate
CONFIG OFFSET_FILE``. The offset file holds seconds to add to the wall clock; the test
rewrites it to move the gate days forward while the same process keeps running."""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.cli_support import ctx
from monitor.daemon import GateDaemon


class OffsetClock:
    """Wall clock plus the offset the test last wrote (re-read when the file changes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime = -1.0
        self._offset = timedelta(0)

    def __call__(self) -> datetime:
        try:
            st = self.path.stat()
            if st.st_mtime_ns != self._mtime:
                self._mtime = st.st_mtime_ns
                self._offset = timedelta(seconds=float(self.path.read_text() or 0))
        except (OSError, ValueError):
            pass
        return datetime.now(UTC) + self._offset


def main() -> int:
    import argparse

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    config, offset_file = sys.argv[1], Path(sys.argv[2])
    settings, db = ctx(argparse.Namespace(config=config))
    asyncio.run(GateDaemon(settings, db, config_path=config, clock=OffsetClock(offset_file)).run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
