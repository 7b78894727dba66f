"""Probable-duplicate detection (one matter, one ticket).  Pure.

A new ticket is a probable duplicate when the same caller already has an open ticket whose
classification matches at the configured level (4 = the same responsibility item; 3 = the same
problem form, ...).  The existing tickets are offered for linking instead of creating another.
"""

from __future__ import annotations

from collections.abc import Iterable

from hotline.tickets.errors import UnknownClassification
from hotline.tickets.model import Ticket
from hotline.tickets.taxonomy import Level, Taxonomy


def probable_duplicates(
    classification: str, open_tickets: Iterable[Ticket], taxonomy: Taxonomy, level: Level
) -> list[Ticket]:
    """The caller's open tickets that look like the same matter, oldest first."""
    key = taxonomy.ancestor(classification, level).code
    found = []
    for ticket in open_tickets:
        if not ticket.is_open:
            continue
        try:
            other = taxonomy.ancestor(ticket.classification, level).code
        except UnknownClassification:  # classified under an older taxonomy: compare the codes
            other = ticket.classification
        if other == key:
            found.append(ticket)
    return sorted(found, key=lambda t: t.id)
