"""The queue's runtime: feeds the dispatcher one ordered stream and carries out its commands.

One task (``run``) takes inputs from the inbox in order, asks the dispatcher, and hands the
commands out: PBX actions run as owned tasks whose failures come back through the inbox
(``ActionFailed``, ``CallbackOriginated``), so the dispatcher stays the only owner of live
state; timers are event-loop handles that put ``TimerFired`` in the inbox; records go to the
persistence worker in order; log lines go to structlog with the call and agent bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import structlog

from hotline.clock import Clock
from hotline.pbx_bridge.actions import InvalidDialTargetError, PbxActions
from hotline.pbx_bridge.codec import HeaderInjectionError
from hotline.pbx_bridge.errors import ActionTimeoutError, AmiError, ConnectionLostError
from hotline.queue.commands import (
    CancelCallbackDial,
    CancelTimer,
    Command,
    ConnectCallToAgent,
    HangupChannel,
    Log,
    PersistAgentState,
    PersistCallback,
    RecordCall,
    RejectAgentCommand,
    ReturnCallToHold,
    StartCallback,
    StartTimer,
    TrackCall,
)
from hotline.queue.dispatcher import Dispatcher
from hotline.queue.inputs import ActionFailed, CallbackOriginated, QueueInput, TimerFired

log = structlog.get_logger("hotline.queue")

PersistCommand = PersistAgentState | PersistCallback | RecordCall | TrackCall
#: At most this many records handed to the store at once (one group commit's worth).
_PERSIST_RUN = 500


class Persistence(Protocol):
    """Where the runtime sends records (the store adapter; absent in pure simulations)."""

    async def persist(self, command: PersistCommand) -> None:
        """Write one record durably.  An agent state or a call record is one store write,
        queued before the first wait: records persisted one after another (without waiting
        for each) reach the store in that order."""
        ...


class QueueRuntime:
    """Owns the dispatcher's loop, its timers and the tasks that carry out its commands."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        actions: PbxActions,
        clock: Clock,
        inbox: asyncio.Queue[QueueInput],
        *,
        persistence: Persistence | None = None,
        observer: Callable[[QueueInput, list[Command]], None] | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self._actions = actions
        self._clock = clock
        self._inbox = inbox
        self._persistence = persistence
        self._observer = observer
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._records: asyncio.Queue[PersistCommand] = asyncio.Queue()
        self._records_queued = 0  # records handed to the persistence worker so far
        self._records_done = 0  # ... and written (or failed) so far
        self._records_progress = asyncio.Condition()
        self._tasks: asyncio.TaskGroup | None = None
        self.handled = 0

    async def run(self) -> None:
        """Run until cancelled: the dispatcher loop, the PBX action tasks, the persistence worker."""
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                tasks.create_task(self._persist_in_order(), name="queue-persistence")
                self._carry_out(self.dispatcher.start(self._clock.now()))
                while True:
                    event = await self._inbox.get()
                    commands = self.dispatcher.handle(event, self._clock.now())
                    self.handled += 1
                    if self._observer is not None:
                        self._observer(event, commands)
                    self._carry_out(commands)
        finally:
            self._tasks = None
            for handle in self._timers.values():
                handle.cancel()
            self._timers.clear()

    async def drain_records(self) -> None:
        """Wait until every record handed out so far is written (for a clean stop)."""
        await self._records.join()

    # -- commands ------------------------------------------------------------------------

    def _carry_out(self, commands: Iterable[Command]) -> None:
        for command in commands:
            if isinstance(command, Log):
                _log_line(command)
            elif isinstance(command, StartTimer):
                self._arm(command.key, command.at)
            elif isinstance(command, CancelTimer):
                handle = self._timers.pop(command.key, None)
                if handle is not None:
                    handle.cancel()
            elif isinstance(command, PersistAgentState | PersistCallback | RecordCall | TrackCall):
                if self._persistence is not None:
                    self._records_queued += 1
                    self._records.put_nowait(command)
            elif isinstance(command, RejectAgentCommand):
                log.warning(
                    "agent.command_rejected",
                    agent_id=command.agent_id,
                    command=command.command,
                    reason=command.reason,
                )
            else:
                self._spawn(command)

    def _arm(self, key: str, at: float) -> None:
        previous = self._timers.pop(key, None)
        if previous is not None:
            previous.cancel()
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.pop(key, None)
            self._inbox.put_nowait(TimerFired(key))

        self._timers[key] = loop.call_later(self._clock.delay_until(at), fire)

    def _spawn(
        self,
        command: ConnectCallToAgent | ReturnCallToHold | StartCallback | CancelCallbackDial | HangupChannel,
    ) -> None:
        assert self._tasks is not None, "commands are carried out only while running"
        # Write-ahead: an Originate or a Redirect waits for the records handed out before it
        # (the callback marked in progress, the call's record): a crash in between must never
        # leave a dialled callback stored as pending, nor an offered call without a record.
        after = self._records_queued if isinstance(command, StartCallback | ConnectCallToAgent) else 0
        self._tasks.create_task(self._pbx(command, after), name=f"pbx-{type(command).__name__}")

    async def _written(self, count: int) -> None:
        """Wait until the first ``count`` records handed out are written (or failed)."""
        async with self._records_progress:
            await self._records_progress.wait_for(lambda: self._records_done >= count)

    async def _pbx(
        self,
        command: ConnectCallToAgent | ReturnCallToHold | StartCallback | CancelCallbackDial | HangupChannel,
        after: int = 0,
    ) -> None:
        if after:
            await self._written(after)
        try:
            if isinstance(command, ConnectCallToAgent):
                await self._actions.redirect_to_agent(
                    command.channel, command.agent_id, command.device, ring_timeout_s=command.ring_timeout_s
                )
            elif isinstance(command, ReturnCallToHold):
                await self._actions.return_to_hold(command.channel)
            elif isinstance(command, StartCallback):
                action_id = await self._actions.originate_callback(
                    command.callback_id,
                    command.device,
                    command.number,
                    agent_ring_timeout_s=command.ring_timeout_s,
                    citizen_timeout_s=command.citizen_timeout_s,
                )
                self._inbox.put_nowait(CallbackOriginated(command.callback_id, action_id))
            else:
                await self._actions.hangup(command.channel)
        except (InvalidDialTargetError, HeaderInjectionError) as exc:
            self._inbox.put_nowait(ActionFailed(command, str(exc), permanent=True))
        except (ActionTimeoutError, ConnectionLostError) as exc:
            # Sent, but no answer: Asterisk may have done it.  Never re-send blindly.
            if isinstance(command, StartCallback):
                # A late OriginateResponse still finds its attempt by ActionID.
                self._inbox.put_nowait(CallbackOriginated(command.callback_id, exc.action_id))
            self._inbox.put_nowait(ActionFailed(command, str(exc), uncertain=True))
        except AmiError as exc:  # not connected (nothing sent) or refused: certainly not done
            self._inbox.put_nowait(ActionFailed(command, str(exc)))
        except Exception as exc:  # a bug here must not take the queue down: report it as a failure
            log.error("pbx.action_crashed", command=type(command).__name__, error=repr(exc))
            self._inbox.put_nowait(ActionFailed(command, repr(exc), permanent=True))

    async def _persist_in_order(self) -> None:
        """Write the records in the order the dispatcher made them.

        Consecutive records that are one store write each (agent states, call records) are
        handed to the persistence together, in order: the store's queue keeps that order and one
        commit carries them all, so a burst (a thousand agents logging in at the start of a
        shift) takes a few commits instead of a thousand.  A callback (several writes, each
        depending on the one before, and the store id later call records name) is written
        alone, once everything before it is written."""
        held: PersistCommand | None = None
        while True:
            first = held if held is not None else await self._records.get()
            held = None
            run = [first]
            if not isinstance(first, PersistCallback):
                while len(run) < _PERSIST_RUN and not self._records.empty():
                    command = self._records.get_nowait()
                    if isinstance(command, PersistCallback):
                        held = command
                        break
                    run.append(command)
            try:
                await asyncio.gather(*(self._persist(command) for command in run))
            finally:
                async with self._records_progress:
                    self._records_done += len(run)
                    self._records_progress.notify_all()

    async def _persist(self, command: PersistCommand) -> None:
        try:
            if self._persistence is not None:
                await self._persistence.persist(command)
        except Exception as exc:  # a failed write is logged; the queue keeps routing
            log.error("store.write_failed", record=type(command).__name__, error=repr(exc))
        finally:
            self._records.task_done()


def _log_line(command: Log) -> None:
    fields: dict[str, Any] = dict(command.fields)
    method = getattr(log, command.level, log.info)
    method(command.event, **fields)
