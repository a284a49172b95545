"""hostapd's ``wpa_psk_file``: one line per member key, ``keyid=<id> <mac> <passphrase>``.

The MAC 00:00:00:00:00:00 means "any station": a member's key works on every device they own,
and hostapd tells us (``keyid=``) which member's key each station used. Rendering is pure;
:func:`write` replaces the file atomically with owner-only permissions (it holds every key).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

ANY_STATION = "00:00:00:00:00:00"
HEADER = ("# chamberguard: per-member Wi-Fi keys (hostapd wpa_psk_file). Generated; do not edit:\n"
          "# `chamberguard wifi keys` rewrites it. One line per active member.\n")


class PskError(ValueError):
    """A key hostapd would refuse (its parser's rules, checked before the file is written)."""


def check_line(key_id: str, passphrase: str) -> None:
    if not key_id or len(key_id) > 32 or not all(c.isalnum() or c in "-_." for c in key_id):
        raise PskError(f"key id {key_id!r}: 1-32 letters, digits, '-', '_' or '.'")
    if not 8 <= len(passphrase) <= 63 or not all(32 < ord(c) < 127 for c in passphrase):
        raise PskError(f"key {key_id}: a passphrase is 8-63 printable ASCII characters, "
                       "without spaces")


def render(keys: Iterable[tuple[str, str]]) -> str:
    """``keys``: (key id, passphrase) pairs, in a stable order."""
    lines = [HEADER]
    for key_id, passphrase in keys:
        check_line(key_id, passphrase)
        lines.append(f"keyid={key_id} {ANY_STATION} {passphrase}\n")
    return "".join(lines)


def write(path: Path, text: str) -> bool:
    """Replace ``path`` with ``text`` (mode 0600) if it differs; True when it changed."""
    try:
        if path.read_text(encoding="ascii") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True
