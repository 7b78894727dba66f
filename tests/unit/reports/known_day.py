"""A known day, Friday 10 October 2025 (Shanghai time), whose every figure is worked out by hand
in the tests: calls with known waits and outcomes, two agents' state changes, tickets, clocks.

Inbound calls (arrival, outcome, wait, talk):

==  =====  ==========================  ====  ====  =====
 #  time   outcome                     wait  talk  agent
==  =====  ==========================  ====  ====  =====
 1  09:00  answered                       5   100  1001
 2  09:05  answered                      12   200  1002
 3  09:10  answered                      40    60  1001
 4  09:20  abandoned                     30
 5  09:25  abandoned (short)              3
 6  09:40  answered, end uncertain       20     ?  1002
 7  09:45  lost (other)
 8  10:10  abandoned (short)              2
 9  10:15  answered                       8    50  1001
10  10:20  still live (in progress)
11  10:25  abandoned, end uncertain       2
==  =====  ==========================  ====  ====  =====

Callbacks: 09:50 reached by 1001 (talk 90), 10:40 not reached.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime

from hotline.reports.model import ReportData, ReportOptions
from hotline.store.reports import (
    AgentStateEntry,
    AgentStateRow,
    ReportCall,
    ReportClock,
    ReportTicket,
    ReportTransition,
)

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
DAY = date(2025, 10, 10)
X = "01010101"  # 城市管理 / 共享单车管理 / ... / 共享单车停放秩序日常监管
Y = "01020101"  # 城市管理 / 市容环境卫生 / 生活垃圾清运不及时 / 生活垃圾收运监管
D1 = "区城市管理局"
D2 = "市交通运输局"


def at(hour: int, minute: int = 0, second: int = 0, day: date = DAY) -> float:
    """An instant of the known day (or another), Shanghai time."""
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=TZ).timestamp()


def inbound(
    n: int,
    arrived: float,
    outcome: str | None,
    wait: float | None = None,
    talk: float | None = None,
    agent: str | None = None,
    uncertain: bool = False,
) -> ReportCall:
    answered = arrived + wait if outcome == "answered" and wait is not None else None
    if outcome is None:
        ended = None
    elif answered is not None and talk is not None:
        ended = answered + talk
    elif outcome == "abandoned" and wait is not None and not uncertain:
        ended = arrived + wait
    else:
        ended = arrived + 600.0  # uncertain: the end of the window, not the real end
    return ReportCall(
        call_id=f"1760061600.{n}",
        direction="inbound",
        arrived_at=arrived,
        offered_at=arrived if answered is not None else None,
        answered_at=answered,
        ended_at=ended,
        wait_s=wait,
        talk_s=talk,
        agent_id=agent,
        outcome=outcome,
        end_uncertain=int(uncertain),
    )


def callback(
    n: int, started: float, reached: bool, talk: float | None = None, agent: str | None = None
) -> ReportCall:
    return ReportCall(
        call_id=f"1760061600.{n}",
        direction="callback",
        arrived_at=None,
        offered_at=started,
        answered_at=started + 10 if reached else None,
        ended_at=started + 10 + (talk or 0.0),
        wait_s=None,
        talk_s=talk,
        agent_id=agent,
        outcome="answered" if reached else "no_answer",
        end_uncertain=0,
    )


CALLS = [
    inbound(1, at(9, 0), "answered", 5, 100, "1001"),
    inbound(2, at(9, 5), "answered", 12, 200, "1002"),
    inbound(3, at(9, 10), "answered", 40, 60, "1001"),
    inbound(4, at(9, 20), "abandoned", 30),
    inbound(5, at(9, 25), "abandoned", 3),
    inbound(6, at(9, 40), "answered", 20, None, "1002", uncertain=True),
    inbound(7, at(9, 45), "lost"),
    inbound(8, at(10, 10), "abandoned", 2),
    inbound(9, at(10, 15), "answered", 8, 50, "1001"),
    inbound(10, at(10, 20), None),
    inbound(11, at(10, 25), "abandoned", 2, uncertain=True),
    callback(12, at(9, 50), True, 90, "1001"),
    callback(13, at(10, 40), False),
]

_A, _B = "1001", "1002"
HISTORY = [
    AgentStateEntry(_A, "logged_out", None, at(20, day=date(2025, 10, 9))),  # the day before
    AgentStateEntry(_A, "ready", None, at(8)),
    AgentStateEntry(_A, "offered", None, at(9, 0, 0)),
    AgentStateEntry(_A, "busy_inbound", None, at(9, 0, 5)),
    AgentStateEntry(_A, "wrap_up", None, at(9, 1, 45)),
    AgentStateEntry(_A, "ready", None, at(9, 2, 15)),
    AgentStateEntry(_A, "offered", None, at(9, 10, 35)),
    AgentStateEntry(_A, "busy_inbound", None, at(9, 10, 40)),
    AgentStateEntry(_A, "wrap_up", None, at(9, 11, 40)),
    AgentStateEntry(_A, "ready", None, at(9, 12, 40)),
    AgentStateEntry(_A, "paused", "lunch", at(12)),
    AgentStateEntry(_A, "ready", None, at(13)),
    AgentStateEntry(_A, "logged_out", None, at(17)),
    AgentStateEntry(_B, "ready", None, at(8, 30)),
    AgentStateEntry(_B, "offered", None, at(9, 5, 0)),
    AgentStateEntry(_B, "busy_inbound", None, at(9, 5, 12)),
    AgentStateEntry(_B, "wrap_up", None, at(9, 8, 32)),
    AgentStateEntry(_B, "ready", None, at(9, 9, 2)),
    AgentStateEntry(_B, "offered", None, at(10, 0, 0)),
    AgentStateEntry(_B, "paused", "no_answer", at(10, 0, 20)),
    AgentStateEntry(_B, "ready", None, at(10, 5)),
    AgentStateEntry(_B, "paused", "training", at(15)),
    AgentStateEntry(_B, "logged_out", None, at(16)),
]

OPENED = [
    ReportTicket(1, "complaint", X, D1, at(9, 3)),
    ReportTicket(2, "complaint", Y, D2, at(9, 30)),
    ReportTicket(3, "consultation", X, D1, at(10)),
]
CLOSED = [ReportTicket(3, "consultation", X, D1, at(16))]
STEPS = [
    ReportTransition(1, "extend", at(11), None, "complaint", D1),
    ReportTransition(2, "return", at(12), None, "complaint", D2),
    ReportTransition(1, "supervise", at(13), None, "complaint", D1),
    ReportTransition(10, "evaluate", at(14), "not_satisfied", "consultation", D1),
    ReportTransition(10, "reopen", at(14, 5), None, "consultation", D1),
    ReportTransition(14, "evaluate", at(15), "satisfied", "complaint", D2),
    ReportTransition(15, "evaluate", at(15, 10), "basically_satisfied", "complaint", D2),
    ReportTransition(16, "evaluate", at(15, 20), "unreachable", "consultation", D1),
]
_DUE_AT = at(0, day=date(2025, 10, 11))  # the end (24:00) of the due day
CLOCKS = [
    ReportClock(
        10,
        "12345-20250926-000010",
        "feedback",
        "2025-10-10",
        _DUE_AT,
        at(10),
        "consultation",
        D1,
        X,
        "reopened",
    ),
    ReportClock(
        14,
        "12345-20250926-000014",
        "staged_feedback",
        "2025-10-10",
        _DUE_AT,
        at(9, day=date(2025, 10, 12)),
        "complaint",
        D2,
        Y,
        "evaluated",
    ),
    ReportClock(
        15, "12345-20250926-000015", "closing", "2025-10-10", _DUE_AT, None, "complaint", D2, Y, "callback"
    ),
    ReportClock(
        16,
        "12345-20250926-000016",
        "feedback",
        "2025-10-10",
        _DUE_AT,
        at(9),
        "consultation",
        D1,
        X,
        "callback",
    ),
]
#: When the report is made: the next morning, 09:00.
NOW = at(9, day=date(2025, 10, 11))


def options(**kw: object) -> ReportOptions:
    base: dict[str, object] = {
        "first_day": DAY,
        "last_day": DAY,
        "tz": TZ,
        "interval_min": 30,
        "threshold_s": 15.0,
        "short_abandon_s": 5.0,
        "service_level_target": 0.8,
        "top_n": 5,
        "now": NOW,
    }
    base.update(kw)
    return ReportOptions(**base)  # type: ignore[arg-type]


def history_rows(entries: list[AgentStateEntry]) -> list[AgentStateRow]:
    """The history as the store returns it: tuples, in time order."""
    return [(e.agent_id, e.state, e.reason, e.at) for e in sorted(entries, key=lambda e: e.at)]


def data() -> ReportData:
    return ReportData(
        calls=list(CALLS),
        agent_history=history_rows(HISTORY),
        opened=list(OPENED),
        closed=list(CLOSED),
        steps=list(STEPS),
        clocks_due=list(CLOCKS),
        overdue=[c for c in CLOCKS if c.met_at is None],
    )
