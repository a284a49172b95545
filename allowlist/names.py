"""Domain-name normalisation and validation.

Every name that enters chamberguard (a DNS question, a TLS SNI, a rule typed by IT) goes
through :func:`normalise_domain` so that matching compares like with like: lower case, no
trailing dot, IDNs in A-label (punycode) form.
"""

from __future__ import annotations

import ipaddress
import re

MAX_NAME = 253
MAX_LABEL = 63
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


class DomainError(ValueError):
    """A string that is not a usable domain name; the message says why, for the user."""


def _to_alabel(label: str) -> str:
    if label.isascii():
        return label
    try:
        return "xn--" + label.encode("punycode").decode("ascii")
    except UnicodeError as exc:  # pragma: no cover - punycode accepts any str
        raise DomainError(f"label {label!r} cannot be encoded as an IDN") from exc


def normalise_domain(raw: str) -> str:
    """Return the canonical form of ``raw`` or raise :class:`DomainError`.

    Accepts what people paste (``Example.COM.``, ``bücher.de``) and refuses what is not a
    host name (URLs, wildcards, IP literals, spaces, empty or over-long labels).
    """
    if not isinstance(raw, str):
        raise DomainError("domain must be text")
    name = raw.strip()
    if not name:
        raise DomainError("domain is empty")
    if "://" in name or "/" in name:
        raise DomainError(f"{raw!r} looks like a URL; give the host name only")
    if "*" in name:
        raise DomainError(f"{raw!r}: wildcards are not needed, a rule covers all subdomains")
    if any(c.isspace() for c in name):
        raise DomainError(f"{raw!r} contains spaces")
    if name.endswith("."):
        name = name[:-1]
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        pass
    else:
        raise DomainError(f"{raw!r} is an IP address, not a domain name")
    labels = [_to_alabel(lbl) for lbl in name.lower().split(".")]
    for lbl in labels:
        if not lbl:
            raise DomainError(f"{raw!r} has an empty label")
        if len(lbl) > MAX_LABEL:
            raise DomainError(f"{raw!r} has a label longer than {MAX_LABEL} characters")
        if not _LABEL.match(lbl):
            raise DomainError(f"{raw!r} has an invalid label {lbl!r}")
    out = ".".join(labels)
    if len(out) > MAX_NAME:
        raise DomainError(f"{raw!r} is longer than {MAX_NAME} characters")
    return out


# Bytes a wire label may carry as themselves in the canonical form: what host names and
# service labels use. Everything else is written ``\DDD`` (RFC 1035 §5.1 presentation
# format), so a stored name is printable ASCII without quotes, angle brackets, controls,
# NULs or a dot inside a label — safe in HTML, CSV, a terminal and PostgreSQL text alike.
_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-_")
_ESCAPED = tuple(chr(b) if b in _PLAIN else f"\\{b:03d}" for b in range(256))
_PLAIN_LABEL = re.compile(rb"[a-z0-9_-]*")


def wire_label(label: bytes) -> str:
    """One label from the wire in canonical form: lower case, other bytes as ``\\DDD``."""
    low = label.lower()  # bytes.lower() folds ASCII A-Z only, as DNS does
    if low.isalnum() or _PLAIN_LABEL.fullmatch(low) is not None:  # isalnum: ASCII only
        return low.decode("ascii")
    return "".join([_ESCAPED[b] for b in low])


def wire_name(labels: list[bytes]) -> str:
    """The canonical printable form of a name from the wire (DNS question, SNI, Host): the
    one spelling the gate and the sensor store. A-labels stay as they are (``xn--…``)."""
    return ".".join([wire_label(lb) for lb in labels])


def is_plain(name: str) -> bool:
    """True when ``name`` needed no escaping (the C fast path only knows such names)."""
    return "\\" not in name


def fast_normalise(name: str) -> str | None:
    """Hot-path variant for names from the wire: ASCII already, so only case and dot.

    Returns ``None`` for names that need the full treatment or are invalid; callers then
    fall back to :func:`normalise_domain`.
    """
    if name.endswith("."):
        name = name[:-1]
    if not name or not name.isascii():
        return None
    return name.lower()


def suffixes(name: str) -> list[str]:
    """``a.b.c`` → ``['a.b.c', 'b.c', 'c']``: the candidates a suffix rule can match."""
    out = [name]
    i = name.find(".")
    while i != -1:
        out.append(name[i + 1 :])
        i = name.find(".", i + 1)
    return out
