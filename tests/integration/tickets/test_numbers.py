"""Citizens' numbers at the edge of the ticket service (issue 9 point 2, issue 8 bug 2): stored in
one canonical form, refused when they cannot be dialled, and a follow-up that cannot be dialled
never closes its ticket by itself."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hotline.store import CallbackRecord
from hotline.tickets.model import Action, TicketChange, TicketState
from hotline.tickets.phone import InvalidPhoneNumber
from hotline.tickets.service import Created, DuplicateSuspected, TicketService
from hotline.tickets.taxonomy import Taxonomy
from tests.integration.tickets.conftest import Clock, at, draft, open_service, record_call

pytestmark = pytest.mark.usefixtures("both_stores")


async def _to_feedback(service: TicketService, number: str) -> None:
    await service.transition(number, Action.DISPATCH, actor="1001", at=at(2025, 9, 26, 11))
    await service.transition(number, Action.START, actor="区城市管理局", at=at(2025, 9, 28, 9))


async def test_spellings_of_one_number_are_one_caller(tmp_path: Path, taxonomy: Taxonomy) -> None:
    async with open_service(tmp_path / "h.db", taxonomy, Clock(at(2026, 11, 28, 9, 30))) as service:
        await record_call(service.store, "1.1")
        await record_call(service.store, "1.2")
        first = await service.create(draft(citizen_number="+86 139-1234-5678"), actor="1001", call_id="1.1")
        assert isinstance(first, Created) and first.ticket.citizen_number == "13912345678"
        again = await service.create(draft(citizen_number="0086 139 1234 5678"), actor="1002", call_id="1.2")
        assert isinstance(again, DuplicateSuspected) and again.linked
        assert [k.call_id for k in await service.store.links(first.ticket.id)] == ["1.1", "1.2"]


async def test_an_undiallable_number_is_refused_and_nothing_is_stored(
    tmp_path: Path, taxonomy: Taxonomy
) -> None:
    async with open_service(tmp_path / "h.db", taxonomy, Clock(at(2026, 11, 28, 9, 30))) as service:
        for bad in ("13800000000' OR '1'='1", "12345", "+1 415 555 0100"):
            with pytest.raises(InvalidPhoneNumber, match="not a diallable number"):
                await service.create(draft(citizen_number=bad), actor="1001")
        assert await service.store.list_tickets() == []


async def test_a_follow_up_number_typed_with_separators_is_dialled(
    tmp_path: Path, taxonomy: Taxonomy
) -> None:
    """A ticket stored before numbers were normalised ("139-0000-0001") gets its follow-up."""
    callbacks: list[CallbackRecord] = []
    async with open_service(
        tmp_path / "h.db", taxonomy, Clock(at(2025, 9, 26, 10)), callbacks=callbacks
    ) as service:
        created = await service.create(draft(), actor="1001")
        assert isinstance(created, Created)
        old = replace(created.ticket, citizen_number="139-0000-0001", version=created.ticket.version + 1)
        await service.store.save_ticket_change(
            TicketChange(ticket=old, previous_version=created.ticket.version)
        )
        await _to_feedback(service, old.number)
        ticket = await service.transition(
            old.number, Action.FEEDBACK, actor="区城市管理局", at=at(2025, 10, 9, 16)
        )
        assert ticket.state is TicketState.CALLBACK
        (callback,) = callbacks
        assert callback.number == "13900000001"


async def test_an_undiallable_follow_up_goes_to_a_person(tmp_path: Path, taxonomy: Taxonomy) -> None:
    callbacks: list[CallbackRecord] = []
    async with open_service(
        tmp_path / "h.db", taxonomy, Clock(at(2025, 9, 26, 10)), callbacks=callbacks
    ) as service:
        created = await service.create(draft(), actor="1001")
        assert isinstance(created, Created)
        number = created.ticket.number
        await _to_feedback(service, number)
        await service.transition(number, Action.FEEDBACK, actor="区城市管理局", at=at(2025, 10, 9, 16))
        (callback,) = callbacks
        # The queue could not dial it (the PBX refused the number): not closed as unreachable.
        ticket = await service.follow_up_undiallable(callback.id, "cannot_dial", at=at(2025, 10, 9, 17))
        stored = await service.store.get_ticket(number)
        assert stored is not None and stored.state is TicketState.CALLBACK and stored.closed_at is None
        assert ticket.number == number
        ((listed, reason, since, callback_id),) = await service.needing_attention()
        assert listed.number == number and "cannot_dial" in reason and callback_id == callback.id
        assert since == at(2025, 10, 9, 17)


async def test_a_stored_number_that_cannot_be_dialled_schedules_no_follow_up(
    tmp_path: Path, taxonomy: Taxonomy
) -> None:
    callbacks: list[CallbackRecord] = []
    async with open_service(
        tmp_path / "h.db", taxonomy, Clock(at(2025, 9, 26, 10)), callbacks=callbacks
    ) as service:
        created = await service.create(draft(), actor="1001")
        assert isinstance(created, Created)
        old = replace(created.ticket, citizen_number="555-1234", version=created.ticket.version + 1)
        await service.store.save_ticket_change(
            TicketChange(ticket=old, previous_version=created.ticket.version)
        )
        await _to_feedback(service, old.number)
        ticket = await service.transition(
            old.number, Action.FEEDBACK, actor="区城市管理局", at=at(2025, 10, 9, 16)
        )
        assert callbacks == [] and ticket.state is TicketState.FEEDBACK
        ((listed, reason, _since, callback_id),) = await service.needing_attention()
        assert listed.number == old.number and "cannot be dialled" in reason and callback_id is None
