"""Report signatures: the installation's Ed25519 key and a detached signature trailer.

Scheme (version 1) — the same for every format, verifiable byte for byte:

* The renderer produces the report's bytes, the **body** (HTML, CSV, PDF, or the report's
  JSON text).
* A **signature block** (JSON) records: ``v``, ``alg`` ("Ed25519"), ``format``, ``kind``,
  ``report_id``, ``subject``, ``generated_at``, ``sha256`` (hex SHA-256 of the body),
  ``chain`` (last event covered and chain head), ``key_id`` (first 16 hex of the SHA-256 of
  the raw public key), ``public_key`` (base64, raw 32 bytes) and ``sig``: the Ed25519
  signature (base64) of ``b"chamberguard-report-signature/1\\n"`` followed by the block
  without ``sig`` as canonical JSON (sorted keys, ``separators=(",", ":")``, ASCII).
* The file is the body plus the block as a trailer the format tolerates:

  ========  =====================================================================
  html      body, then ``<!-- chamberguard-signature {block} -->`` LF
  csv       body, then ``# chamberguard-signature {block}`` LF (one last line)
  pdf       body (ends with ``%%EOF``), then ``%chamberguard-signature {block}`` LF
            (a PDF comment after the end marker: readers ignore it)
  json      ``{"report": `` body ``,`` LF `` "signature": {block}}`` LF — still one JSON
            document; the body is the exact bytes between the two keys
  ========  =====================================================================

``verify`` splits the trailer off, checks the block's signature (a changed block →
"bad signature"), that the key is this installation's ("unknown key"), and that the body's
SHA-256 is the one signed ("altered content"). Any changed byte anywhere fails one of them.
Inside the block, ``<``, ``>`` and ``&`` are written as ``\\u`` escapes so it can never close
the HTML comment it sits in.

The private key is generated on first use into ``<data_dir>/keys/`` with mode 0600 (created
with O_EXCL: two processes starting at once cannot both write one); the public key beside it
(``report-signing.pub.pem``) is what a third party needs to check a report.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

log = logging.getLogger(__name__)

DOMAIN = b"chamberguard-report-signature/1\n"
MARK = "chamberguard-signature "
KEY_FILE = "report-signing.key.pem"
PUB_FILE = "report-signing.pub.pem"
FORMATS = ("html", "csv", "pdf", "json")
_JSON_HEAD = b'{"report": '
_JSON_SIG = b',\n "signature": '


class VerifyFailed(Exception):
    """The file is not an intact report signed by the expected key; ``str()`` says why."""


# ---------------------------------------------------------------------------- keys
def key_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "keys"


def load_or_create_key(data_dir: Path) -> Ed25519PrivateKey:
    """The installation's signing key; generated (0600) on first use."""
    d = key_dir(data_dir)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = d / KEY_FILE
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process won the race: use its key
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
            _write_public(d, key.public_key())
            log.info("generated the report signing key %s (key id %s)", path,
                     key_id(key.public_key()))
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("report signing key %s had mode %o; set to 0600", path, mode)
        os.chmod(path, 0o600)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise VerifyFailed(f"{path} is not an Ed25519 private key")
    if not (d / PUB_FILE).exists():
        _write_public(d, loaded.public_key())
    return loaded


def installation_public(data_dir: Path) -> Ed25519PublicKey:
    """This installation's public key, for verifying — never creates a key (a verifier on
    another machine passes the issuer's public key instead)."""
    d = key_dir(data_dir)
    for name in (PUB_FILE, KEY_FILE):
        if (d / name).exists():
            return load_public(d / name)
    raise VerifyFailed(f"this installation has no report signing key yet ({d}); pass the "
                       "issuer's public key (report-signing.pub.pem) with --public-key")


