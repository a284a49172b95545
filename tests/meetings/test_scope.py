"""Which committee titles are in scope by default, and configured patterns."""

from __future__ import annotations

import pytest

from api.meetings.scope import in_scope, matching_rule, normalise, rules_from_patterns

IN = {
    "Council": "council",
    "Full Council": "council",
    "COUNCIL": "council",
    "Annual Council": "council",
    "Budget Council": "council",
    "Council - Budget": "council",
    "Extraordinary Meeting of the Council": "council",
    "Borough Council (Budget)": "council",
    "County Council": "council",
    "Council, Tuesday 12 March 2024, 7.00 pm": "council",
    "Council 12/03/2024": "council",
    "Cabinet": "cabinet",
    "Mayor and Cabinet": "cabinet",
    "Cabinet Committee on Growth": "cabinet",
    "Executive": "executive",
    "The Executive": "executive",
    "Overview and Scrutiny Committee": "overview and scrutiny",
    "Overview & Scrutiny Committee": "overview and scrutiny",
    "Overview &amp;amp; Scrutiny Committee": "overview and scrutiny",
    "O&S Committee": "overview and scrutiny",
    "O & S Management Board": "overview and scrutiny",
    "Health Scrutiny Panel": "scrutiny",
    "Scrutiny Commission": "scrutiny",
    "Planning Committee": "planning",
    "Strategic Planning Committee": "planning",
    "Planning Applications Sub-Committee": "planning",
    "Area Planning Committee (North)": "planning",
    "Planning and Licensing Committee": "planning",
    "Planning Board": "planning",
    "Development Management Committee": "planning",
    "Development Control Sub-Committee": "planning",
}

OUT = [
    "Parish Council Liaison Committee",
    "Town and Parish Councils Forum",
    "Youth Council",
    "Joint Council",
    "Councillor Development Panel",
    "Council Tax Support Working Group",
    "Cabinet Member for Housing",
    "Cabinet Members' Decisions",
    "Shadow Cabinet",
    "Executive Member Decisions",
    "Planning Policy Working Group",
    "Licensing Sub-Committee",
    "Audit and Governance Committee",
    "Standards Committee",
    "Overviewing Group",
    "",
]


@pytest.mark.parametrize(("title", "rule"), IN.items())
def test_in_scope(title: str, rule: str) -> None:
    found = matching_rule(title)
    assert found is not None and found.name == rule
    assert in_scope(title)


@pytest.mark.parametrize("title", OUT)
def test_out_of_scope(title: str) -> None:
    assert matching_rule(title) is None
    assert not in_scope(title)


def test_normalise() -> None:
    assert normalise("  O&amp;amp;S  Sub-Committee ") == "o and s sub committee"


class TestConfiguredPatterns:
    def test_whole_words_case_insensitive(self) -> None:
        rules = rules_from_patterns(["licensing committee", "council"])
        assert in_scope("Licensing Committee (Taxis)", rules)
        assert in_scope("Parish Council Liaison", rules)  # "council" alone means the word
        assert not in_scope("Councillor Development Panel", rules)
        assert not in_scope("Cabinet", rules)  # configured patterns replace the defaults

    def test_anchored_pattern(self) -> None:
        rules = rules_from_patterns(["^council$"])
        assert in_scope("Council", rules)
        assert not in_scope("Parish Council", rules)

    def test_rule_names_the_pattern(self) -> None:
        [rule] = rules_from_patterns(["licensing"])
        assert matching_rule("Licensing Committee", [rule]) == rule
        assert rule.name == "licensing"

    def test_bad_pattern_is_named(self) -> None:
        with pytest.raises(ValueError, match=r"scope pattern 'planning\(' is not a valid"):
            rules_from_patterns(["planning("])

    def test_no_rules_means_nothing_in_scope(self) -> None:
        assert not in_scope("Council", [])
