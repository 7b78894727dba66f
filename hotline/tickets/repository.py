"""What the ticket domain needs from storage, declared here so that dependencies point one way:
:mod:`hotline.store` implements :class:`TicketRepository` (and raises the errors below), and
nothing in the ticket domain imports the store.

The repository's contract for concurrency: a ticket's id and day number are allocated inside the
transaction that creates it, with the duplicate rule decided there too
(:meth:`TicketRepository.create_ticket`); every update names the version it read and raises
:class:`RepositoryConflict` when another writer got there first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any, Protocol

from hotline.tickets.model import Deadline, Ticket, TicketChange, TicketLink, TicketState, Transition

#: Status values the repository stores for a follow-up callback the ticket workflow closes.
CALLBACK_DONE = "done"
CALLBACK_FAILED = "failed"


class RepositoryError(Exception):
    """The repository could not do what was asked (base class of the store's errors)."""


class RepositoryConflict(RepositoryError):
    """A guarded write found its row missing or changed since it was read (another writer won
    the race): re-read and try again.  ``table`` and ``key`` name the row."""

    table: str
    key: object


class RepositoryConstraint(RepositoryError):
    """A constraint refused the write (e.g. the call is already linked to the ticket)."""


class MissingReference(RepositoryError):
    """A row the write refers to does not exist (``table``, ``key``): e.g. a ticket's call has no
    call record."""

    table: str
    key: object


class ScheduledFollowUp(Protocol):
    """A follow-up callback (回访) as the repository scheduled it."""

    @property
    def id(self) -> int: ...

    @property
    def ticket_id(self) -> int | None: ...

    @property
    def due_at(self) -> float: ...


class TicketRepository(Protocol):
    """The ticket tables (implemented by :class:`hotline.store.Store`)."""

    async def create_ticket(
        self,
        accepted_on: date,
        build: Callable[[int, int], TicketChange],
        *,
        citizen_number: str = "",
        duplicate: Callable[[Sequence[Ticket]], TicketChange | None] | None = None,
        recorded_call: str | None = None,
    ) -> TicketChange: ...

    async def save_ticket_change(self, change: TicketChange) -> ScheduledFollowUp | None: ...

    async def save_ticket_changes(
        self, changes: Sequence[TicketChange]
    ) -> Sequence[RepositoryError | None]: ...

    async def save_ticket_changes_together(self, changes: Sequence[TicketChange]) -> None: ...

    async def add_link(self, link: TicketLink) -> None: ...

    async def mark_attention(
        self, ticket_id: int, reason: str, *, at: float, callback_id: int | None = None
    ) -> None: ...

    async def get_ticket(self, number: str) -> Ticket | None: ...

    async def get_ticket_by_id(self, ticket_id: int) -> Ticket | None: ...

    async def get_tickets(self, ids: Iterable[int]) -> dict[int, Ticket]: ...

    async def ticket_numbers(self, ids: Iterable[int]) -> dict[int, str]: ...

    async def list_tickets(
        self,
        *,
        state: TicketState | None = None,
        open_only: bool = False,
        citizen_number: str | None = None,
        accepted_on: date | None = None,
        limit: int = 50,
    ) -> list[Ticket]: ...

    async def needing_attention(self, limit: int = 200) -> list[tuple[Ticket, str, float, int | None]]: ...

    async def deadlines(self, ticket_id: int) -> list[Deadline]: ...

    async def deadlines_for(self, ticket_ids: Iterable[int]) -> dict[int, list[Deadline]]: ...

    async def transitions(self, ticket_id: int) -> list[Transition]: ...

    async def links(self, ticket_id: int) -> list[TicketLink]: ...

    async def due_deadlines(self, now: float, limit: int) -> list[Deadline]: ...

    async def provisional_deadlines(self, limit: int = 100_000) -> list[Deadline]: ...

    async def get_callback(self, callback_id: int) -> ScheduledFollowUp | None: ...

    async def get_call(self, call_id: str) -> object | None:
        """The call record with this id (the domain only asks whether it exists)."""
        ...

    # Reports (``hotline report``): counts over the ticket tables, and the day's call records
    # (their type belongs to the queue; the report builder reads them).
    async def ticket_activity(self, start: float, end: float) -> tuple[int, int, dict[str, int]]: ...

    async def deadlines_due_between(self, first_day: date, last_day: date) -> list[Deadline]: ...

    async def satisfaction_between(self, start: float, end: float) -> dict[str, int]: ...

    async def calls_between(self, start: float, end: float) -> list[Any]: ...
