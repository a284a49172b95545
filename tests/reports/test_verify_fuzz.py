"""The parsers behind verify-by-upload and the checkpoint file, fuzzed: any bytes give a
clear verdict (never an exception, never "intact" unless the file is the signed one), and a
damaged checkpoint file is refused with its line named."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.reports import signing
from monitor.evidence import checkpoint

KEY = Ed25519PrivateKey.generate()
BODY = b"record,name\r\nmember,Cllr Ada Lovelace\r\n"
SIGNED = {fmt: signing.sign(BODY if fmt != "json" else b'{"a":1}', fmt=fmt, key=KEY,
                            meta={"kind": "meeting", "report_id": "r", "subject": "s",
                                  "generated_at": "2026-06-10T21:00:00+01:00", "chain": {}})
          for fmt in ("csv", "html", "json")}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_upload_gets_a_verdict(data: bytes) -> None:
    v = signing.verify(data, KEY.public_key())
    assert not v.ok and v.reason


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(SIGNED)), st.integers(min_value=0), st.integers(1, 255))
def test_any_changed_byte_is_not_intact(fmt: str, at: int, flip: int) -> None:
    data = bytearray(SIGNED[fmt])
    i = at % len(data)
    data[i] ^= flip
    v = signing.verify(bytes(data), KEY.public_key())
    assert not v.ok and v.reason
    assert signing.verify(SIGNED[fmt], KEY.public_key()).ok


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(max_size=200), max_size=5))
def test_a_damaged_checkpoint_file_is_refused_with_its_line(tmp_path: Path,
                                                           lines: list[str]) -> None:
    cp = checkpoint.Checkpoint(datetime(2026, 6, 10, tzinfo=UTC).isoformat(), "report", 7,
                               "a" * 64, 0, "0" * 64, 0)
    p = checkpoint.path_of(tmp_path)
    p.parent.mkdir(parents=True, exist_ok=True)
    good = checkpoint.line_of(cp, KEY)
    p.write_text("\n".join([good, *lines]) + "\n", encoding="utf-8")
    if all(not x.strip() for x in lines):
        assert checkpoint.read(tmp_path, KEY.public_key()) == [cp]
        return
    with pytest.raises(checkpoint.CheckpointError, match=r"line \d+"):
        checkpoint.read(tmp_path, KEY.public_key())
