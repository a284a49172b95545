"""The report document is a typed model (api.reports.schemas) and its JSON schema is
published as docs/report-schema.json: the file is the one the model generates, and every
kind of document the builders make validates against the model (lookups included)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.reports import schemas, service
from api.reports.formats import json_body
from tests.reports.seed import NOW, seed_golden


def test_the_published_schema_is_current() -> None:
    assert schemas.SCHEMA_FILE.read_text(encoding="utf-8") == schemas.schema_text(), \
        "docs/report-schema.json is stale: run python -m api.reports.schemas"
    published = json.loads(schemas.SCHEMA_FILE.read_text(encoding="utf-8"))
    assert {r["$ref"].rsplit("/", 1)[1] for r in published["oneOf"]} == \
        {"MeetingReport", "MemberReport", "SiteReport"}
    link = "report-schema.json"
    arch = (schemas.SCHEMA_FILE.parent / "architecture.md").read_text(encoding="utf-8")
    assert f"]({link})" in arch


def test_every_kind_of_document_is_the_typed_model(tmp_path: Path) -> None:
    g = seed_golden(tmp_path)
    try:
        lo, hi = service.period("2026-06-01", "2026-06-30")
        docs = {
            "meeting": service.build(db=g.db, settings=g.settings, kind="meeting", actor="t",
                                     meeting_id=g.ids["meeting"], now=NOW, lookups=True),
            "member": service.build(db=g.db, settings=g.settings, kind="member", actor="t",
                                    member="Ada", since=lo, until=hi, now=NOW),
            "site": service.build(db=g.db, settings=g.settings, kind="site", actor="t",
                                  since=lo, until=hi, now=NOW)}
        for kind, doc in docs.items():
            model = schemas.validate(doc)
            assert model.kind == kind
            # The model holds the whole document: dumped, it is the JSON report's body.
            dumped = model.model_dump(mode="json", by_alias=True, exclude_unset=True)
            assert dumped == json.loads(json_body(doc)), kind
        meeting = docs["meeting"]
        assert meeting["lookups"] and all(isinstance(r["id"], int) for r in meeting["lookups"])
        # Each episode's names account for every one of its lookups.
        for m in meeting["members"]:
            for e in m["episode_list"]:
                assert e["names"] and sum(n["lookups"] for n in e["names"]) == e["lookups"]
            for p in m["platforms"]:
                if p["background"]:
                    assert p["background_names"], p
    finally:
        g.db.dispose()


@pytest.mark.parametrize("change", ["extra", "missing", "wrong-type", "wrong-label"])
def test_a_document_off_the_model_is_refused(tmp_path: Path, change: str) -> None:
    g = seed_golden(tmp_path)
    try:
        doc = service.build(db=g.db, settings=g.settings, kind="meeting", actor="t",
                            meeting_id=g.ids["meeting"], now=NOW)
    finally:
        g.db.dispose()
    ep = doc["members"][0]["episode_list"][0]
    if change == "extra":
        doc["totals"]["surprise"] = 1
    elif change == "missing":
        del doc["evidence"]["chain_head_hash"]
    elif change == "wrong-type":
        doc["totals"]["episodes"] = "many"
    else:
        ep["label"] = "used"
    with pytest.raises(ValidationError):
        schemas.validate(doc)
