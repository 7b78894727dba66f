"""Probable duplicates: same caller, open ticket, same classification at the configured level."""

from __future__ import annotations

from dataclasses import replace

from hotline.tickets.duplicates import probable_duplicates
from hotline.tickets.model import TicketState
from hotline.tickets.taxonomy import Level, Taxonomy
from tests.unit.tickets.conftest import MakeTicket


def test_same_item_is_a_duplicate_other_items_and_closed_tickets_are_not(
    make_ticket: MakeTicket, taxonomy: Taxonomy
) -> None:
    base, _ = make_ticket()
    same = replace(base, id=1, classification="01010101")
    sibling = replace(base, id=2, classification="01010102")  # same problem form, other item
    other = replace(base, id=3, classification="02010101")
    closed = replace(base, id=4, classification="01010101", state=TicketState.CLOSED)
    tickets = [other, closed, sibling, same]
    assert probable_duplicates("01010101", tickets, taxonomy, Level.RESPONSIBILITY_ITEM) == [same]
    assert probable_duplicates("01010101", tickets, taxonomy, Level.PROBLEM_FORM) == [same, sibling]
    assert probable_duplicates("03010101", tickets, taxonomy, Level.RESPONSIBILITY_ITEM) == []
