"""Meeting sources: modern.gov ``mgWebService`` XML and iCalendar, parsed into plain records.

Pure parsing plus a small HTTP client; no database. Everything either returns the complete
list of :class:`SourceMeeting` records or raises :class:`SourceError` (a ValueError) saying
what is wrong and where, so a bad document can never half-update the schedule.
"""

from api.meetings.sources.detect import load, parse_document, sniff
from api.meetings.sources.model import (
    DEFAULT_DURATION,
    SourceCommittee,
    SourceError,
    SourceMeeting,
)
from api.meetings.sources.moderngov import ModernGovClient

__all__ = [
    "DEFAULT_DURATION",
    "ModernGovClient",
    "SourceCommittee",
    "SourceError",
    "SourceMeeting",
    "load",
    "parse_document",
    "sniff",
]