def _write_public(d: Path, pub: Ed25519PublicKey) -> None:
    pem = pub.public_bytes(serialization.Encoding.PEM,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    tmp = d / (PUB_FILE + ".tmp")
    tmp.write_bytes(pem)
    os.chmod(tmp, 0o644)
    tmp.replace(d / PUB_FILE)


def raw_public(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(pub: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public(pub)).hexdigest()[:16]


def load_public(path: Path) -> Ed25519PublicKey:
    data = Path(path).read_bytes()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        key = serialization.load_pem_private_key(data, password=None).public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise VerifyFailed(f"{path} is not an Ed25519 key")
    return key


# ---------------------------------------------------------------------------- signing
def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _block_text(block: dict[str, Any]) -> bytes:
    text = _canonical(block).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def sign(body: bytes, *, fmt: str, key: Ed25519PrivateKey, meta: dict[str, Any]) -> bytes:
    """The signed file: ``body`` plus its signature trailer (see the module docstring).
    ``meta``: kind, report_id, subject, generated_at, chain."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt}")
    if fmt != "json" and not body.endswith(b"\n"):
        body += b"\n"  # the trailer is a line of its own; the newline is part of the body
    pub = key.public_key()
    block: dict[str, Any] = {"v": 1, "alg": "Ed25519", "format": fmt,
                             "sha256": hashlib.sha256(body).hexdigest(),
                             "key_id": key_id(pub),
                             "public_key": base64.b64encode(raw_public(pub)).decode(), **meta}
    block["sig"] = base64.b64encode(key.sign(DOMAIN + _canonical(block))).decode()
    trailer = _block_text(block)
    if fmt == "html":
        return body + b"<!-- " + MARK.encode() + trailer + b" -->\n"
    if fmt == "csv":
        return body + b"# " + MARK.encode() + trailer + b"\n"
    if fmt == "pdf":
        return body + b"%" + MARK.encode() + trailer + b"\n"
    return _JSON_HEAD + body + _JSON_SIG + trailer + b"}\n"


# ---------------------------------------------------------------------------- verifying
@dataclass(slots=True)
class Verified:
    ok: bool
    reason: str
    format: str | None = None
    block: dict[str, Any] = field(default_factory=dict)
    body: bytes = b""

    def as_dict(self) -> dict[str, Any]:
        b = {k: v for k, v in self.block.items() if k not in ("sig", "public_key")}
        return {"ok": self.ok, "reason": self.reason, "format": self.format, "signature": b}


def split(data: bytes) -> tuple[bytes, dict[str, Any], str]:
    """(body, block, format) of a signed file; VerifyFailed if there is no intact trailer."""
    if data.startswith(_JSON_HEAD):
        at = data.rfind(_JSON_SIG)
        if at < 0 or not data.endswith(b"}\n"):
            raise VerifyFailed("no signature: the JSON report has no signature block")
        body, trailer, fmt = data[len(_JSON_HEAD):at], data[at + len(_JSON_SIG):-2], "json"
    else:
        if not data.endswith(b"\n"):
            raise VerifyFailed("no signature: the file does not end with a signature line")
        start = data.rfind(b"\n", 0, len(data) - 1) + 1
        last = data[start:-1]
        for fmt, head, tail in (("html", b"<!-- ", b" -->"), ("csv", b"# ", b""),
                                ("pdf", b"%", b"")):
            prefix = head + MARK.encode()
            if last.startswith(prefix) and last.endswith(tail):
                trailer = last[len(prefix):len(last) - len(tail)]
                body = data[:start]
                if fmt == "pdf" and not body.rstrip(b"\r\n").endswith(b"%%EOF"):
                    raise VerifyFailed("altered content: the PDF does not end where it was "
                                       "signed (%%EOF missing before the signature)")
                break
        else:
            raise VerifyFailed("no signature: no chamberguard signature line at the end of "
                               "the file (not a signed report, or the signature was cut off)")
    try:
        block = json.loads(trailer)
    except ValueError:
        raise VerifyFailed("bad signature: the signature block is damaged") from None
    if not isinstance(block, dict) or block.get("v") != 1 or block.get("format") != fmt:
        raise VerifyFailed("bad signature: the signature block is damaged or of another "
                           "format")
    return body, block, fmt


def verify(data: bytes, public: Ed25519PublicKey | None) -> Verified:
    """Check a signed report. ``public``: the key it must be signed with (the installation's);
    None accepts the key the file names (then only integrity, not origin, is proven)."""
    try:
        body, block, fmt = split(data)
    except VerifyFailed as exc:
        return Verified(False, str(exc))
    sig_b64 = block.get("sig")
    unsigned = {k: v for k, v in block.items() if k != "sig"}
    try:
        sig = base64.b64decode(str(sig_b64), validate=True)
        named = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(str(block.get("public_key")), validate=True))
    except ValueError:
        return Verified(False, "bad signature: the signature block is damaged", fmt, block)
    if public is not None and raw_public(public) != raw_public(named):
        return Verified(False, f"unknown key: signed by key {block.get('key_id')}, not this "
                        f"installation's key {key_id(public)}", fmt, block)
    try:
        named.verify(sig, DOMAIN + _canonical(unsigned))
    except InvalidSignature:
        return Verified(False, "bad signature: the signature block was altered or the "
                        "signature is not valid", fmt, block)
    if key_id(named) != block.get("key_id"):
        return Verified(False, "bad signature: key id does not match the key", fmt, block)
    digest = hashlib.sha256(body).hexdigest()
    if digest != block.get("sha256"):
        return Verified(False, f"altered content: the report's SHA-256 is {digest[:16]}…, "
                        f"the signed one {str(block.get('sha256'))[:16]}…", fmt, block, body)
    if fmt == "json":
        try:
            json.loads(body)
        except ValueError:
            return Verified(False, "altered content: the report JSON does not parse", fmt,
                            block, body)
    return Verified(True, f"intact: signed by key {block.get('key_id')}", fmt, block, body)
