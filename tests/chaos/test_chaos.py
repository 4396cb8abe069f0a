"""The chaos tier: the whole system as ``make run`` starts it (and clustered: three nats-servers,
competing workers), scripted faults with uploads in flight, and a Jepsen-style check of what came
out: nothing lost, nothing done twice, nothing stuck, nothing failed by an outage shorter than the
retry window. The summary table prints at the end of the run."""

from __future__ import annotations

import random

import pytest

from tests.chaos.conftest import FULL, SETTLE_S, VERDICTS, Systems, admin_session
from tests.chaos.scenarios import FAILS_ON_BASE, FLAKY_ON_BASE, REDUCED, SCENARIOS
from tests.support.chaos import Run, Scenario, Workload

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]

KNOWN_IDS: set[str] = set()


def _marks(name: str) -> list[pytest.MarkDecorator]:
    if name in FAILS_ON_BASE:
        return [pytest.mark.xfail(strict=True, reason=FAILS_ON_BASE[name])]
    if name in FLAKY_ON_BASE:
        return [pytest.mark.xfail(strict=False, reason=FLAKY_ON_BASE[name])]
    return []


def _selected() -> list[object]:
    return [pytest.param(s, id=s.name, marks=_marks(s.name)) for s in SCENARIOS if FULL or s.name in REDUCED]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("scenario", _selected())
async def test_fault(scenario: Scenario, systems: Systems, workload: Workload, rng: random.Random) -> None:
    system = systems.get(scenario.system)
    async with admin_session(system) as session:
        run = Run(system, session, workload, rng=rng, settle_s=SETTLE_S, known_ids=KNOWN_IDS)
        verdict = await run.run(scenario)
    VERDICTS.append(verdict)
    if verdict.stuck or not all(p.alive for p in system.processes()):
        systems.dirty.add(scenario.system)
    assert verdict.acknowledged > 0, verdict.details
    assert verdict.target_met(allow_failed=scenario.allow_failed), verdict.as_dict()
    if scenario.chats:  # every answer in flight ended with a frame: done, or a clear error
        assert verdict.chats_unanswered == 0, verdict.details
    if scenario.name == "workers-spread":
        for service in ("ingest", "transcriber"):
            procs = [p for p in verdict.spread if p == service or p.startswith(f"{service}-")]
            assert len(procs) == 2, verdict.spread
            assert all(verdict.spread[p] > 0 for p in procs), verdict.spread
