"""Issue #18: a failure of the gate's own code is logged with its traceback, counted under
its own name and noted as an incident — never folded into malformed/upstream_errors."""

from __future__ import annotations

import logging

import pytest

from monitor import dnswire
from monitor.gate.chain import Chain
from monitor.gate.exchange import Exchange
from monitor.gate.stats import GateStats
from monitor.gate.steps import ClientScope, ParseQuery, Step
from monitor.gate.upstream import UpstreamPool
from monitor.health import Component
from monitor.incidents import IncidentKind, IncidentLog


class Boom(Step):
    def __init__(self, where: str) -> None:
        self.where = where

    def before(self, ex: Exchange) -> None:
        if self.where == "before":
            raise RuntimeError("before broke")

    def after(self, ex: Exchange) -> None:
        if self.where == "after":
            raise KeyError("after broke")


class Answer(Step):
    def before(self, ex: Exchange) -> None:
        ex.response = dnswire.make_error(ex.raw, dnswire.RCODE_NXDOMAIN)


def chain(where: str) -> tuple[Chain, GateStats, IncidentLog]:
    st, log = GateStats(), IncidentLog()
    steps = [ClientScope(["198.51.100.0/24"], st), ParseQuery(st), Boom(where), Answer()]
    return Chain(steps, UpstreamPool(("127.0.0.1", 9), sockets=1), st, log), st, log


@pytest.mark.parametrize("where", ["before", "after"])
def test_step_failure_is_logged_counted_and_noted(
    where: str, caplog: pytest.LogCaptureFixture
) -> None:
    ch, st, log = chain(where)
    got: list[Exchange] = []
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            ex = Exchange(dnswire.make_query("www.example.org"), "198.51.100.11", 5353, False,
                          0.0)
            ch.handle(ex, got.append)
    assert st.errors == {f"Boom.{where}": 3}
    assert st.malformed == 0 and st.upstream_errors == 0
    assert st.as_dict()[f"error.Boom.{where}"] == 3
    # The client is answered either way: SERVFAIL when the query was not decided.
    assert len(got) == 3
    rcode = got[0].response[3] & 0xF  # type: ignore[index]
    assert rcode == (dnswire.RCODE_SERVFAIL if where == "before" else dnswire.RCODE_NXDOMAIN)
    # Logged with the traceback, once (a flood does not flood the log).
    recs = [r for r in caplog.records if "gate step failed" in r.getMessage()]
    assert len(recs) == 1 and recs[0].exc_info is not None
    (note,) = log.drain()
    assert note.kind is IncidentKind.ERROR and note.component is Component.GATE
    assert note.count == 3 and note.cause.startswith(f"Boom.{where}: ")
