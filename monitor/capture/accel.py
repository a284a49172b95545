"""The optional C accelerator (:mod:`monitor.capture._fastcap`) and the switch that turns it off.

Python stays the reference: every C entry point is a port of a named Python function and
returns what that function returns (differential tests check it on crafted, mutated and
random input). When the extension is missing (not built: no compiler or no libcrypto
headers) or disabled, the pipeline runs the pure-Python path with identical results, only
slower. Disable it for a process with ``CG_CAPTURE_ACCEL=0`` (not a ``CHAMBERGUARD_*`` name:
those are settings and unknown ones are errors) or per pipeline with
``PipelineConfig(accelerate=False)``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from monitor.capture.tls import NEED_MORE, NO_SNI, NOT_TLS, TlsStatus
from monitor.settings import switched_off

ENV_SWITCH = "CG_CAPTURE_ACCEL"

fastcap: ModuleType | None
try:
    fastcap = importlib.import_module("monitor.capture._fastcap")
except ImportError:  # pragma: no cover - exercised by running with the .so absent
    fastcap = None

_TLS_CODES = (NEED_MORE, NOT_TLS, NO_SNI)


def available() -> bool:
    """True if the extension is built and importable."""
    return fastcap is not None


def enabled() -> bool:
    """True if new pipelines should use the extension (built, and not switched off)."""
    return fastcap is not None and not switched_off(ENV_SWITCH)


def module() -> Any:
    """The extension module; only call when :func:`available`."""
    assert fastcap is not None
    return fastcap


def sni_from_stream(buf: bytes) -> str | TlsStatus:
    """:func:`monitor.capture.tls.sni_from_stream` in C (same results)."""
    res = module().sni_from_stream(buf)
    return _TLS_CODES[res] if res.__class__ is int else res


def sni_from_handshake(hs: bytes) -> str | TlsStatus:
    """:func:`monitor.capture.tls.sni_from_handshake` in C (same results)."""
    res = module().sni_from_handshake(hs)
    return _TLS_CODES[res] if res.__class__ is int else res
