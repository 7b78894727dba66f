"""The report's async edge: read one range (and the one before it) from the store."""

from __future__ import annotations

from hotline.reports.compute import totals_from_counts
from hotline.reports.model import EscalationTotals, ReportData, ReportOptions, Totals
from hotline.store import Store
from hotline.store import reports as queries
from hotline.store.escalations import EscalationStore


async def load_range(store: Store, options: ReportOptions, *, overdue: bool = True) -> ReportData:
    """Everything the report of ``options``' range needs."""
    start, end = options.start, options.end
    history = None
    if await queries.agent_state_log_size(store):
        history = await queries.agent_state_history(store, start, end)
    return ReportData(
        calls=await queries.report_calls(store, start, end),
        agent_history=history,
        opened=await queries.tickets_opened(store, start, end),
        closed=await queries.tickets_closed(store, start, end),
        steps=await queries.ticket_steps(store, start, end),
        clocks_due=await queries.clocks_due(store, options.first_day, options.last_day),
        overdue=(await queries.clocks_overdue(store, options.now, options.overdue_limit) if overdue else []),
        escalations=await _escalations(store, start, end),
    )


async def _escalations(store: Store, start: float, end: float) -> EscalationTotals:
    f = await EscalationStore(store).figures(start, end)
    return EscalationTotals(
        raised=f.raised,
        urgent=f.by_level.get("urgent", 0),
        sensitive=f.by_level.get("sensitive", 0),
        acknowledged=f.acknowledged,
        acknowledged_in_time=f.acknowledged_in_time,
        reescalated=f.reescalated,
        exhausted=f.exhausted,
        median_ack_s=f.median_ack_s,
        incidents=f.incidents,
        by_reason=tuple(
            sorted(
                ((s, lv, n) for (s, lv), n in f.by_reason_level.items()), key=lambda r: (-r[2], r[0], r[1])
            )
        ),
    )


async def previous_totals(store: Store, options: ReportOptions) -> Totals:
    """The totals of the range of the same length just before ``options``' range."""
    prev = options.previous()
    counts = await queries.range_counts(
        store,
        prev.start,
        prev.end,
        prev.first_day,
        prev.last_day,
        threshold_s=options.threshold_s,
        short_abandon_s=options.short_abandon_s,
        now=options.now,
    )
    return totals_from_counts(counts)


async def load_with_previous(store: Store, options: ReportOptions) -> tuple[ReportData, Totals]:
    """The range's data and the previous range's totals."""
    return await load_range(store, options), await previous_totals(store, options)
