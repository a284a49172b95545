"""Compose the one :class:`RuleSet` the policy matches against.

This is the only place that decides which rule sources go in and in what order, so the
answer to "why did this name get that category?" has one home.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from allowlist.bypass import bypass_rules
from allowlist.catalogue import PlatformEntry, load_catalogue
from allowlist.categories import Origin
from allowlist.presets import preset_rules
from allowlist.rules import Rule, RuleSet


def build_ruleset(
    *,
    it_rules: Iterable[Rule],
    enabled_presets: Iterable[str],
    democracy_host: str | None,
    webcast_host: str | None,
    extra_platforms: Iterable[PlatformEntry | Mapping[str, object]] = (),
    extra_preset_hosts: Mapping[str, Iterable[str]] | None = None,
) -> RuleSet:
    """IT rules + bypass list + enabled presets + platform catalogue, compiled.

    Precedence has two layers, and this order mirrors both:

    * Different names: the deepest matching rule wins, whatever its origin (RuleSet.match),
      so ``static.example.com`` from a preset beats ``example.com`` from the catalogue.
    * The same name (and the same exact/suffix kind): origin rank decides in
      ``RuleSet.compile`` — IT, then bypass list, then presets, then catalogue. IT's own word
      is final (it is the council's decision and visible in the audit trail); the bypass
      list beats presets so that no preset can ever open a way round the gate; presets beat
      the catalogue so an allowed service that shares a name with a platform stays usable.

    Sources are listed here in that same rank order because, between two rules of the same
    origin at the same name, ``compile`` keeps the first one seen. Listing in rank order makes
    "first seen" and "ranked first" agree, so reading this function tells the whole story.
    """
    it = list(it_rules)
    for rule in it:
        if rule.origin is not Origin.IT:
            raise ValueError(
                f"it_rules must be IT's own rules; {rule.describe()} has origin {rule.origin}"
            )
    composed: list[Rule] = [
        *it,
        *bypass_rules(),
        *preset_rules(
            enabled_presets,
            democracy_host=democracy_host,
            webcast_host=webcast_host,
            extra_hosts=extra_preset_hosts,
        ),
        *load_catalogue(extra_platforms).rules(),
    ]
    return RuleSet.compile(composed)
