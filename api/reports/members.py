"""Events → members: per member their devices, episodes (likely opened first), platforms and
uses of other DNS services; totals; and the per-lookup rows of the appendix."""


from typing import Any

from allowlist import wording
from allowlist.episodes import Episode
from allowlist.events import LOOKUP_KINDS, EventAction, EventKind
from allowlist.identity import IdentitySource
from api.events.service import platform_names
from api.reports import query
from api.reports.times import london, minutes
from monitor.store.models import (
    Device,
)


def names_by_episode(sc: query.Scan) -> dict[int, list[dict[str, Any]]]:
    """id(episode) → the names it looked up: how often, first and last time, channels (the
    appendix), in one pass over the scan's lookups."""
    per: list[dict[str, list[Any]]] = [{} for _ in sc.episodes]
    of = sc.episode_of
    for r in sc.lookups:
        i = of.get(r.id)
        if i is None or not r.domain:
            continue
        names = per[i]
        x = names.get(r.domain)
        last = r.ts if r.until is None else r.until  # a run (query.scan_runs): n lookups
        if x is None:
            names[r.domain] = [r.n, r.ts, last, {r.channels}]
        else:
            x[0] += r.n
            x[2] = last
            x[3].add(r.channels)
    return {id(ep): [{"name": d, "lookups": n, "first": london(a), "last": london(b),
                      "channels": ",".join(sorted(ch))}
                     for d, (n, a, b, ch) in sorted(names.items(),
                                                    key=lambda kv: (kv[1][1], kv[0]))]
            for ep, names in zip(sc.episodes, per, strict=True)}


def identified_by(d: Device | None) -> str:
    """Which source ties the device to its member, in the report's words (a device with no
    row was attributed by the MAC the gate saw)."""
    return IdentitySource(d.identity).text if d is not None else IdentitySource.MAC_ONLY.text


