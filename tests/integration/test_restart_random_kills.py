"""Twenty SIGKILLs at random moments of a simulated hour of 300 calls: every call accounted for,
no arrival rewritten, no citizen dialled twice, and the day's figures those of the calls as
the PBX saw them (within what the downtimes themselves hide)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, date
from pathlib import Path

import pytest

from hotline.events import Direction
from hotline.pbx_bridge.simulator import SHIPPED_CHANNELVARS, AgentBehaviour, CitizenBehaviour
from hotline.reports.compute import totals
from hotline.reports.model import CallFigures, ReportData, ReportOptions
from hotline.settings import load_settings
from hotline.store import CallOutcome, Store
from hotline.store.reports import ReportCall, report_calls
from tests.integration.restart_harness import ServiceProcess, TruthSimulator, site_config, until

SPEED = 60.0
HOUR_S = 3600.0
CALLS = 300
KILLS = 20
AGENTS = ("1001", "1002", "1003", "1004", "1005")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def sim() -> AsyncIterator[TruthSimulator]:
    settings = load_settings(environ={})
    simulator = TruthSimulator(
        port=0, time_scale=1.0 / SPEED, dialplan=settings.dialplan, seed=5, channelvars=SHIPPED_CHANNELVARS
    )
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.close()


def _figures(calls: list[ReportCall], threshold_s: float) -> CallFigures:
    """The report's call figures (``hotline report``'s own computation) of these calls."""
    data = ReportData(calls=calls, agent_history=None, opened=[], closed=[], steps=[], clocks_due=[])
    options = ReportOptions(
        first_day=date(2026, 1, 1),
        last_day=date(2026, 1, 1),
        tz=UTC,
        threshold_s=threshold_s,
        short_abandon_s=0.0,
    )
    return totals(data, options).calls


@pytest.mark.slow
async def test_twenty_kills_in_a_simulated_hour_lose_nothing(sim: TruthSimulator, tmp_path: Path) -> None:
    rng = random.Random(20261128)
    threshold_s = 15.0
    config = site_config(
        tmp_path,
        sim.port,
        AGENTS,
        # No pre-emption: every dial of a citizen here is a first (and only) attempt.
        queue={"wrap_up_s": 10.0, "preempt_callbacks": False, "return_call_delay_s": 30.0},
    )
    service = ServiceProcess(sim, tmp_path, config, SPEED)
    for i, agent in enumerate(AGENTS):
        sim.set_agent_behaviour(agent, AgentBehaviour.answering(after_s=2.0, talk_s=20.0 + 8.0 * i))
    start = sim.now()
    arrivals = sorted(rng.uniform(0.0, HOUR_S) for _ in range(CALLS))
    kills = sorted(rng.uniform(60.0, HOUR_S - 60.0) for _ in range(KILLS))
    placed: list[str] = []
    snapshots: list[dict[str, float]] = []  # each call's stored arrival, before each kill
    downtimes: list[tuple[float, float]] = []

    async def at(offset: float) -> None:
        await asyncio.sleep(max(0.0, (start + offset - sim.now()) / SPEED))

    async def callers() -> None:
        for i, offset in enumerate(arrivals):
            await at(offset)
            number = f"1380{i:07d}"
            sim.set_citizen_behaviour(number, CitizenBehaviour.answer(after_s=3.0, talk_s=15.0))
            patience = 900.0 if rng.random() < 0.8 else rng.uniform(30.0, 120.0)
            placed.append(sim.place_inbound_call(number, f"市民{i}", patience_s=patience))

    async def killer() -> None:
        for offset in kills:
            await at(offset)
            rows = service.query("SELECT call_id, arrived_at FROM call_records WHERE direction = 'inbound'")
            snapshots.append({r["call_id"]: r["arrived_at"] for r in rows})
            killed_at = await service.kill()
            await asyncio.sleep(rng.uniform(0.0, 5.0) / SPEED)
            downtimes.append((killed_at, await service.start()))

    await service.start()
    await asyncio.gather(callers(), killer())

    def settled() -> bool:
        live = service.query("SELECT count(*) AS n FROM call_records WHERE state IS NULL OR state <> 'ended'")
        open_callbacks = service.query(
            "SELECT count(*) AS n FROM callbacks WHERE status IN ('pending', 'in_progress')"
        )
        return (
            len(sim.truth.ended) >= len(placed)
            and not sim.live_calls()
            and live[0]["n"] == 0
            and open_callbacks[0]["n"] == 0
        )

    await until(
        settled,
        120.0,
        "every call and callback over",
        lambda: service.query("SELECT * FROM callbacks WHERE status IN ('pending', 'in_progress')"),
    )
    await service.stop()

    async with Store.open(service.db_path) as store:
        records = {c.call_id: c for c in await store.calls_between(0, 1e12)}
        reported = {c.call_id: c for c in await report_calls(store, 0, 1e12)}  # what the report reads
    inbound = {cid: c for cid, c in records.items() if c.direction is Direction.INBOUND}
    truth = sim.truth

    # 0 calls unaccounted for: every call the PBX queued has one record, ended with an outcome.
    # A call that came and went entirely while the service was down left no trace it could
    # read (AMI has no history): those are counted apart, and must be the only ones missing.
    assert len(placed) == CALLS and set(truth.arrived) == set(placed)
    starts = [start] + [resynced for _, resynced in downtimes]
    ends = [killed for killed, _ in downtimes] + [1e18]
    up = list(zip(starts, ends, strict=True))

    def watched_s(cid: str) -> float:  # how long a running service saw the call
        life = (truth.arrived[cid], truth.ended[cid])
        return sum(max(0.0, min(life[1], k) - max(life[0], s)) for s, k in up)

    unseen = {cid for cid in placed if watched_s(cid) < 0.2 * SPEED}
    missing = [cid for cid in placed if cid not in inbound or inbound[cid].outcome is None]
    assert sorted(set(missing) - unseen) == [], [
        (cid, truth.arrived[cid] - start, truth.ended[cid] - start, watched_s(cid), inbound.get(cid))
        for cid in sorted(set(missing) - unseen)
    ]
    placed = [cid for cid in placed if cid not in unseen]
    # 0 records with a rewritten arrival: what was stored before each kill stayed; and it is
    # the arrival the PBX saw.
    rewritten = [
        cid for snap in snapshots for cid, arrived in snap.items() if inbound[cid].arrived_at != arrived
    ]
    assert rewritten == []
    late = [cid for cid in placed if abs((inbound[cid].arrived_at or 0.0) - truth.arrived[cid]) > 0.5 * SPEED]
    assert late == []
    # 0 citizens dialled twice.
    assert [n for n, dials in truth.citizen_dials.items() if dials > 1] == []
    # Answered and abandoned as the PBX saw them.  One case cannot be told from AMI: a call
    # ringing an agent at the kill, answered and ended while the service was down, is gone at
    # the resync like an abandoned one; its record says the end was not seen.
    in_downtime = [(killed, resynced) for killed, resynced in downtimes]
    ambiguous = {
        cid
        for cid in placed
        if inbound[cid].end_uncertain
        and inbound[cid].outcome is CallOutcome.ABANDONED
        and cid in truth.answered
        # (or just before the kill, faster than the killed process could write it)
        and any(killed - 0.5 * SPEED <= truth.answered[cid] <= resynced for killed, resynced in in_downtime)
    }
    for cid in placed:
        if cid in ambiguous:
            assert inbound[cid].offers  # it was ringing an agent
            continue
        expected = CallOutcome.ANSWERED if cid in truth.answered else CallOutcome.ABANDONED
        assert inbound[cid].outcome is expected, (cid, inbound[cid])
    # Every caller the service saw abandoned was owed exactly one return call.
    abandoned = {cid for cid, call in inbound.items() if call.outcome is CallOutcome.ABANDONED}
    origins = [r for r in service.query("SELECT origin_call_id FROM callbacks WHERE kind = 'return_call'")]
    assert sorted(r["origin_call_id"] for r in origins) == sorted(abandoned), (
        len(unseen),
        len(placed),
        up[:3],
    )

    # The day's report equals the report of the calls as the PBX saw them, within what the
    # downtimes change: a call answered while the service was down is answered, as far as the
    # service can know, when the resync found it.
    seen = {
        cid: ReportCall(
            call_id=cid,
            direction="inbound",
            arrived_at=truth.arrived[cid],
            offered_at=None,
            answered_at=truth.answered.get(cid),
            ended_at=truth.ended[cid],
            wait_s=truth.answered[cid] - truth.arrived[cid] if cid in truth.answered else None,
            talk_s=None,
            agent_id=None,
            outcome="answered" if cid in truth.answered else "abandoned",
            end_uncertain=0,
        )
        for cid in placed
    }
    ours = _figures([reported[cid] for cid in placed], threshold_s)
    theirs = _figures(list(seen.values()), threshold_s)
    assert (ours.offered, ours.answered + len(ambiguous), ours.abandoned - len(ambiguous)) == (
        theirs.offered,
        theirs.answered,
        theirs.abandoned,
    )
    assert ours.other == theirs.other == 0 and ours.in_progress == 0
    assert len(ambiguous) <= KILLS * len(AGENTS)  # at most the calls ringing at the kills
    hidden = [
        (cid, resynced - truth.answered[cid])
        for cid in truth.answered
        for killed, resynced in downtimes
        if killed <= truth.answered[cid] <= resynced and cid not in ambiguous
    ]
    ours = _figures([reported[cid] for cid in placed if cid not in ambiguous], threshold_s)
    theirs = _figures([seen[cid] for cid in placed if cid not in ambiguous], threshold_s)
    latency = 0.5 * SPEED
    assert ours.asa_s is not None and theirs.asa_s is not None
    assert abs(ours.asa_s - theirs.asa_s) <= sum(d for _, d in hidden) / ours.answered + latency
    assert abs(ours.answered_within - theirs.answered_within) <= len(hidden) + ours.answered // 20
    sl, sl_pbx = ours.answered_within / ours.offered, theirs.answered_within / theirs.offered
    print(
        f"\n{CALLS} calls, {KILLS} kills, downtime {sum(b - a for a, b in downtimes):.0f} s simulated; "
        f"answered {ours.answered}, abandoned {ours.abandoned}; ASA {ours.asa_s:.1f} s "
        f"(PBX {theirs.asa_s:.1f} s); SL {sl:.3f} (PBX {sl_pbx:.3f}); "
        f"answers hidden by downtimes {len(hidden)}; calls wholly inside a downtime {len(unseen)}; "
        f"answered unseen (ambiguous) {len(ambiguous)}; "
        f"return calls {len(origins)}; "
        f"max dials per citizen {max(truth.citizen_dials.values(), default=0)}"
    )
