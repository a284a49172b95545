"""Name normalisation and validation: every rule and every query goes through these."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from allowlist.names import MAX_LABEL, DomainError, fast_normalise, normalise_domain, suffixes


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.com", "example.com"),
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),  # trailing dot (fully qualified)
        ("  example.com  ", "example.com"),  # pasted with whitespace around
        ("bücher.de", "xn--bcher-kva.de"),  # IDN → A-label
        ("BÜCHER.de", "xn--bcher-kva.de"),  # case folded before encoding
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),  # A-label passes through
        ("_dmarc.example.com", "_dmarc.example.com"),  # underscores occur in real names
        ("a-b.example.com", "a-b.example.com"),
        ("localhost", "localhost"),
        ("1.2.3.4.example.com", "1.2.3.4.example.com"),  # digits-only labels are fine
    ],
)
def test_normalises(raw: str, expected: str) -> None:
    assert normalise_domain(raw) == expected


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("*.example.com", "wildcard"),
        ("*.", "wildcard"),
        ("exa mple.com", "spaces"),
        ("example.com\t", None),  # stripped, so valid — see test below
        ("http://example.com", "URL"),
        ("https://example.com/path", "URL"),
        ("example.com/agenda", "URL"),
        ("192.0.2.1", "IP address"),
        ("192.0.2.1.", "IP address"),
        ("::1", "IP address"),
        ("[::1]", "IP address"),
        ("2001:db8::1", "IP address"),
        ("a..b", "empty label"),
        (".example.com", "empty label"),
        ("example.com..", "empty label"),
        ("-bad.example.com", "invalid label"),
        ("bad-.example.com", "invalid label"),
        ("exa$mple.com", "invalid label"),
        ("a" * (MAX_LABEL + 1) + ".com", "longer than 63"),
        (".".join(["abcdefghi"] * 26), "longer than 253"),  # 259 characters
    ],
)
def test_refuses(raw: str, why: str | None) -> None:
    if why is None:
        assert normalise_domain(raw) == raw.strip()
        return
    with pytest.raises(DomainError, match=why):
        normalise_domain(raw)


def test_refuses_non_text() -> None:
    with pytest.raises(DomainError):
        normalise_domain(b"example.com")  # type: ignore[arg-type]


def test_limits_are_inclusive() -> None:
    label = "a" * MAX_LABEL
    assert normalise_domain(f"{label}.com") == f"{label}.com"
    name = ".".join(["a" * 61] * 4) + ".b"  # 4*61 + 4 dots + 1 = 249 characters
    assert normalise_domain(name) == name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("WWW.Example.COM.", "www.example.com"), ("bücher.de", None), ("", None), (".", None)],
)
def test_fast_normalise(raw: str, expected: str | None) -> None:
    assert fast_normalise(raw) == expected


def test_suffixes() -> None:
    assert suffixes("a.b.c") == ["a.b.c", "b.c", "c"]
    assert suffixes("c") == ["c"]


# Letters people actually paste: ASCII, a few accented and non-Latin letters, digits, '-', '.'
_CHARS = st.sampled_from(list("abcdefghijklmnopqrstuvwxyzABCDEFGHXYZ0123456789-._üéßøπжж語"))


@given(st.text(_CHARS, min_size=1, max_size=40))
def test_normalise_is_idempotent(raw: str) -> None:
    try:
        once = normalise_domain(raw)
    except DomainError:
        assume(False)
        return
    assert normalise_domain(once) == once
    assert once == once.lower() and once.isascii() and not once.endswith(".")


@given(st.text(_CHARS, min_size=1, max_size=40))
def test_normalise_ignores_case_and_trailing_dot(raw: str) -> None:
    assume(raw.upper().lower() == raw.lower() and not raw.endswith("."))  # ß → SS is not case
    try:
        base = normalise_domain(raw)
    except DomainError:
        assume(False)
        return
    assert normalise_domain(raw.upper() + ".") == normalise_domain(base.upper())