def episode_doc(ep: Episode, number: int, device: str, member: str | None,
                names: dict[int, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """One episode as the report shows it: facts, label and its sentence (allowlist.wording)."""
    name = platform_names().get(ep.platform, ep.platform)
    facts = wording.EpisodeFacts.of(ep, name)
    out = {"number": number, "device": device, "platform": ep.platform, "name": name,
           "start": london(ep.first), "end": london(ep.last), "lookups": ep.lookups,
           "minutes": minutes(ep.last - ep.first), "seconds": ep.seconds,
           "hosts": len(ep.domains), "channels": sorted(ep.channels),
           "connection_attempted": ep.connection, "reached_platform": ep.reached,
           "label": ep.label.value, "label_text": wording.label_text(ep.label),
           "what": wording.episode_verb(facts),
           "text": wording.episode_sentence(facts, member, device)}
    if names is not None:
        out["names"] = names.get(id(ep), [])
    return out


def members_of(tallies: list[query.Tally], eps: list[Episode], numbers: dict[int, int],
                 bypasses: list[query.EventRow], members: dict[int, str],
                 devices: dict[int, Device], extra_present: dict[int, set[int]],
                 episode_names: dict[int, list[dict[str, Any]]] | None = None
                 ) -> list[dict[str, Any]]:
    """Per member: devices with their evidence of presence, episodes (likely opened first)
    and lookups per platform, other DNS services used, first/last record, and the episode
    list (for the timeline and the appendix). ``numbers``: id(episode) → its number."""
    names = platform_names()
    by_member: dict[int, dict[str, Any]] = {}

    def entry(mid: int) -> dict[str, Any]:
        e = by_member.get(mid)
        if e is None:
            e = {"member_id": mid, "name": members.get(mid, f"Member {mid} (removed)"),
                 "devices": {}, "platforms": {}, "episodes": 0, "opened": 0, "lookups": 0,
                 "bypass_attempts": 0, "other_refused": 0, "first": None, "last": None,
                 "episode_list": [], "bypass_list": []}
            by_member[mid] = e
        return e

    def device(e: dict[str, Any], device_id: int | None, mac: str | None, why: str) -> str:
        d = devices.get(device_id) if device_id is not None else None
        key = str(device_id) if device_id is not None else f"mac:{mac}"
        got = e["devices"].get(key)
        if got is None:
            label = (d.label or d.mac) if d is not None else (mac or "unknown device")
            got = e["devices"][key] = {"device_id": device_id, "label": label,
                                       "mac": d.mac if d is not None else mac,
                                       "identified_by": identified_by(d),
                                       "evidence": []}
        if why not in got["evidence"]:
            got["evidence"].append(why)
        return str(got["label"])

    for t in tallies:
        if t.member_id is None or t.kind not in LOOKUP_KINDS:
            continue
        e = entry(t.member_id)
        device(e, t.device_id, t.mac, "recorded events")
        if e["first"] is None or t.first < e["first"]:
            e["first"] = t.first
        if e["last"] is None or t.last > e["last"]:
            e["last"] = t.last
        if t.kind == EventKind.BYPASS:
            e["bypass_attempts"] += t.count
        elif not t.platform:
            e["other_refused"] += t.count
    for r in bypasses:
        if r.member_id is None:
            continue
        e = entry(r.member_id)
        e["bypass_list"].append({
            "at": london(r.ts), "device": device(e, r.device_id, r.mac, "recorded events"),
            "text": wording.lookup_phrase(EventKind.BYPASS, r.action, None, r.domain, r.channels,
                                          r.detail),
            "blocked": r.action == EventAction.REFUSED})
    for mid, device_ids in extra_present.items():
        e = entry(mid)
        for did in sorted(device_ids):
            device(e, did, None, "last seen on the chamber Wi-Fi during the meeting")
    for ep in eps:
        if ep.member_id is None:
            continue
        e = entry(ep.member_id)
        name = names.get(ep.platform, ep.platform)
        p = e["platforms"].get(ep.platform)
        if p is None:
            p = e["platforms"][ep.platform] = {"platform": ep.platform, "name": name,
                                               "episodes": 0, "opened": 0, "lookups": 0,
                                               "first": ep.first, "last": ep.last}
        p["episodes"] += 1
        p["opened"] += ep.opened
        p["lookups"] += ep.lookups
        if ep.first < p["first"]:
            p["first"] = ep.first
        if ep.last > p["last"]:
            p["last"] = ep.last
        e["episodes"] += 1
        e["opened"] += ep.opened
        e["lookups"] += ep.lookups
        e["episode_list"].append((device(e, ep.device_id, ep.mac, "recorded events"), ep))
    out = []
    for e in sorted(by_member.values(), key=lambda e: str(e["name"]).casefold()):
        episode_list = [episode_doc(ep, numbers.get(id(ep), 0), label, e["name"],
                                    episode_names)
                        for label, ep in e["episode_list"]]
        if episode_names is not None:  # the names each platform's background episodes looked up
            for key, p in e["platforms"].items():
                counts: dict[str, int] = {}
                for ed in episode_list:
                    if ed["platform"] == key and ed["label"] != "opened":
                        for n in ed["names"]:
                            counts[n["name"]] = counts.get(n["name"], 0) + n["lookups"]
                p["background_names"] = [{"name": k, "lookups": v} for k, v in sorted(
                    counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        plats = sorted(e["platforms"].values(),
                       key=lambda p: (-p["opened"], -p["episodes"], p["name"]))
        out.append({
            "member_id": e["member_id"], "name": e["name"],
            "devices": sorted(e["devices"].values(), key=lambda d: str(d["label"])),
            "episodes": e["episodes"], "opened": e["opened"],
            "background": e["episodes"] - e["opened"], "lookups": e["lookups"],
            "bypass_attempts": e["bypass_attempts"], "other_refused": e["other_refused"],
            "first": london(e["first"]), "last": london(e["last"]),
            "platforms": [{**p, "background": p["episodes"] - p["opened"],
                           "first": london(p["first"]), "last": london(p["last"])}
                          for p in plats],
            "episode_list": episode_list,
            "background_lookups": sum(ed["lookups"] for ed in episode_list
                                      if ed["label"] != "opened"),
            "bypass_list": e["bypass_list"],
        })
    return out


def totals_of(member_docs: list[dict[str, Any]], eps: list[Episode]) -> dict[str, Any]:
    names = platform_names()
    plats: dict[str, dict[str, Any]] = {}
    for ep in eps:
        p = plats.get(ep.platform)
        if p is None:
            p = plats[ep.platform] = {"platform": ep.platform,
                                      "name": names.get(ep.platform, ep.platform),
                                      "episodes": 0, "opened": 0, "lookups": 0}
        p["episodes"] += 1
        p["opened"] += ep.opened
        p["lookups"] += ep.lookups
    for p in plats.values():
        p["background"] = p["episodes"] - p["opened"]
    episodes = sum(p["episodes"] for p in plats.values())
    opened = sum(p["opened"] for p in plats.values())
    return {
        "members_listed": len(member_docs),
        "members_with_contacts": sum(1 for m in member_docs
                                     if m["episodes"] or m["bypass_attempts"]),
        "episodes": episodes, "opened": opened, "background": episodes - opened,
        "lookups": sum(p["lookups"] for p in plats.values()),
        "bypass_attempts": sum(m["bypass_attempts"] for m in member_docs),
        "platforms": sorted(plats.values(),
                            key=lambda p: (-p["opened"], -p["episodes"], p["name"])),
    }


def lookups_doc(sc: query.Scan, numbers: dict[int, int], members: dict[int, str],
                devices: dict[int, Device]) -> list[dict[str, Any]]:
    """Every lookup (platform attempts and other DNS services) with its episode number:
    the per-lookup CSV and the JSON carry it; covered by the report's signature. From the
    scan's ``lines`` (built with ``singles``)."""
    assert sc.lines is not None, "scan_runs(..., singles=True) lists the single lookups"
    names = platform_names()
    ep_number = [numbers.get(id(ep), 0) for ep in sc.episodes]
    label = {i: (d.label or d.mac) for i, d in devices.items()}
    who = {i: n for i, n in members.items()}
    verdicts: dict[tuple[str, str], str] = {}
    out = []
    for rid, ts, kind, action, dev, mem, mac, name, plat, channels, ep in sc.lines:
        v = verdicts.get((action, channels))
        if v is None:
            v = verdicts[(action, channels)] = wording.verdict(action, channels)
        out.append({
            "id": rid, "at": london(ts),
            "device": label[dev] if dev in label else (mac or ""),
            "member": who.get(mem, "") if mem is not None else "",
            "name": name or "", "platform": names.get(plat, plat) if plat else "",
            "kind": "other DNS service" if kind == EventKind.BYPASS else "platform",
            "verdict": v, "channel": channels,
            "episode": ep_number[ep] if ep is not None else None})
    return out


def numbers_of(eps: list[Episode]) -> dict[int, int]:
    """Episode numbers (1, 2, …) in order of first lookup, keyed by ``id(episode)``."""
    return {id(ep): n for n, ep in enumerate(eps, 1)}
