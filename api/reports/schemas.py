"""The report document, typed: what a signed report says, field by field.

The builders (api.reports.builder) produce this document and :func:`validate` checks every
one against these models before it is rendered or signed, so the HTML, PDF, CSV and JSON are
drawn from a document of a known shape. Its JSON schema is published as
``docs/report-schema.json`` (regenerate with ``python -m api.reports.schemas``; a test fails
when the file is stale). Times are ISO 8601 strings in Europe/London with their offset
(``2026-06-10T19:00:00+01:00``); durations are whole minutes or seconds as named.

``schema`` names the document's version, ``chamberguard-report/1``: the typed model
describes that same document (no field changed), so files signed before it verify as they
did — the signature covers the bytes, and the schema version did not move.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

SCHEMA = "chamberguard-report/1"
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "report-schema.json"

Time = Annotated[str, Field(description="ISO 8601 in Europe/London with its offset")]


class Part(BaseModel):
    """A part of the document: every field named, nothing else allowed."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SiteInfo(Part):
    name: str
    room: str


class MethodItem(Part):
    title: str
    text: str


class Evidence(Part):
    """What ties the report to the hash chain of events."""

    events_covered: int
    first_event_id: int | None
    last_event_id: int | None
    last_event_hash: str | None
    chain_head_id: int | None
    chain_head_hash: str | None
    chain_anchor_hash: str | None
    chain_anchor_event_id: int | None


class PrivacyTotal(Part):
    member: str
    kind: str
    action: str
    platform: str | None
    events: int


class Privacy(Part):
    level: str
    text: str
    scope: str
    collapsed_at: Time | None = None
    collapsed_events: int | None = None
    totals: list[PrivacyTotal] | None = None


class Period(Part):
    from_: Time = Field(alias="from")
    to: Time


class PlatformCount(Part):
    platform: str
    name: str
    episodes: int
    opened: int
    lookups: int
    background: int


class NameCount(Part):
    name: str
    lookups: int


class MemberPlatform(PlatformCount):
    first: Time | None
    last: Time | None
    background_names: list[NameCount] | None = None


class EpisodeName(Part):
    name: str
    lookups: int
    first: Time | None
    last: Time | None
    channels: str


class EpisodeDoc(Part):
    """One episode: its observable facts, its label and the sentence that says it."""

    number: int
    device: str
    platform: str
    name: str
    start: Time | None
    end: Time | None
    lookups: int
    minutes: int
    seconds: int
    hosts: int
    channels: list[str]
    connection_attempted: bool
    reached_platform: bool
    label: Literal["opened", "background"]
    label_text: str
    what: str
    text: str
    names: list[EpisodeName] | None = None


class BypassDoc(Part):
    at: Time | None
    device: str
    text: str
    blocked: bool


class DeviceSeen(Part):
    device_id: int | None
    label: str
    mac: str | None
    identified_by: str
    evidence: list[str]
    registered_during_meeting: bool | None = None


class MemberRecord(Part):
    """What one member's devices did: a meeting report's row, and the member report's
    per-meeting entry (with the meeting's fields beside it)."""

    episodes: int
    opened: int
    background: int
    lookups: int
    bypass_attempts: int
    other_refused: int
    first: Time | None
    last: Time | None
    platforms: list[MemberPlatform]
    episode_list: list[EpisodeDoc]
    bypass_list: list[BypassDoc]
    devices: list[DeviceSeen]


class MeetingMember(MemberRecord):
    member_id: int
    name: str
    background_lookups: int


class LookupDoc(Part):
    """One lookup (the appendix and the per-lookup CSV)."""

    id: int
    at: Time | None
    device: str
    member: str
    name: str
    platform: str
    kind: Literal["platform", "other DNS service"]
    verdict: str
    channel: str
    episode: int | None


class ClerkActionDoc(Part):
    action: str
    at: Time | None
    by: str | None


class ExtensionDoc(Part):
    minutes: int
    at: Time | None
    by: str | None


class ExceptionDoc(Part):
    who: str
    reason: str | None
    granted_at: Time | None
    granted_by: str | None
    withdrawn_at: Time | None
    withdrawn_by: str | None


class SessionDoc(Part):
    start: Time | None
    end: Time | None
    minutes: int


class MeetingInfo(Part):
    id: int
    title: str
    committee: str
    status: str
    in_scope: bool
    room: str | None
    location: str | None
    scheduled_start: Time | None
    scheduled_end: Time | None
    actual_start: Time | None
    actual_end: Time | None
    clerk_actions: list[ClerkActionDoc]
    extensions: list[ExtensionDoc]
    exceptions: list[ExceptionDoc]
    session_source: Literal["clerk", "schedule", "cancelled"]
    sessions: list[SessionDoc]
    in_session_minutes: int
    in_session_at_report: bool
    grace_minutes: int


class OutageDoc(Part):
    start: Time | None
    end: Time | None
    end_recorded: bool
    minutes_in_session: int
    detail: str


class IncidentDoc(Part):
    at: Time | None
    detail: str


class GateDoc(Part):
    uptime_percent: float | None
    outage_minutes: int
    outages: list[OutageDoc]
    incidents: list[IncidentDoc]


