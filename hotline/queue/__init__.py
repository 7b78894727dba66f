"""The queue (ACD): agents, work items, the router and the dispatcher — decisions without I/O.

``Dispatcher.handle(event, now) -> list[Command]`` is the whole interface: domain events from
:mod:`hotline.events` and the inputs of :mod:`hotline.queue.inputs` go in, the commands of
:mod:`hotline.queue.commands` come out for an async runner to carry out.  Nothing here awaits,
reads a clock, or imports the PBX bridge, the bus or the store.
"""

from hotline.queue.agents import AgentState, AgentStateRecord, AgentTrigger, IllegalAgentTransition
from hotline.queue.dispatcher import Dispatcher, DispatcherStats, QueueConfigError, QueueSnapshot
from hotline.queue.router import NaiveRouter, Router
from hotline.queue.work import (
    AttemptOutcome,
    Callback,
    CallbackAttempt,
    CallbackKind,
    CallbackStatus,
    CallingHours,
    CallOutcome,
    CallRecord,
    PriorityClass,
    WaitingCall,
)

__all__ = [
    "AgentState",
    "AgentStateRecord",
    "AgentTrigger",
    "AttemptOutcome",
    "CallOutcome",
    "CallRecord",
    "Callback",
    "CallbackAttempt",
    "CallbackKind",
    "CallbackStatus",
    "CallingHours",
    "Dispatcher",
    "DispatcherStats",
    "IllegalAgentTransition",
    "NaiveRouter",
    "PriorityClass",
    "QueueConfigError",
    "QueueSnapshot",
    "Router",
    "WaitingCall",
]
