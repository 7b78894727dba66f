"""The ticket service: the async edge around the pure workflow, deadlines and SLA decisions.

Every operation reads what it needs from the :class:`~hotline.store.Store`, decides with pure code
(:mod:`hotline.tickets.workflow`, :mod:`hotline.tickets.deadlines`, :mod:`hotline.tickets.sla`)
and writes one atomic :class:`~hotline.tickets.model.TicketChange`; a concurrent change of the
same ticket (another task, or another process on the same file) is detected by the store's
version check and the operation is retried on fresh data.

Log events: ``ticket.created``, ``ticket.duplicate_suspected``, ``ticket.transition``,
``ticket.linked``, ``ticket.follow_up_scheduled``, ``calendar.unknown_year`` (once per year and
process), ``calendar.reloaded``, ``calendar.recomputed``; the SLA sweep's are in
:mod:`hotline.tickets.sla_sweep`.  Citizens' names and numbers are never logged.
"""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from hotline.tickets.deadlines import DeadlineCalculator, WorkflowRules
from hotline.tickets.departments import DepartmentRegistry, load_departments
from hotline.tickets.duplicates import probable_duplicates
from hotline.tickets.errors import AlreadyLinked, InvalidTicket, TicketBusy, TicketNotFound
from hotline.tickets.locks import KeyedLocks
from hotline.tickets.model import (
    Action,
    Channel,
    Deadline,
    DeadlineKind,
    FollowUpRequest,
    LinkRole,
    Satisfaction,
    Ticket,
    TicketChange,
    TicketLink,
    TicketState,
    TicketType,
    Transition,
)
from hotline.tickets.phone import InvalidPhoneNumber, dial_digits, normalise_number
from hotline.tickets.repository import (
    CALLBACK_DONE,
    CALLBACK_FAILED,
    MissingReference,
    RepositoryConflict,
    RepositoryConstraint,
    ScheduledFollowUp,
    TicketRepository,
)
from hotline.tickets.sla_sweep import SlaSweeps
from hotline.tickets.taxonomy import Level, Taxonomy, load_taxonomy
from hotline.tickets.workdays import WorkingCalendar, data_fingerprint
from hotline.tickets.workflow import Command, apply_all

if TYPE_CHECKING:
    from hotline.settings import Settings

_MAX_ATTEMPTS = 5
SYSTEM_ACTOR = "system"


def project_root() -> Path:
    """The directory holding ``config/`` and the ``hotline`` package."""
    return Path(__file__).resolve().parents[2]


def resolve_data_path(text: str) -> Path:
    """A configured path: absolute as is; relative to the working directory when it exists there,
    else to the project root (where the shipped ``config/`` lives)."""
    path = Path(text)
    if path.is_absolute() or path.exists():
        return path
    return project_root() / path


@dataclass(frozen=True, kw_only=True, slots=True)
class TextLimits:
    """How long a ticket's text fields may be (``tickets.short_text_max_chars`` /
    ``long_text_max_chars``); longer is refused, naming the field and the limit."""

    short_chars: int = 200  # location, occurred, respondent, citizen name
    long_chars: int = 4000  # description, request, current situation, a transition's reason


_NO_SUCH_CALL = "no call {call_id} in the call records (mark it external if it was taken elsewhere)"
_SHORT_FIELDS = ("location", "occurred", "respondent", "citizen_name")
_LONG_FIELDS = ("description", "request", "current_situation")


@dataclass(frozen=True, kw_only=True)
class TicketDraft:
    """What an agent records for a new ticket."""

    ticket_type: TicketType
    channel: Channel
    classification: str  # a responsibility item (level 4) code
    location: str
    description: str  # what happened
    request: str  # what the citizen asks for
    occurred: str = ""  # when it happened, as told
    current_situation: str = ""
    respondent: str = ""  # the party complained about
    citizen_name: str = field(default="", repr=False)
    citizen_number: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class Created:
    """A ticket was created."""

    ticket: Ticket
    deadlines: tuple[Deadline, ...]


@dataclass(frozen=True, slots=True)
class DuplicateSuspected:
    """Not created: the caller has open tickets of the same classification; the call, when
    given, was linked to the oldest of them (``linked``).  Create again with
    ``allow_duplicate=True`` to make a new ticket anyway (it is flagged)."""

    existing: tuple[Ticket, ...]
    linked: bool = False


CreateOutcome = Created | DuplicateSuspected