class ComponentDoc(Part):
    component: str
    label: str
    outages: int
    minutes_in_session: int


class ModeChange(Part):
    at: Time | None
    from_: str = Field(alias="from")
    to: str
    by: str


class RecordedConditions(Part):
    topology: Any = None
    mode: Any = None
    gate: Any = None
    enforcing: Any = None
    sensor: Any = None


class ConditionChange(RecordedConditions):
    at: Time | None
    by: str
    reason: Any = None


class PolicyChange(Part):
    at: Time | None
    by: str
    entity: str
    action: str
    text: str
    effect: Any = None


class FlaggedRule(Part):
    domain: str
    category: str
    exact: bool
    effect: str
    created_at: Time | None


class RangeConditions(Part):
    topology: str
    topology_title: str
    privacy: Privacy


class MeetingConditions(RangeConditions):
    mode_at_start: str
    mode_changes: list[ModeChange]
    topology_note: str
    recorded_at_start: RecordedConditions | None
    condition_changes: list[ConditionChange]
    policy_changes: list[PolicyChange]
    rules_allowing_platforms: list[FlaggedRule]
    refused: int
    observed_only: int
    gate: GateDoc
    components: list[ComponentDoc]
    unregistered_devices_seen: int


class Totals(Part):
    episodes: int
    opened: int
    background: int
    lookups: int
    bypass_attempts: int
    platforms: list[PlatformCount]


class MeetingTotals(Totals):
    members_listed: int
    members_with_contacts: int


class MemberTotals(Totals):
    meetings_with_contacts: int
    events_outside_meetings: int


class SiteTotals(Totals):
    members_with_contacts: int
    meetings: int
    outage_minutes: int


class Window(Part):
    start: Time | None
    end: Time | None


class ReportBase(Part):
    schema_: Literal["chamberguard-report/1"] = Field(alias="schema")
    report_id: str
    generated_at: Time | None
    generated_by: str
    timezone: Literal["Europe/London"]
    site: SiteInfo
    subject: str
    method: list[MethodItem]
    evidence: Evidence


class MeetingReport(ReportBase):
    """One meeting: conditions, members (likely opened first), totals, the lookups."""

    kind: Literal["meeting"]
    meeting: MeetingInfo
    conditions: MeetingConditions
    members: list[MeetingMember]
    totals: MeetingTotals
    window: Window
    lookups: list[LookupDoc] | None = None


class MemberDevice(Part):
    device_id: int
    label: str
    mac: str
    identified_by: str
    registered_to_member_now: bool


class MemberInfo(Part):
    id: int
    name: str
    active: bool
    devices: list[MemberDevice]


class MemberMeeting(MemberRecord):
    meeting_id: int
    committee: str
    title: str
    scheduled_start: Time | None
    in_session_minutes: int


class MemberReport(ReportBase):
    """One member across a period (a complaint): per meeting, then totals."""

    kind: Literal["member"]
    member: MemberInfo
    period: Period
    meetings: list[MemberMeeting]
    totals: MemberTotals
    conditions: RangeConditions


class SiteMeeting(Part):
    meeting_id: int
    committee: str
    title: str
    scheduled_start: Time | None
    status: str
    in_scope: bool
    in_session_minutes: int
    members_with_contacts: int
    episodes: int
    opened: int
    lookups: int
    bypass_attempts: int
    outage_minutes: int
    uptime_percent: float | None


class SiteMember(Part):
    member_id: int
    name: str
    meetings: int
    episodes: int
    opened: int
    lookups: int
    bypass_attempts: int


class SiteReport(ReportBase):
    """Every meeting of the room in a period: totals, gate uptime, per member."""

    kind: Literal["site"]
    period: Period
    meetings: list[SiteMeeting]
    members: list[SiteMember]
    totals: SiteTotals
    incidents: list[IncidentDoc]
    conditions: RangeConditions


Report = Annotated[MeetingReport | MemberReport | SiteReport, Field(discriminator="kind")]
REPORT: TypeAdapter[MeetingReport | MemberReport | SiteReport] = TypeAdapter(Report)


def validate(doc: dict[str, Any]) -> MeetingReport | MemberReport | SiteReport:
    """The document as its typed model; pydantic.ValidationError names any field that is
    missing, extra or of the wrong type (a builder bug, never the user's input)."""
    return REPORT.validate_python(doc)


def check(doc: dict[str, Any]) -> None:
    """Validate a document as it is built, except its per-lookup rows: tens of thousands of
    rows of one fixed shape (api.reports.members.lookups_doc, validated by the tests) would
    cost more to check than to build."""
    validate({k: v for k, v in doc.items() if k != "lookups"} if "lookups" in doc else doc)


def json_schema() -> dict[str, Any]:
    schema = REPORT.json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://chamberguard.invalid/report-schema.json"
    schema["title"] = "chamberguard report document (" + SCHEMA + ")"
    schema["description"] = (
        "The document every chamberguard report format is drawn from; the JSON report is "
        '{"report": <this document>, "signature": {...}}. Times are ISO 8601 in '
        "Europe/London with their offset.")
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # python -m api.reports.schemas [FILE]: write the schema
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_FILE
    target.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {target}")
