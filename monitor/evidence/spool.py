"""The durable event spool: append-only segment files in the data directory.

Why a file and not just the database: the gate must never wait on the database, yet an event
it has accepted must survive ``kill -9`` or a power cut. So the writer appends each batch here
and fsyncs it *before* calling the batch durable ("acknowledged"); only then does the batch go
to the database. On start, segments left by an earlier run are replayed — rows carry a unique
``uid``, so replaying rows that did reach the database is harmless.

Format (text, greppable; format version and field order in the first line of every segment)::

    #chamberguard-spool/2 uid,ts,kind,...                       header
    1a2b3c4d 3 [["9f..-1","2026-03-04 19:00:00.000000",…],…]     one line per batch

A batch line is: CRC-32 (hex) of the JSON, space, row count, space, a JSON array of rows (each
an array in header order). One line per batch — one ``json.dumps`` and one CRC for thousands
of rows — because per-row framing cost more than the database insert it protects. A batch line
without its newline is a write cut short, never acknowledged, and is not replayed; a complete
line whose CRC does not match is damaged: its rows are counted and reported, never silently
skipped.

Segments are named ``<boot>-<n>.spool``; the writer rotates to a new segment every ~4 MiB
and deletes a closed segment once all its rows are committed, so a restart re-offers at most
about one segment plus whatever had not reached the database.
One process owns a spool directory at a time (``flock`` on ``.lock``).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAGIC = "#chamberguard-spool/2"
SUFFIX = ".spool"


class SpoolBusy(RuntimeError):
    """Another live process owns this spool directory (two gates configured for one room?)."""


def encode_batch(rows: Sequence[Sequence[Any]], encoded: Sequence[str] | None = None) -> bytes:
    """One batch line. ``encoded``: each row's compact JSON already made (the writer makes
    it once for the spool and the hash chain alike); the line is the same either way."""
    if encoded is None:
        text = json.dumps(rows, separators=(",", ":"))  # ASCII: \u-escapes, no newlines
    else:
        if len(encoded) != len(rows):
            raise ValueError("one encoded row per row")
        text = "[" + ",".join(encoded) + "]"
    body = text.encode()
    return b"%08x %d %s\n" % (zlib.crc32(body), len(rows), body)


def decode_batch(line: bytes) -> tuple[list[list[Any]] | None, int]:
    """(rows, count) of one complete line; rows is None if the line is damaged, and count
    is then what the line claims (1 if even that is unreadable)."""
    head, _, rest = line.partition(b" ")
    n_raw, _, body = rest.partition(b" ")
    try:
        count = int(n_raw)
    except ValueError:
        count = 1
    if len(head) != 8 or not body.endswith(b"\n"):
        return None, count
    body = body[:-1]
    try:
        if int(head, 16) != zlib.crc32(body):
            return None, count
        rows = json.loads(body)
    except ValueError:
        return None, count
    if not isinstance(rows, list) or len(rows) != count:
        return None, count
    return rows, count


@dataclass
class SegmentContents:
    fields: tuple[str, ...]
    rows: list[list[Any]]  # values in ``fields`` order
    damaged: int = 0  # rows in complete lines that failed their CRC or did not parse
    torn: bool = False  # the last line had no newline: a write cut short, never acknowledged


def read_segment(path: Path) -> SegmentContents:
    with path.open("rb") as f:
        data = f.read()
    lines = data.splitlines(keepends=True)
    if not lines or not lines[0].startswith(MAGIC.encode()) or not lines[0].endswith(b"\n"):
        # Not even a whole header: the segment was created and the process died at once.
        return SegmentContents((), [], 0, bool(data))
    fields = tuple(lines[0].decode().split(" ", 1)[1].strip().split(","))
    out = SegmentContents(fields, [])
    for line in lines[1:]:
        if not line.endswith(b"\n"):
            out.torn = True
            continue
        rows, count = decode_batch(line)
        if rows is None:
            out.damaged += count
            continue
        for r in rows:
            if isinstance(r, list) and len(r) == len(fields):
                out.rows.append(r)
            else:
                out.damaged += 1
    return out


@dataclass
class _Segment:
    path: Path
    last_seq: int = 0
    size: int = 0


class Spool:
    """Owned by one writer: ``append`` from its flusher thread, ``committed`` from its
    database thread. Neither is ever called on the DNS hot path."""

    def __init__(self, directory: Path, fields: Sequence[str], boot: str, *,
                 rotate_bytes: int = 4 << 20) -> None:
        self.dir = Path(directory)
        self.fields = tuple(fields)
        self.boot = boot
        self.rotate_bytes = rotate_bytes
        self._lock = threading.Lock()
        self._lockfile: int | None = None
        self._closed: list[_Segment] = []
        self._cur: _Segment | None = None
        self._fh: Any = None
        self._n = 0
        self._committed = 0
        self.bytes_written = 0
        self.appends = 0  # fsynced batches

    # -- ownership -------------------------------------------------------------------
    def open(self) -> list[Path]:
        """Take the directory and return the segments earlier runs left behind (to replay)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SpoolBusy(f"{self.dir} is in use by another process") from None
        self._lockfile = fd
        return sorted(p for p in self.dir.glob(f"*{SUFFIX}") if not p.name.startswith(self.boot))

    def close(self) -> None:
        """Close the current segment; delete every segment whose rows are all committed."""
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
            if self._cur is not None:
                self._closed.append(self._cur)
                self._cur = None
            self._delete_committed()
        if self._lockfile is not None:
            os.close(self._lockfile)
            self._lockfile = None

    # -- writing (flusher thread) -----------------------------------------------------
    def _new_segment(self) -> None:
        self._n += 1
        path = self.dir / f"{self.boot}-{self._n:06d}{SUFFIX}"
        fh = path.open("ab", buffering=0)
        header = f"{MAGIC} {','.join(self.fields)}\n".encode()
        fh.write(header)
        os.fsync(fh.fileno())
        dfd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dfd)  # the new name itself must survive a crash
        finally:
            os.close(dfd)
        self._fh = fh
        self._cur = _Segment(path, self._committed, len(header))

    def append(self, last_seq: int, rows: Sequence[Sequence[Any]],
               encoded: Sequence[str] | None = None) -> None:
        """Write rows (values in ``fields`` order) and fsync; durable when this returns.
        ``encoded``: the rows' compact JSON, if already made."""
        data = encode_batch(rows, encoded)
        with self._lock:
            cur = self._cur
            if cur is not None and cur.size >= self.rotate_bytes:
                self._fh.close()
                self._closed.append(cur)
                self._cur = None
                self._delete_committed()
            if self._cur is None:
                self._new_segment()
            assert self._cur is not None
            fh = self._fh
        # Write and fsync outside the lock: ``committed`` must not wait for the disk.
        fh.write(data)
        os.fsync(fh.fileno())
        with self._lock:
            if self._cur is not None:
                self._cur.size += len(data)
                self._cur.last_seq = last_seq
        self.bytes_written += len(data)
        self.appends += 1

    # -- committing (database thread) ------------------------------------------------
    def committed(self, seq: int) -> None:
        """Rows up to ``seq`` (this boot) are in the database; drop segments that are done."""
        with self._lock:
            self._committed = max(self._committed, seq)
            self._delete_committed()

    def _delete_committed(self) -> None:
        keep = []
        for seg in self._closed:
            if seg.last_seq <= self._committed:
                try:
                    seg.path.unlink()
                except FileNotFoundError:
                    pass
            else:
                keep.append(seg)
        self._closed = keep

    def discard(self, paths: Sequence[Path]) -> None:
        """Delete replayed segments of earlier runs once their rows are committed."""
        for p in paths:
            try:
                p.unlink()
            except FileNotFoundError:
                pass

    def segments(self) -> Iterator[Path]:
        return iter(sorted(self.dir.glob(f"*{SUFFIX}")))
