"""Decisions per second through ``Policy.decide_for``, beside a plain dict lookup (DESIGN §9).

Run: ``python tests/bench/bench_decide.py`` (not collected by pytest: the file name does not
start with ``test_``). It builds a realistic rule set (the shipped catalogue, all presets and
the bypass list, padded with generated IT rules to over 10k rules), one member's phone in a
meeting, and a stream of names shaped like a phone's: a few hundred hot names asked over and
over (Zipf-weighted), plus a small share of names never seen before. The restriction is
computed once, as the gate does per client per tick, and every name goes through
``policy.decide_for(name, restriction)``.

The baseline is a plain ``dict.get`` of the same names against a dict of precomputed
decisions, in the same loop shape, in the same run — so the ratio says how close the policy
is to the cheapest possible lookup on this machine, whatever the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from allowlist.builder import build_ruleset
from allowlist.catalogue import load_catalogue
from allowlist.categories import Category
from allowlist.clock import MeetingClock
from allowlist.decision import Decision, Device, Member, Policy, Restriction
from allowlist.rules import Rule

TARGET_RATE = 1_000_000  # decisions per second, one core
TARGET_RATIO = 0.30  # of the dict baseline
PRIMARY_UNIQUE = 0.01  # share of never-seen names in the headline mix
MAC = "02:00:00:00:00:01"
PRESETS = ("moderngov", "public-i", "os-connectivity", "certificates")
TLDS = ("com", "net", "org", "co.uk", "gov.uk", "io")


def it_rules(n: int, rng: random.Random) -> list[Rule]:
    """IT's own rules: mostly suffix rules on made-up organisations, some exact, some blocked."""
    out = []
    for i in range(n):
        category = Category.AGENDA if i % 4 else Category.BLOCKED
        domain = f"svc{i}.org{i % 997}.{TLDS[i % len(TLDS)]}"
        out.append(Rule(domain, category, exact=rng.random() < 0.1, note="generated"))
    return out


def hot_names(count: int, rng: random.Random, generated: int) -> list[str]:
    """What a member's phone keeps asking for: agenda, webcast, OS and app chatter, socials."""
    fixed = [
        "democracy.example.gov.uk", "mgdocs.democracy.example.gov.uk", "example.public-i.tv",
        "cl-assets.public-i.tv", "captive.apple.com", "connectivitycheck.gstatic.com",
        "www.google.com", "time.apple.com", "r11.o.lencr.org", "ocsp.digicert.com",
        "graph.instagram.com", "i.instagram.com", "scontent-lhr8-1.cdninstagram.com",
        "www.facebook.com", "edge-mqtt.facebook.com", "static.xx.fbcdn.net", "api.x.com",
        "pbs.twimg.com", "www.tiktok.com", "v16m.tiktokcdn-eu.com", "mmg.whatsapp.net",
        "live.staticflickr.com", "www.youtube.com", "i.ytimg.com", "gateway.icloud.com",
        "mask.icloud.com", "dns.google", "weather.example-forecast.com", "news.bbc.co.uk",
    ]
    out = dict.fromkeys(fixed)
    while len(out) < count:
        i = rng.randrange(generated)
        kind = rng.random()
        if kind < 0.5:  # something under an IT rule
            name = f"app{rng.randrange(9)}.svc{i}.org{i % 997}.{TLDS[i % len(TLDS)]}"
        elif kind < 0.8:  # a platform CDN shard
            site = rng.choice(["lhr", "man", "ams"])
            name = f"scontent-{site}{rng.randrange(30)}-1.cdninstagram.com"
        else:  # app chatter nobody listed
            name = f"api{rng.randrange(50)}.telemetry{rng.randrange(40)}.example.net"
        out[name] = None
    return list(out)[:count]


def stream(hot: Sequence[str], n: int, unique: float, rng: random.Random, tag: str) -> list[str]:
    """``n`` lookups: Zipf-weighted hot names, ``unique`` share of brand-new names."""
    weights = [1.0 / (rank + 1) ** 1.1 for rank in range(len(hot))]
    names = rng.choices(hot, weights=weights, k=n)
    for j in range(int(n * unique)):
        names[rng.randrange(n)] = f"r{j}-{tag}.{rng.choice(hot)}"
    return names


def rate(loop: Callable[[], None], n: int) -> float:
    t = time.perf_counter()
    loop()
    return n / (time.perf_counter() - t)


