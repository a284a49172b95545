"""The one CSV writer: every CSV chamberguard writes goes through :func:`write_csv`.

Some cells are typed by people the service does not trust (a device label from the
registration page, a name from the wire, a meeting title). A spreadsheet runs a cell that
begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula — so such a
text cell is written with a leading apostrophe (OWASP's advice), which every spreadsheet
shows as text and a reader can see. Numbers are written as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

# ASCII and full-width forms (some spreadsheets fold the latter to the former).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralise(value: object) -> object:
    """The cell as it is safe to write: text that a spreadsheet would evaluate gets ``'``."""
    if isinstance(value, str) and value.lstrip(" ").startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def write_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """UTF-8 CSV, CRLF line ends (RFC 4180), every cell through :func:`neutralise`."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([neutralise(h) for h in header])
    for row in rows:
        w.writerow([neutralise(v) for v in row])
    return buf.getvalue().encode("utf-8")
