"""A restart loses nothing: the real service process SIGKILLed and started again on the same
database, against the simulator over TCP.  Each test checks the service's records against what
the PBX really did (its own event stream), not against the service's own view."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest

from hotline.pbx_bridge.simulator import SHIPPED_CHANNELVARS, AgentBehaviour, CitizenBehaviour
from hotline.settings import load_settings
from hotline.store import CallbackKind, NewCallback, Store, StoredAgentState
from tests.integration.restart_harness import ServiceProcess, TruthSimulator, site_config, until

SPEED = 20.0
#: Real seconds to wait for something the simulated scenario makes happen.
WAIT_S = 30.0


class Scenario:
    def __init__(self, sim: TruthSimulator, workdir: Path) -> None:
        self.sim = sim
        self.workdir = workdir
        self.service: ServiceProcess | None = None

    def configure(
        self,
        agents: Sequence[str],
        *,
        queue: dict[str, object] | None = None,
        dialplan: dict[str, object] | None = None,
    ) -> ServiceProcess:
        config = site_config(self.workdir, self.sim.port, agents, queue=queue, dialplan=dialplan)
        self.service = ServiceProcess(self.sim, self.workdir, config, SPEED)
        return self.service

    async def sim_sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / SPEED)


@pytest.fixture
async def scenario(tmp_path: Path) -> AsyncIterator[Scenario]:
    settings = load_settings(environ={})
    sim = TruthSimulator(
        port=0, time_scale=1.0 / SPEED, dialplan=settings.dialplan, seed=11, channelvars=SHIPPED_CHANNELVARS
    )
    await sim.start()
    s = Scenario(sim, tmp_path)
    try:
        yield s
    finally:
        if s.service is not None:
            await s.service.stop()
        await sim.close()


def _state(service: ServiceProcess, call_id: str) -> str | None:
    row = service.call(call_id)
    return None if row is None else str(row["state"])


def _is(service: ServiceProcess, call_id: str, *states: str) -> Callable[[], bool]:
    return lambda: _state(service, call_id) in states


async def _seed(service: ServiceProcess, seed: Callable[[Store], object]) -> None:
    async with Store.open(service.db_path) as store:
        await seed(store)  # type: ignore[misc]


async def test_waiting_and_talking_callers_keep_their_times_across_a_kill(scenario: Scenario) -> None:
    sim = scenario.sim
    service = scenario.configure(["1001"], queue={"wrap_up_s": 2.0})
    sim.set_agent_behaviour("1001", AgentBehaviour.answering(after_s=1.0, talk_s=150.0))
    await service.start()
    talking = sim.place_inbound_call("13800000001", "张三", patience_s=900.0)
    await until(_is(service, talking, "answered"), WAIT_S, "the first caller talks")
    waiting = sim.place_inbound_call("13800000002", "李四", patience_s=900.0)
    await until(_is(service, waiting, "waiting"), WAIT_S, "the second caller waits")
    await scenario.sim_sleep(40.0)
    before_talking, before_waiting = service.call(talking), service.call(waiting)
    assert before_talking is not None and before_waiting is not None
    killed_at = await service.kill()
    await scenario.sim_sleep(10.0)
    resynced_at = await service.start()

    await until(_is(service, waiting, "answered", "ended"), WAIT_S * 2, "the waiting caller is answered")
    await until(_is(service, talking, "ended"), WAIT_S, "the first call ended")
    after_talking, after_waiting = service.call(talking), service.call(waiting)
    assert after_talking is not None and after_waiting is not None
    truth = sim.truth
    # The talking caller: arrival, answer, caller and wait as before the kill; its end was seen.
    for key in ("arrived_at", "answered_at", "wait_s", "caller_number", "agent_id"):
        assert after_talking[key] == before_talking[key], key
    assert after_talking["caller_number"] == "13800000001" and after_talking["outcome"] == "answered"
    assert not after_talking["end_uncertain"]
    assert after_talking["talk_s"] == pytest.approx(
        truth.ended[talking] - truth.answered[talking], abs=0.5 * SPEED
    )
    # The waiting caller: its arrival kept, its wait = 40 s before the kill + the downtime + after.
    assert after_waiting["arrived_at"] == before_waiting["arrived_at"]
    assert after_waiting["arrived_at"] == pytest.approx(truth.arrived[waiting], abs=0.5 * SPEED)
    assert after_waiting["wait_s"] >= 40.0 + (resynced_at - killed_at)
    assert after_waiting["wait_s"] == pytest.approx(
        truth.answered[waiting] - truth.arrived[waiting], abs=0.5 * SPEED
    )
    assert after_waiting["caller_number"] == "13800000002"


async def test_a_caller_who_hangs_up_during_the_downtime_is_abandoned_and_called_back_once(
    scenario: Scenario,
) -> None:
    sim = scenario.sim
    service = scenario.configure(["1001"], queue={"wrap_up_s": 2.0, "return_call_delay_s": 5.0})
    sim.set_agent_behaviour("1001", AgentBehaviour.answering(after_s=1.0, talk_s=60.0))
    sim.set_citizen_behaviour("13800000077", CitizenBehaviour.answer(after_s=2.0, talk_s=10.0))
    await service.start()
    talking = sim.place_inbound_call("13800000001", "张三", patience_s=900.0)
    await until(_is(service, talking, "answered"), WAIT_S, "the first caller talks")
    gone = sim.place_inbound_call("13800000077", "王五", patience_s=900.0)
    await until(_is(service, gone, "waiting"), WAIT_S, "the second caller waits")
    await scenario.sim_sleep(5.0)
    killed_at = await service.kill()
    sim.hangup_call(gone)  # while the service is down
    await scenario.sim_sleep(5.0)
    resynced_at = await service.start()

    await until(_is(service, gone, "ended"), WAIT_S, "the vanished caller's record is closed")
    record = service.call(gone)
    assert record is not None
    assert (record["outcome"], record["end_uncertain"], record["caller_number"]) == (
        "abandoned",
        1,
        "13800000077",
    )
    assert record["last_seen_at"] <= killed_at and record["ended_at"] >= resynced_at - 1.0 * SPEED
    assert record["arrived_at"] == pytest.approx(sim.truth.arrived[gone], abs=0.5 * SPEED)
    assert record["talk_s"] is None

    def return_calls() -> list[object]:
        return service.query("SELECT * FROM callbacks WHERE origin_call_id = ?", (gone,))

    await until(
        lambda: [r["status"] for r in return_calls()] == ["done"], WAIT_S * 2, "the return call reached"
    )  # type: ignore[index]
    assert len(return_calls()) == 1
    assert sim.truth.citizen_dials["13800000077"] == 1


async def test_a_paused_agent_stays_paused_and_a_wrap_up_ends_at_its_deadline(scenario: Scenario) -> None:
    sim = scenario.sim
    wrap_up_s = 100.0
    service = scenario.configure(["1001", "1002"], queue={"wrap_up_s": wrap_up_s})
    sim.set_agent_behaviour("1001", AgentBehaviour.answering(after_s=1.0, talk_s=10.0))

    async def paused(store: Store) -> None:  # paused at its desk before this run
        await store.save_agent_state(
            StoredAgentState(agent_id="1002", state="paused", reason="training", since=0.0)
        )

    await _seed(service, paused)
    await service.start()
    call = sim.place_inbound_call("13800000001", "张三", patience_s=900.0)
    await until(_is(service, call, "ended"), WAIT_S, "the call ended")
    await until(lambda: (service.agent("1001") or {"state": ""})["state"] == "wrap_up", WAIT_S, "wrap-up")
    deadline = service.agent("1001")["wrap_up_until"]  # type: ignore[index]
    await scenario.sim_sleep(wrap_up_s - 30.0)  # a little of the wrap-up is left at the kill
    await service.kill()
    restarted_at = await service.start()

    restored = {line["agent_id"]: line for line in service.logs(2) if line.get("event") == "agent.restored"}
    assert (restored["1002"]["state"], restored["1002"]["reason"]) == ("paused", "training")
    assert restored["1001"]["state"] == "wrap_up"
    assert 0 < restored["1001"]["wrap_up_remaining_s"] <= deadline - restarted_at + 1.0 * SPEED
    await until(lambda: service.agent("1001")["state"] == "ready", WAIT_S, "ready after the wrap-up")  # type: ignore[index]
    ready_since = service.agent("1001")["since"]  # type: ignore[index]
    assert deadline <= ready_since <= deadline + 0.5 * SPEED  # at its deadline...
    assert ready_since < restarted_at + wrap_up_s / 2  # ...not a whole wrap-up after the restart
    agent = service.agent("1002")
    assert agent is not None and (agent["state"], agent["reason"]) == ("paused", "training")


async def test_two_callers_a_split_second_apart_keep_their_order(scenario: Scenario) -> None:
    sim = scenario.sim
    service = scenario.configure(["1001"], queue={"wrap_up_s": 1.0})
    sim.set_agent_behaviour("1001", AgentBehaviour.answering(after_s=1.0, talk_s=40.0))
    await service.start()
    talking = sim.place_inbound_call("13800000001", "张三", patience_s=900.0)
    await until(_is(service, talking, "answered"), WAIT_S, "the first caller talks")
    first = sim.place_inbound_call("13800000002", "李四", patience_s=900.0)
    await scenario.sim_sleep(0.3)
    second = sim.place_inbound_call("13800000003", "王五", patience_s=900.0)
    await until(_is(service, second, "waiting"), WAIT_S, "both wait")
    await service.kill()
    await scenario.sim_sleep(5.0)
    await service.start()
    await until(_is(service, second, "answered", "ended"), WAIT_S * 3, "both were answered")
    a, b = service.call(first), service.call(second)
    assert a is not None and b is not None
    assert a["arrived_at"] < b["arrived_at"] < a["arrived_at"] + 0.3 + 0.5 * SPEED
    assert a["answered_at"] < b["answered_at"]
    assert sim.truth.answered[first] < sim.truth.answered[second]


async def test_a_callback_ringing_its_agent_at_the_kill_is_not_answered_and_dials_once(
    scenario: Scenario,
) -> None:
    sim = scenario.sim
    number = "13900000055"
    service = scenario.configure(["1001"], queue={"wrap_up_s": 1.0}, dialplan={"ring_timeout_s": 200})
    sim.set_agent_behaviour("1001", AgentBehaviour.answering(after_s=100.0, talk_s=20.0))
    sim.set_citizen_behaviour(number, CitizenBehaviour.answer(after_s=2.0, talk_s=10.0))

    async def owed(store: Store) -> None:
        await store.create_callback(
            NewCallback(
                kind=CallbackKind.FOLLOW_UP,
                number=number,
                due_at=sim.now() - 60.0,
                window_start="00:00",
                window_end="23:59",
                max_attempts=3,
                retry_spacing_s=900.0,
                created_at=sim.now() - 600.0,
            )
        )

    await _seed(service, owed)
    await service.start()

    def callback_call() -> str | None:
        rows = service.query("SELECT call_id FROM call_records WHERE direction = 'callback'")
        return str(rows[0]["call_id"]) if rows else None

    await until(lambda: callback_call() is not None, WAIT_S, "the callback rings its agent")
    await scenario.sim_sleep(10.0)
    await service.kill()
    await scenario.sim_sleep(5.0)
    restarted_at = await service.start()
    call_id = callback_call()
    assert call_id is not None
    record = service.call(call_id)
    assert record is not None and record["answered_at"] is None and record["state"] == "offered"
    (callback,) = service.query("SELECT * FROM callbacks")
    assert callback["attempts"] == 0

    await until(
        lambda: service.query("SELECT status FROM callbacks")[0]["status"] == "done", WAIT_S * 2, "reached"
    )
    await until(_is(service, call_id, "ended"), WAIT_S, "the callback's call ended")
    record = service.call(call_id)
    assert record is not None and record["answered_at"] > restarted_at and record["outcome"] == "answered"
    assert sim.truth.citizen_dials[number] == 1
    attempts = service.query("SELECT outcome, counted FROM callback_attempts")
    assert [(a["outcome"], a["counted"]) for a in attempts if a["counted"]] == [("reached", 1)]
    with contextlib.suppress(KeyError):
        assert record["answered_at"] == pytest.approx(sim.truth.answered[call_id], abs=0.5 * SPEED)