def measure(
    policy: Policy, r: Restriction, hot: Sequence[str], n: int, unique: float,
    repeat: int, rng: random.Random,
) -> tuple[float, float]:
    """Best of ``repeat`` for decide_for and for the dict baseline, on fresh streams."""
    table: dict[str, Decision] = {name: policy.decide_for(name, r) for name in hot}
    best_decide = best_dict = 0.0
    for k in range(repeat):
        names = stream(hot, n, unique, rng, f"{unique}-{k}")  # new unique names every round

        def run_decide(names: list[str] = names, decide: Callable[..., object] = policy.decide_for
                       ) -> None:
            for name in names:
                decide(name, r)

        def run_dict(names: list[str] = names, get: Callable[..., object] = table.get) -> None:
            for name in names:
                get(name)

        best_dict = max(best_dict, rate(run_dict, n))
        best_decide = max(best_decide, rate(run_decide, n))
    return best_decide, best_dict


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lookups", type=int, default=1_000_000, help="names per measurement")
    ap.add_argument("--rules", type=int, default=10_000, help="generated IT rules")
    ap.add_argument("--hot", type=int, default=300, help="distinct hot names")
    ap.add_argument("--repeat", type=int, default=5, help="best of N runs")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--check", action="store_true", help="exit 1 if the targets are missed")
    args = ap.parse_args(argv)

    if hasattr(os, "sched_setaffinity"):  # "one core" literally
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    rng = random.Random(args.seed)
    generated = it_rules(args.rules, rng)
    rules = build_ruleset(
        it_rules=generated, enabled_presets=PRESETS, democracy_host="democracy.example.gov.uk",
        webcast_host="example.public-i.tv",
    )
    start = datetime(2026, 11, 26, 18, tzinfo=UTC)
    policy = Policy(
        rules,
        {MAC: Device(1, MAC, "phone", Member(7, "Cllr Jones"))},
        (MeetingClock(42, "Full Council", start, start + timedelta(hours=3)),),
        platform_names=load_catalogue().names(),
    )
    r = policy.restriction(MAC, start + timedelta(minutes=30))  # once, as the gate does
    assert r.restricted
    hot = hot_names(args.hot, rng, args.rules)

    print(f"chamberguard decide_for benchmark — Python {platform.python_version()} "
          f"({platform.python_implementation()}), one core, best of {args.repeat}")
    print(f"rules: {len(rules):,} (catalogue {len(load_catalogue().rules())}, "
          f"generated IT {args.rules:,}, plus presets and bypass list)")
    print(f"stream: {args.lookups:,} lookups of {len(hot)} hot names (Zipf 1.1) "
          "plus the share of never-seen names shown\n")
    print(f"{'mix':<24}{'decide_for/s':>14}{'dict.get/s':>14}{'ratio':>8}")
    results = {}
    for unique in (0.0, PRIMARY_UNIQUE, 0.05):
        d, b = measure(policy, r, hot, args.lookups, unique, args.repeat, rng)
        results[unique] = (d, b)
        label = "hot names only" if unique == 0 else f"hot + {unique:.0%} new names"
        print(f"{label:<24}{d:>14,.0f}{b:>14,.0f}{d / b:>8.2f}")
    cold = [f"c{i}.{name}" for i, name in enumerate(stream(hot, 100_000, 0.0, rng, "cold"))]

    def run_cold() -> None:
        for name in cold:
            policy.decide_for(name, r)

    cold_rate = rate(run_cold, len(cold))
    print(f"{'every name new (cold)':<24}{cold_rate:>14,.0f}")
    (hot_d, _), (mix_d, _) = results[0.0], results[PRIMARY_UNIQUE]
    print(f"\nnever-seen name: ~{(1 / mix_d - 1 / hot_d) / PRIMARY_UNIQUE * 1e6:.2f} µs each in "
          f"the {PRIMARY_UNIQUE:.0%} mix (beside hot names only), {1e6 / cold_rate:.2f} µs "
          "when every name is new")

    ok = True
    print(f"\ntargets: >= {TARGET_RATE:,}/s on one core and >= {TARGET_RATIO:.2f} x dict.get")
    for unique in (0.0, PRIMARY_UNIQUE):
        d, b = results[unique]
        label = "hot names only" if unique == 0 else f"hot + {unique:.0%} new names"
        verdict = [d >= TARGET_RATE, d / b >= TARGET_RATIO]
        ok = ok and all(verdict)
        print(f"  {label:<22} rate {'PASS' if verdict[0] else 'FAIL'}, "
              f"ratio {'PASS' if verdict[1] else 'FAIL'} ({d / b:.2f})")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