@dataclass(frozen=True, slots=True)
class TicketView:
    """A ticket with its clocks, audit trail and linked calls."""

    ticket: Ticket
    deadlines: tuple[Deadline, ...]
    transitions: tuple[Transition, ...]
    links: tuple[TicketLink, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class FollowUpPolicy:
    """How follow-up calls (回访) are scheduled."""

    delay_s: float = 0.0
    window_start: str = "08:00"
    window_end: str = "21:00"
    max_attempts: int = 3
    retry_spacing_s: float = 900.0


_DEADLINE_FIELDS = tuple(f.name for f in fields(Deadline))


def _for_ticket(clock: Deadline, ticket_id: int) -> Deadline:
    """``replace(clock, ticket_id=ticket_id)`` without running ``__init__`` again (a creation
    fills its planned clocks in inside the store's transaction: half the cost)."""
    copy = object.__new__(Deadline)
    for name in _DEADLINE_FIELDS:
        object.__setattr__(copy, name, getattr(clock, name))
    object.__setattr__(copy, "ticket_id", ticket_id)
    return copy


class TicketService(SlaSweeps):
    """Tickets over a store: create, transition, link, follow-ups, SLA sweep, calendar refresh."""

    def __init__(
        self,
        store: TicketRepository,
        taxonomy: Taxonomy,
        calendar: WorkingCalendar,
        *,
        tz: zoneinfo.ZoneInfo,
        rules: WorkflowRules | None = None,
        follow_up: FollowUpPolicy | None = None,
        number_prefix: str = "12345",
        duplicate_level: Level = Level.RESPONSIBILITY_ITEM,
        calendar_dir: Path | None = None,
        sweep_batch: int = 5_000,
        clock: Callable[[], float] = time.time,
        on_callback: Callable[[ScheduledFollowUp], None] | None = None,
        departments: DepartmentRegistry | None = None,
        limits: TextLimits | None = None,
    ) -> None:
        self.store = store
        self.departments = departments  # None: dispatch to any department (tests, tools)
        self.limits = limits or TextLimits()
        self.taxonomy = taxonomy
        self.calc = DeadlineCalculator(calendar, tz)
        self.rules = rules or WorkflowRules()
        self.follow_up = follow_up or FollowUpPolicy()
        self.number_prefix = number_prefix
        self.duplicate_level = duplicate_level
        self.calendar_dir = calendar_dir
        self.sweep_batch = sweep_batch
        self.clock = clock
        self.on_callback = on_callback
        self._calendar_fingerprint = data_fingerprint(calendar_dir) if calendar_dir else ()
        self._calendar_checked = False
        self._reported_years: set[int] = set()
        self._last_day_text: tuple[date | None, str] = (None, "")
        self._locks = KeyedLocks()  # in-process writers of one ticket (or one caller) take turns
        self._log = structlog.get_logger("hotline.tickets")

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        store: TicketRepository,
        *,
        clock: Callable[[], float] = time.time,
        on_callback: Callable[[ScheduledFollowUp], None] | None = None,
    ) -> TicketService:
        """Build the service from the configuration (taxonomy and calendar data loaded here)."""
        t = settings.tickets
        calendar_dir = resolve_data_path(t.calendar_dir)
        return cls(
            store,
            load_taxonomy(resolve_data_path(t.taxonomy_file)),
            WorkingCalendar.load(calendar_dir),
            tz=zoneinfo.ZoneInfo(t.timezone),
            rules=WorkflowRules(
                return_window_days=t.return_window_days,
                max_extensions=t.max_extensions,
                max_extension_days=t.max_extension_days,
            ),
            follow_up=FollowUpPolicy(
                delay_s=t.follow_up_delay_s,
                window_start=settings.queue.callback_hours_start,
                window_end=settings.queue.callback_hours_end,
                max_attempts=settings.queue.callback_max_attempts,
                retry_spacing_s=settings.queue.callback_retry_spacing_s,
            ),
            number_prefix=t.number_prefix,
            duplicate_level=Level(t.duplicate_match_level),
            calendar_dir=calendar_dir,
            sweep_batch=settings.sla.sweep_batch,
            clock=clock,
            on_callback=on_callback,
            departments=load_departments(resolve_data_path(t.departments_file)),
            limits=TextLimits(short_chars=t.short_text_max_chars, long_chars=t.long_text_max_chars),
        )

    @property
    def calendar(self) -> WorkingCalendar:
        """The working-day calendar in use."""
        return self.calc.calendar

    def _day_text(self, day: date) -> str:
        """``20261128``: the day in a ticket number (the last one is kept: nearly every ticket
        is accepted today)."""
        last_day, text = self._last_day_text
        if day != last_day:
            text = day.strftime("%Y%m%d")
            self._last_day_text = (day, text)
        return text

    def format_number(self, day_seq: int, accepted_on_text: str) -> str:
        """``12345-20261128-000042``."""
        return f"{self.number_prefix}-{accepted_on_text}-{day_seq:06d}"

    def _note_unknown_years(self, years: Iterable[int], ticket: str) -> None:
        for year in sorted(set(years) - self._reported_years):
            self._reported_years.add(year)
            known = sorted(self.calendar.known_years)
            self._log.warning(
                "calendar.unknown_year",
                year=year,
                ticket_id=ticket,
                known_until=known[-1] if known else None,
                hint=f"add {self.calendar_dir or 'config/calendar'}/{year}.toml; "
                "meanwhile its deadlines are provisional (weekends only)",
            )

    # ---- reads ---------------------------------------------------------------------------------

    async def get(self, number: str) -> TicketView:
        """A ticket with its clocks, audit trail and links; raises :class:`TicketNotFound`."""
        ticket = await self.store.get_ticket(number)
        if ticket is None:
            raise TicketNotFound(number)
        return TicketView(
            ticket,
            tuple(await self.store.deadlines(ticket.id)),
            tuple(await self.store.transitions(ticket.id)),
            tuple(await self.store.links(ticket.id)),
        )

    async def _load(self, number: str) -> tuple[Ticket, list[Deadline]]:
        ticket = await self.store.get_ticket(number)
        if ticket is None:
            raise TicketNotFound(number)
        return ticket, await self.store.deadlines(ticket.id)

    # ---- create ---------------------------------------------------------------------------------

    async def create(
        self,
        draft: TicketDraft,
        *,
        actor: str,
        call_id: str | None = None,
        allow_duplicate: bool = False,
        at: float | None = None,
        external_call: bool = False,
    ) -> CreateOutcome:
        """Accept (受理) a new matter.  With ``call_id`` the call is linked with role ``opened``.

        When the caller has an open ticket of the same classification the result is
        :class:`DuplicateSuspected` — no ticket is created, and the call (``call_id``) is linked
        to the oldest such ticket with role ``repeat`` — unless ``allow_duplicate``, in which
        case the new ticket records ``duplicate_of``.  The rule is decided by the store inside
        the transaction that would create the ticket, so two agents (or two processes) racing
        on one matter make one ticket and one link.

        ``call_id`` must be one of this hotline's call records unless ``external_call`` (a call
        taken elsewhere, linked on purpose).  Text longer than :class:`TextLimits`, an empty
        required field and a number that cannot be dialled are refused (:class:`InvalidTicket`,
        :class:`~hotline.tickets.phone.InvalidPhoneNumber`): nothing is written.
        """
        self._check_text(draft)
        if call_id is not None:
            self._check_call_id(call_id)
        try:
            return await self._create(draft, actor, call_id, allow_duplicate, at, external_call)
        except MissingReference as exc:  # checked inside the creating transaction
            raise InvalidTicket("call_id", _NO_SUCH_CALL.format(call_id=exc.key)) from exc

    def _check_text(self, draft: TicketDraft) -> None:
        for name in _SHORT_FIELDS:
            self._check_length(
                name, getattr(draft, name), self.limits.short_chars, "tickets.short_text_max_chars"
            )
        for name in _LONG_FIELDS:
            self._check_length(
                name, getattr(draft, name), self.limits.long_chars, "tickets.long_text_max_chars"
            )

    @staticmethod
    def _check_length(name: str, text: str, limit: int, key: str) -> None:
        if len(text) > limit:
            raise InvalidTicket(name, f"{len(text)} characters; at most {limit} ({key})")

    @staticmethod
    def _check_call_id(call_id: str) -> None:
        if not call_id.strip():
            raise InvalidTicket("call_id", "must not be empty")
        if len(call_id) > 64 or not call_id.isprintable():
            raise InvalidTicket("call_id", "at most 64 printable characters")

    async def _check_call(self, call_id: str, external: bool) -> None:
        self._check_call_id(call_id)
        if not external and await self.store.get_call(call_id) is None:
            raise InvalidTicket("call_id", _NO_SUCH_CALL.format(call_id=call_id))

    async def _create(
        self,
        draft: TicketDraft,
        actor: str,
        call_id: str | None,
        allow_duplicate: bool,
        at: float | None,
        external_call: bool = False,
    ) -> CreateOutcome:
        now = self.clock() if at is None else at
        item = self.taxonomy.item(draft.classification)
        for name in ("location", "description", "request"):
            if not getattr(draft, name).strip():
                raise InvalidTicket(name, "must not be empty")
        if draft.citizen_number:  # one canonical form, so duplicates and follow-ups find it
            canonical = normalise_number(draft.citizen_number)
            if canonical != draft.citizen_number:
                draft = replace(draft, citizen_number=canonical)
        duplicate_of: str | None = None
        existing: list[Ticket] = []

        def duplicate(open_tickets: Sequence[Ticket]) -> TicketChange | None:
            # Runs inside the creating transaction (on the store's writer thread): pure.
            nonlocal duplicate_of
            existing[:] = (
                probable_duplicates(draft.classification, open_tickets, self.taxonomy, self.duplicate_level)
                if open_tickets
                else []
            )
            duplicate_of = existing[0].number if existing and allow_duplicate else None
            if not existing or allow_duplicate:
                return None
            links: tuple[TicketLink, ...] = ()
            if call_id:
                first = existing[0]
                links = (
                    TicketLink(
                        ticket_id=first.id,
                        call_id=call_id,
                        role=LinkRole.REPEAT,
                        at=now,
                        actor=actor,
                        external=external_call,
                    ),
                )
            return TicketChange(ticket=None, links=links)

        accepted_on = self.calc.local_date(now)
        day_text = self._day_text(accepted_on)
        department = item.department or ""

        # The clocks are computed here, on the event loop; only the ids are filled in by ``build``,
        # which runs inside the store's transaction (the less it does, the shorter the lock).
        planned = self.calc.plan(draft.ticket_type, 0, accepted_on, 1)
        provisional = any(c.provisional for c in planned)
        accept_detail = (("channel", draft.channel.value), ("type", draft.ticket_type.value))

        def build(ticket_id: int, day_seq: int) -> TicketChange:
            clocks = tuple(_for_ticket(c, ticket_id) for c in planned)
            ticket = Ticket(
                id=ticket_id,
                number=self.format_number(day_seq, day_text),
                accepted_on=accepted_on,
                day_seq=day_seq,
                created_at=now,
                updated_at=now,
                channel=draft.channel,
                ticket_type=draft.ticket_type,
                classification=draft.classification,
                department=department,
                occurred=draft.occurred,
                location=draft.location,
                description=draft.description,
                current_situation=draft.current_situation,
                request=draft.request,
                respondent=draft.respondent,
                citizen_name=draft.citizen_name,
                citizen_number=draft.citizen_number,
                state=TicketState.ACCEPTED,
                version=1,
                duplicate_of=duplicate_of,
                provisional=provisional,
            )
            accept = Transition(
                ticket_id=ticket_id,
                seq=1,
                at=now,
                actor=actor,
                action=Action.ACCEPT,
                from_state=None,
                to_state=TicketState.ACCEPTED,
                reason="",
                detail=accept_detail,
            )
            links: tuple[TicketLink, ...] = ()
            if call_id:
                links = (
                    TicketLink(
                        ticket_id=ticket_id,
                        call_id=call_id,
                        role=LinkRole.OPENED,
                        at=now,
                        actor=actor,
                        external=external_call,
                    ),
                )
            return TicketChange(ticket=ticket, transitions=(accept,), deadlines=clocks, links=links)

        change = await self.store.create_ticket(
            accepted_on,
            build,
            citizen_number=draft.citizen_number,
            duplicate=duplicate,
            recorded_call=call_id if call_id and not external_call else None,
        )
        if change.ticket is None:
            self._log.info(
                "ticket.duplicate_suspected",
                existing=[t.number for t in existing],
                classification=draft.classification,
                call_id=call_id,
            )
            for link in change.links:
                self._log_link(existing[0], link)
            return DuplicateSuspected(tuple(existing), linked=bool(change.links))
        ticket = change.ticket
        if ticket.provisional:  # a clock counted a year no calendar knows
            self._note_unknown_years({y for c in change.deadlines for y in c.unknown_years}, ticket.number)
        self._log.info(
            "ticket.created",
            ticket_id=ticket.number,
            type=ticket.ticket_type.value,
            classification=ticket.classification,
            call_id=call_id,
            duplicate_of=duplicate_of,
            provisional=ticket.provisional,
        )
        return Created(ticket, change.deadlines)

    # ---- transitions -----------------------------------------------------------------------------

    async def transition(
        self,
        number: str,
        action: Action,
        *,
        actor: str,
        reason: str = "",
        at: float | None = None,
        days: int | None = None,
        deadline: DeadlineKind | None = None,
        department: str | None = None,
        satisfaction: Satisfaction | None = None,
    ) -> Ticket:
        """Apply one workflow action (see :mod:`hotline.tickets.workflow`).

        ``feedback`` also schedules the follow-up call (回访) and moves the ticket to
        ``callback`` when the citizen left a number.  Raises
        :class:`~hotline.tickets.errors.IllegalTransition` when the rules refuse.
        """
        if action is Action.ACCEPT:
            raise InvalidTicket("action", "accept happens by creating a ticket")
        self._check_length("reason", reason, self.limits.long_chars, "tickets.long_text_max_chars")
        if department is not None and self.departments is not None and department not in self.departments:
            raise InvalidTicket(
                "department", f"{department!r} is not in the department registry {self.departments.source}"
            )
        now = self.clock() if at is None else at
        command = Command(
            action=action,
            actor=actor,
            at=now,
            reason=reason,
            days=days,
            deadline=deadline,
            department=department,
            satisfaction=satisfaction,
        )
        async with self._locks.hold(number):
            for _attempt in range(_MAX_ATTEMPTS):
                ticket, clocks = await self._load(number)
                commands = [command]
                follow_up = None
                attention = None
                dial = self._follow_up_dial(ticket) if action is Action.FEEDBACK else None
                if isinstance(dial, InvalidPhoneNumber):
                    # No follow-up can be placed: a person decides (the ticket waits in feedback).
                    attention = (f"follow-up number cannot be dialled: {dial.why}", None)
                elif dial is not None:
                    commands.append(
                        Command(action=Action.START_CALLBACK, actor=SYSTEM_ACTOR, at=now, reason="回访已安排")
                    )
                    follow_up = FollowUpRequest(
                        number=dial,
                        ticket_id=ticket.id,
                        due_at=now + self.follow_up.delay_s,
                        window_start=self.follow_up.window_start,
                        window_end=self.follow_up.window_end,
                        max_attempts=self.follow_up.max_attempts,
                        retry_spacing_s=self.follow_up.retry_spacing_s,
                    )
                new, transitions, changed, unknown = apply_all(
                    ticket, clocks, commands, self.calc, self.rules
                )
                change = TicketChange(
                    ticket=new,
                    previous_version=ticket.version,
                    transitions=tuple(transitions),
                    deadlines=tuple(changed),
                    follow_up=follow_up,
                    needs_attention=attention,
                )
                try:
                    callback = await self.store.save_ticket_change(change)
                except RepositoryConflict:
                    continue
                self._after_change(new, transitions, unknown, callback)
                if attention is not None:
                    self._log.warning("ticket.needs_attention", ticket_id=new.number, reason=attention[0])
                return new
            raise TicketBusy(number, _MAX_ATTEMPTS)

    @staticmethod
    def _follow_up_dial(ticket: Ticket) -> str | InvalidPhoneNumber | None:
        """What the follow-up call dials (separators and prefixes of older records normalised),
        the reason it cannot be dialled, or None when the citizen left no number."""
        if not ticket.citizen_number:
            return None
        try:
            return dial_digits(normalise_number(ticket.citizen_number, field="follow-up number"))
        except InvalidPhoneNumber as exc:
            return exc

    async def follow_up_undiallable(self, callback_id: int, why: str, *, at: float | None = None) -> Ticket:
        """The queue could not dial a follow-up call (回访): the ticket is not closed by that —
        a person must look at it (``hotline tickets list --needs-attention``)."""
        callback = await self.store.get_callback(callback_id)
        if callback is None or callback.ticket_id is None:
            raise InvalidTicket("callback_id", f"no follow-up callback {callback_id}")
        ticket = await self.store.get_ticket_by_id(callback.ticket_id)
        if ticket is None:
            raise TicketNotFound(str(callback.ticket_id))
        reason = f"follow-up call could not be dialled: {why}"
        await self.store.mark_attention(
            ticket.id, reason, at=self.clock() if at is None else at, callback_id=callback_id
        )
        self._log.warning(
            "ticket.needs_attention", ticket_id=ticket.number, reason=reason, callback_id=callback_id
        )
        return ticket

    async def needing_attention(self, limit: int = 200) -> list[tuple[Ticket, str, float, int | None]]:
        """Open tickets a person must look at, oldest first: ``(ticket, reason, since, callback id)``."""
        return await self.store.needing_attention(limit)

    def _after_change(
        self,
        ticket: Ticket,
        transitions: Sequence[Transition],
        unknown: Iterable[int],
        callback: ScheduledFollowUp | None,
    ) -> None:
        self._note_unknown_years(unknown, ticket.number)
        for t in transitions:
            self._log.info(
                "ticket.transition",
                ticket_id=ticket.number,
                action=t.action.value,
                from_state=t.from_state.value if t.from_state else None,
                to_state=t.to_state.value,
                actor=t.actor,
                seq=t.seq,
                **dict(t.detail),
            )
        if callback is not None:
            self._log.info(
                "ticket.follow_up_scheduled",
                ticket_id=ticket.number,
                callback_id=callback.id,
                due_at=callback.due_at,
            )
            if self.on_callback is not None:
                self.on_callback(callback)

    async def record_follow_up(
        self,
        number: str,
        satisfaction: Satisfaction,
        *,
        actor: str,
        call_id: str | None = None,
        callback_id: int | None = None,
        reason: str = "",
        at: float | None = None,
    ) -> Ticket:
        """The follow-up call's outcome moves the ticket on: evaluated, then closed (satisfied,
        basically satisfied, unreachable) or reopened (not satisfied).  ``call_id`` links the
        follow-up call; ``callback_id`` marks that callback done (failed when unreachable)."""
        now = self.clock() if at is None else at
        async with self._locks.hold(number):
            for _attempt in range(_MAX_ATTEMPTS):
                ticket, clocks = await self._load(number)
                then = Action.REOPEN if satisfaction is Satisfaction.NOT_SATISFIED else Action.CLOSE
                commands = [
                    Command(
                        action=Action.EVALUATE, actor=actor, at=now, reason=reason, satisfaction=satisfaction
                    ),
                    Command(
                        action=then, actor=SYSTEM_ACTOR, at=now, reason=f"回访结果: {satisfaction.value}"
                    ),
                ]
                new, transitions, changed, unknown = apply_all(
                    ticket, clocks, commands, self.calc, self.rules
                )
                links: tuple[TicketLink, ...] = ()
                if call_id:
                    existing = {k.call_id for k in await self.store.links(ticket.id)}
                    if call_id not in existing:
                        links = (
                            TicketLink(
                                ticket_id=ticket.id,
                                call_id=call_id,
                                role=LinkRole.FOLLOW_UP,
                                at=now,
                                actor=actor,
                            ),
                        )
                complete = None
                if callback_id is not None:
                    status = CALLBACK_FAILED if satisfaction is Satisfaction.UNREACHABLE else CALLBACK_DONE
                    complete = (callback_id, status, satisfaction.value)
                change = TicketChange(
                    ticket=new,
                    previous_version=ticket.version,
                    transitions=tuple(transitions),
                    deadlines=tuple(changed),
                    links=links,
                    complete_callback=complete,
                )
                try:
                    await self.store.save_ticket_change(change)
                except RepositoryConflict as exc:
                    if exc.table == "callbacks":
                        raise InvalidTicket("callback_id", f"no callback {callback_id}") from exc
                    continue
                self._after_change(new, transitions, unknown, None)
                for link in links:
                    self._log_link(new, link)
                return new
            raise TicketBusy(number, _MAX_ATTEMPTS)

    async def record_follow_up_for_callback(
        self,
        callback_id: int,
        satisfaction: Satisfaction,
        *,
        actor: str,
        call_id: str | None = None,
        at: float | None = None,
    ) -> Ticket:
        """:meth:`record_follow_up` for the queue, which knows the callback rather than the ticket:
        ``satisfaction`` is the citizen's answer, or ``unreachable`` after the last attempt."""
        callback = await self.store.get_callback(callback_id)
        if callback is None or callback.ticket_id is None:
            raise InvalidTicket("callback_id", f"no follow-up callback {callback_id}")
        ticket = await self.store.get_ticket_by_id(callback.ticket_id)
        if ticket is None:
            raise TicketNotFound(str(callback.ticket_id))
        return await self.record_follow_up(
            ticket.number, satisfaction, actor=actor, call_id=call_id, callback_id=callback_id, at=at
        )

    # ---- links ----------------------------------------------------------------------------------

    async def link(
        self,
        number: str,
        call_id: str,
        role: LinkRole,
        *,
        actor: str,
        at: float | None = None,
        external: bool = False,
        from_pbx: bool = False,
    ) -> TicketLink:
        """Link a call to a ticket (e.g. the citizen calls again: ``repeat``); the call must be
        one of this hotline's call records unless ``external``, or ``from_pbx`` (the queue links
        a call it saw itself, whose record may not be written yet)."""
        ticket = await self.store.get_ticket(number)
        if ticket is None:
            raise TicketNotFound(number)
        await self._check_call(call_id, external or from_pbx)
        link = TicketLink(
            ticket_id=ticket.id,
            call_id=call_id,
            role=role,
            at=self.clock() if at is None else at,
            actor=actor,
            external=external,
        )
        try:
            await self.store.add_link(link)
        except RepositoryConstraint as exc:
            raise AlreadyLinked(number, call_id) from exc
        self._log_link(ticket, link)
        return link

    def _log_link(self, ticket: Ticket, link: TicketLink) -> None:
        self._log.info(
            "ticket.linked",
            ticket_id=ticket.number,
            call_id=link.call_id,
            role=link.role.value,
            actor=link.actor,
        )

    # ---- calendar --------------------------------------------------------------------------------

    async def refresh_calendar(self, *, force: bool = False) -> int:
        """Reload the calendar when its data files changed (a year was added) and recompute the
        provisional clocks; the first call after start recomputes too (a year may have been added
        while the service was stopped).  Returns how many clocks changed."""
        if self.calendar_dir is None:
            return 0
        fingerprint = data_fingerprint(self.calendar_dir)
        changed = fingerprint != self._calendar_fingerprint
        if not (changed or force or not self._calendar_checked):
            return 0
        self._calendar_checked = True
        if changed or force:
            calendar = WorkingCalendar.load(self.calendar_dir)
            added = sorted(calendar.known_years - self.calendar.known_years)
            self.calc = DeadlineCalculator(calendar, self.calc.tz)
            self._calendar_fingerprint = fingerprint
            self._reported_years -= set(added)
            self._log.info("calendar.reloaded", added_years=added, files=len(fingerprint))
        return await self.recompute_provisional()

    async def recompute_provisional(self) -> int:
        """Recompute every open provisional clock with the current calendar; returns how many
        changed (a clock whose year is still unknown stays as it is)."""
        total = 0
        for _attempt in range(_MAX_ATTEMPTS):
            stale = await self.store.provisional_deadlines()
            fresh_by_ticket: dict[int, dict[tuple[int, DeadlineKind], Deadline]] = {}
            for clock in stale:
                again = self.calc.recompute(clock)
                if (again.due_on, again.warn_at, again.unknown_years) != (
                    clock.due_on,
                    clock.warn_at,
                    clock.unknown_years,
                ):
                    fresh_by_ticket.setdefault(clock.ticket_id, {})[(clock.round, clock.kind)] = again
            if not fresh_by_ticket:
                break
            tickets = await self.store.get_tickets(fresh_by_ticket)
            all_clocks = await self.store.deadlines_for(fresh_by_ticket)
            changes = []
            for ticket_id, fresh in fresh_by_ticket.items():
                ticket = tickets.get(ticket_id)
                merged = [fresh.get((c.round, c.kind), c) for c in all_clocks.get(ticket_id, [])]
                new_ticket = None
                if ticket is not None:
                    provisional = any(
                        c.provisional and c.met_at is None and c.round == ticket.round for c in merged
                    )
                    if provisional != ticket.provisional:
                        new_ticket = replace(ticket, provisional=provisional)
                changes.append(
                    TicketChange(
                        ticket=new_ticket,
                        previous_version=new_ticket.version if new_ticket is not None else None,
                        deadlines=tuple(fresh.values()),
                    )
                )
            results = await self.store.save_ticket_changes(changes)
            total += sum(len(c.deadlines) for c, r in zip(changes, results, strict=True) if r is None)
            if all(r is None for r in results):
                break
        if total:
            self._log.info("calendar.recomputed", clocks=total)
        return total
