"""Errors of the tickets boundary: every one carries the facts a caller needs, not just a message."""

from __future__ import annotations

from collections.abc import Sequence


class TicketError(Exception):
    """Base class of everything the tickets package refuses or cannot do."""


class TicketNotFound(TicketError):
    """No ticket with that number (or id)."""

    def __init__(self, ticket: str) -> None:
        super().__init__(f"no ticket {ticket}")
        self.ticket = ticket


class IllegalTransition(TicketError):
    """A workflow action the rules do not allow now.

    ``from_state`` is the ticket's state, ``to_state`` where the action would lead (``None`` when
    the action is not defined from that state at all), ``why`` one sentence for a person.
    """

    def __init__(self, ticket: str, action: str, from_state: str, to_state: str | None, why: str) -> None:
        target = to_state if to_state is not None else "?"
        super().__init__(f"ticket {ticket}: {action} ({from_state} -> {target}) refused: {why}")
        self.ticket = ticket
        self.action = action
        self.from_state = from_state
        self.to_state = to_state
        self.why = why


class ExtensionRefused(IllegalTransition):
    """An extension (延期) asked too late, a third time, or beyond 40 working days in total."""


class ReturnWindowClosed(IllegalTransition):
    """A return (退回) asked after the 2-working-day window that follows dispatch."""


class UnknownClassification(TicketError):
    """A classification code that is not a responsibility item (level 4) of the taxonomy."""

    def __init__(self, code: str, why: str) -> None:
        super().__init__(f"classification {code!r}: {why}")
        self.code = code
        self.why = why


class TaxonomyError(TicketError):
    """The taxonomy data file is unreadable or invalid; ``problems`` lists every finding."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        shown = "; ".join(problems[:5]) + (f"; ... ({len(problems)} problems)" if len(problems) > 5 else "")
        super().__init__(f"taxonomy {source}: {shown}")
        self.source = source
        self.problems = tuple(problems)


class CalendarDataError(TicketError):
    """A working-day calendar data file in ``config/calendar/`` is invalid."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"calendar data {source}: {problem}")
        self.source = source
        self.problem = problem


class UnknownYear(TicketError):
    """A strict calendar question about a year no calendar knows (use the provisional API)."""

    def __init__(self, year: int) -> None:
        super().__init__(f"no working-day calendar for {year}")
        self.year = year


class TicketBusy(TicketError):
    """The ticket kept changing under us (concurrent writers); the action was not applied."""

    def __init__(self, ticket: str, attempts: int) -> None:
        super().__init__(
            f"ticket {ticket}: lost the race to another writer {attempts} times in a row "
            "(it changed concurrently); this request changed nothing: try again"
        )
        self.ticket = ticket
        self.attempts = attempts


class InvalidTicket(TicketError):
    """A ticket draft or action argument that is missing or malformed (``field`` names it)."""

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field
        self.why = why


class AlreadyLinked(TicketError):
    """The call is already linked to the ticket."""

    def __init__(self, ticket: str, call_id: str) -> None:
        super().__init__(f"call {call_id} is already linked to ticket {ticket}")
        self.ticket = ticket
        self.call_id = call_id
