"""The chain that runs the gate's steps (:mod:`monitor.gate.steps`) for one exchange.

Which steps run, in which order and why, is said in one place: :func:`monitor.gate.build.
build_gate`, used by the daemon and the tests alike. This module only knows how to run them:
``before`` top to bottom until a step answers or drops, then upstream for queries nobody
answered, then ``after`` in reverse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from monitor.gate.exchange import Exchange
from monitor.gate.failures import Failures
from monitor.gate.stats import GateStats
from monitor.gate.steps import Step
from monitor.gate.upstream import UpstreamPool, servfail
from monitor.incidents import IncidentLog

Reply = Callable[[Exchange], None]


class Chain:
    """Runs the steps. A step that raises is a failure of our code, not of the client:
    :class:`Failures` logs it with its traceback, counts it under the step's name and notes an
    incident. A failed ``before`` answers SERVFAIL once the query is parsed (never forwards a
    query that was not decided) and drops it before; a failed ``after`` still lets the client
    have its answer."""

    def __init__(self, steps: Sequence[Step], upstream: UpstreamPool, stats: GateStats,
                 incidents: IncidentLog | None = None) -> None:
        self.steps = list(steps)
        self.upstream = upstream
        self.stats = stats
        self.failed = Failures(stats, incidents)

    def handle(self, ex: Exchange, reply: Reply) -> None:
        """Run the steps; ``reply`` is called once with the exchange when it is finished."""
        self.stats.queries += 1
        ran = 0
        for step in self.steps:
            ran += 1
            try:
                step.before(ex)
            except Exception as exc:
                self.failed(f"{type(step).__name__}.before", exc)
                if ex.query is not None:  # parsed, so in scope: the client gets an answer
                    ex.response = servfail(ex.raw, ex.query.question_end)
                else:  # scope unknown: never answer what may not be a chamber client
                    ex.drop = True
            if ex.done:
                break
        if ex.done:
            self._finish(ex, ran, reply)
            return
        assert ex.query is not None
        self.stats.forwarded += 1
        qend = ex.query.question_end

        def on_answer(data: bytes | None) -> None:
            if data is None:
                self.stats.upstream_timeouts += 1
                data = servfail(ex.raw, qend)
            ex.response = data
            self._finish(ex, ran, reply)

        self.upstream.send(ex.raw, qend, on_answer)

    def _finish(self, ex: Exchange, ran: int, reply: Reply) -> None:
        for step in reversed(self.steps[:ran]):
            try:
                step.after(ex)
            except Exception as exc:  # a failing step must not lose the client's answer
                self.failed(f"{type(step).__name__}.after", exc)
        if not ex.drop and ex.response is not None:
            self.stats.answered += 1
            reply(ex)
