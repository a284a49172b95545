"""The conditions as they were: mode history, topology, recorded gate and sensor state, and
every policy change inside a report's window, with who and when (from the audit trail)."""


from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from allowlist.categories import Mode
from api.reports import method
from api.reports.sessions import Sessions
from api.reports.times import aware, london
from api.rules.risk import flagged_rules
from monitor.settings import Settings
from monitor.store.models import (
    AuditRow,
)
from monitor.store.policy_loader import site_mode


def mode_history(s: Session, settings: Settings
                 ) -> tuple[list[tuple[datetime, str, str, str]], Mode]:
    """(at, from, to, by) of every site-mode change from the audit trail, and the mode now."""
    rows = s.execute(select(AuditRow).where(AuditRow.action == "set-mode",
                                            AuditRow.entity == "site").order_by(AuditRow.ts))
    out = []
    for r in rows.scalars():
        before = (r.before or {}).get("mode")
        after = (r.after or {}).get("mode")
        if before and after:
            out.append((aware(r.ts), str(before), str(after), r.actor))
    return out, site_mode(s, settings)


def mode_at(history: list[tuple[datetime, str, str, str]], now_mode: Mode, t: datetime) -> str:
    last = [h for h in history if h[0] <= t]
    if last:
        return last[-1][2]
    if history:
        return history[0][1]
    return now_mode.value


# Audit entities whose changes affect what is refused or recorded (rules, presets, the
# platform catalogue, devices, the site mode, committee scope, learn-mode exceptions).
POLICY_ENTITIES = ("rule", "preset", "platform", "device", "site", "committee")


def _change_text(r: AuditRow) -> str:
    """One audit row in plain words: what changed (the before/after that matter)."""
    side = r.after if isinstance(r.after, dict) else (r.before if isinstance(r.before, dict)
                                                       else {})
    what = {"rule": lambda d: f"rule for {d.get('domain')} ({d.get('category')}"
                              + (", this name only" if d.get("exact") else "") + ")",
            "preset": lambda d: f"preset {r.entity_id}",
            "platform": lambda d: f"platform {r.entity_id} domains "
                                  f"{', '.join(d.get('domains') or []) or d.get('domain', '')}",
            "device": lambda d: f"device {d.get('label') or d.get('mac') or r.entity_id}"
                                + (f" (member {d.get('member_id')})"
                                   if d.get("member_id") else ""),
            "site": lambda d: "site mode " + " → ".join(
                str(x.get("mode")) for x in (r.before, r.after) if isinstance(x, dict)),
            "committee": lambda d: f"committee scope {r.entity_id}: "
                                   f"{'in' if d.get('in_scope') else 'out'}"}
    text = what.get(r.entity, lambda d: f"{r.entity} {r.entity_id or ''}")(side)
    return f"{r.action}: {text}"


def _recorded_at(r: AuditRow) -> datetime:
    """When a conditions row describes (the clerk's action time it was taken for), else
    when it was written."""
    at = (r.after or {}).get("at") if isinstance(r.after, dict) else None
    try:
        return aware(datetime.fromisoformat(str(at))) if at else aware(r.ts)
    except ValueError:
        return aware(r.ts)


def conditions_of(s: Session, settings: Settings, sessions: Sessions, lo: datetime,
                hi: datetime) -> dict[str, Any]:
    """The conditions as they were: mode at the start and its changes, the topology, gate
    and sensor state recorded at the start and on each change (api.site.conditions), every
    policy change in the window with who and when, and rules allowing a platform or a
    public suffix that were active."""
    history, now_mode = mode_history(s, settings)
    start = sessions.intervals[0][0] if sessions.intervals else lo
    changes = [{"at": london(at), "from": a, "to": b, "by": by}
               for at, a, b, by in history if lo <= at <= hi]
    rows = list(s.execute(select(AuditRow).where(AuditRow.ts <= hi).where(
        (AuditRow.ts >= lo) | (AuditRow.action == "conditions")).order_by(AuditRow.ts,
                                                                             AuditRow.id))
        .scalars())
    cond_rows = [(_recorded_at(r), r) for r in rows
                 if r.action == "conditions" and isinstance(r.after, dict)]
    at_start = [(t, r) for t, r in cond_rows if t <= start]
    recorded = at_start[-1][1].after if at_start else None
    cond_changes = [{"at": london(t), "by": r.actor, **{k: dict(r.after or {}).get(k)
                                                        for k in ("topology", "mode", "gate",
                                                                  "enforcing", "sensor",
                                                                  "reason")}}
                    for t, r in cond_rows if t > start and t >= lo]
    policy = [{"at": london(r.ts), "by": r.actor, "entity": r.entity, "action": r.action,
               "text": _change_text(r),
               "effect": (r.after or {}).get("effect") if isinstance(r.after, dict) else None}
              for r in rows if r.entity in POLICY_ENTITIES and r.action != "conditions"
              and aware(r.ts) >= lo]
    topology = str(recorded["topology"]) if recorded else settings.site.topology
    flagged = [{"domain": r.domain, "category": r.category, "exact": r.exact,
                "effect": eff, "created_at": london(r.created_at)}
               for r, eff in flagged_rules(s) if aware(r.created_at) <= hi]
    return {"mode_at_start": mode_at(history, now_mode, start), "mode_changes": changes,
            "topology": topology,
            "topology_title": method.TOPOLOGY.get(topology, (topology, ""))[0],
            "topology_note": (f"recorded at {london(at_start[-1][0])} "
                              f"({recorded.get('reason')})" if recorded else
                              "not recorded at the meeting's start: as configured when the "
                              "report was made"),
            "recorded_at_start": {k: recorded.get(k) for k in ("topology", "mode", "gate",
                                                               "enforcing", "sensor")}
            if recorded else None,
            "condition_changes": cond_changes, "policy_changes": policy,
            "rules_allowing_platforms": flagged}
