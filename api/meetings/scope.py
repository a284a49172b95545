"""Which committees' meetings chamberguard enforces: a pure decision on the committee title.

Section 6 of the social-media policy names Council, Cabinet, Overview & Scrutiny and Planning
meetings. modern.gov lists every body the council services (licensing hearings, parish
liaison, working groups…), so imported meetings are in scope only when their committee title
matches a rule. IT can override the answer per committee; this only supplies the default.

How a title is compared (:func:`normalise`): HTML entities decoded (twice, as modern.gov may
encode them twice), lower-cased, "&" read as "and" (so "O&S" is "o and s"), hyphens, slashes
and underscores read as spaces ("Sub-Committee" is "sub committee"), whitespace collapsed.

Default rules (:data:`DEFAULT_RULES`), each a case-insensitive regular expression searched
for in the normalised title, matching whole words only:

* **council** — full council, and only full council: the title is "Council", optionally with
  "Full", "Annual", "Budget", "Extraordinary", "Special", "Ordinary", "Reconvened",
  "Adjourned", "Meeting of the", "County/Borough/City/District", and after it one such word
  ("Council - Budget"), "Meeting", a parenthesis, or a date or weekday ("Council, Tuesday 12
  March 2024"). So "Council",
  "Full Council", "Extraordinary Meeting of the Council", "Borough Council (Budget)" are in;
  "Parish Council Liaison Committee", "Youth Council", "Councillor Development Panel",
  "Council Tax Working Group" and "Joint Council" are out.
* **cabinet** — the word "Cabinet" ("Cabinet", "Mayor and Cabinet", "Cabinet Committee"),
  but not "Cabinet Member…" decision sessions (one member deciding, usually not in the
  chamber) and not "Shadow Cabinet" (a party group).
* **executive** — a title that is just "Executive" or "The Executive": councils that call
  their cabinet the Executive.
* **overview and scrutiny** — "Overview and Scrutiny", "Overview & Scrutiny", "O&S", and any
  other title with the word "Scrutiny" ("Health Scrutiny Panel", "Scrutiny Commission"):
  under the Local Government Act 2000 these are all the overview and scrutiny function.
* **planning** — "Planning" followed within three words by "Committee", "Sub-Committee" or
  "Board" ("Planning Committee", "Strategic Planning Committee", "Planning Applications
  Sub-Committee", "Area Planning Committee (North)"), and "Development Management/Control
  Committee", the other name councils use for the planning committee. "Planning Policy
  Working Group" and "Emergency Planning Officers Group" are out.

Configured patterns (strings) replace the defaults; each is a regular expression matched
case-insensitively against the normalised title as whole words (it is wrapped in
``(?<!\\w)(?:…)(?!\\w)``), so ``"licensing committee"`` matches "Licensing Committee (Taxis)"
but ``"council"`` alone matches any title containing the word Council — write ``"^council$"``
to mean full council only. A pattern that is not a valid regular expression is a ValueError
naming the pattern, so a config typo is caught at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from api.meetings.sources.model import clean_text


@dataclass(frozen=True, slots=True)
class ScopeRule:
    """A named include pattern with an optional exception (both regexes on normalised text)."""

    name: str
    pattern: str
    unless: str | None = None

    def matches(self, normalised_title: str) -> bool:
        if not _compiled(self.pattern).search(normalised_title):
            return False
        return self.unless is None or not _compiled(self.unless).search(normalised_title)


_COUNCIL_PREFIX = (
    r"(?:(?:full|annual|budget|extraordinary|special|ordinary|reconvened|adjourned|meeting|of"
    r"|the)\s+)*(?:(?:county|borough|city|district)\s+)?"
)
_WEEKDAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"
_COUNCIL_SUFFIX = (
    r"(?:\s+(?:annual|budget|extraordinary|special|ordinary|reconvened|adjourned))?"
    rf"(?:\s+meeting)?(?:\s*\(.*\))?(?:\s*,?\s+(?:{_WEEKDAY}\b|\d).*)?"
)

DEFAULT_RULES: tuple[ScopeRule, ...] = (
    ScopeRule("council", rf"^{_COUNCIL_PREFIX}council{_COUNCIL_SUFFIX}$"),
    ScopeRule("cabinet", r"\bcabinet\b", unless=r"\bcabinet\s+members?\b|\bshadow\s+cabinet\b"),
    ScopeRule("executive", r"^(?:the\s+)?executive$"),
    ScopeRule("overview and scrutiny", r"\boverview\s+and\s+scrutiny\b|\bo\s+and\s+s\b"),
    ScopeRule("scrutiny", r"\bscrutiny\b"),
    ScopeRule(
        "planning",
        r"\bplanning(?:\s+\S+){0,3}?\s+(?:sub\s+)?(?:committee|board)\b"
        r"|\bdevelopment\s+(?:management|control)\s+(?:sub\s+)?committee\b",
    ),
)


def normalise(title: str) -> str:
    """The form titles are compared in (see the module docstring)."""
    text = clean_text(title).casefold()
    text = text.replace("&", " and ")
    text = re.sub(r"[-\u2010-\u2015/_]+", " ", text)
    return " ".join(text.split())


def rules_from_patterns(patterns: Iterable[str]) -> tuple[ScopeRule, ...]:
    """Configured patterns as rules (whole-word, case-insensitive); bad regexes → ValueError."""
    rules = []
    for pattern in patterns:
        wrapped = rf"(?<!\w)(?:{pattern})(?!\w)"
        try:
            _compiled(wrapped)
        except re.error as exc:
            raise ValueError(f"scope pattern {pattern!r} is not a valid expression: {exc}") from exc
        rules.append(ScopeRule(pattern, wrapped))
    return tuple(rules)


def matching_rule(
    committee_title: str, rules: Sequence[ScopeRule] | None = None
) -> ScopeRule | None:
    """The first rule that puts ``committee_title`` in scope, or None (for "explain" output)."""
    text = normalise(committee_title)
    for rule in DEFAULT_RULES if rules is None else rules:
        if rule.matches(text):
            return rule
    return None


def in_scope(committee_title: str, rules: Sequence[ScopeRule] | None = None) -> bool:
    """Whether meetings of this committee restrict members' devices by default."""
    return matching_rule(committee_title, rules) is not None


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)
