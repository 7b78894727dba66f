"""Tickets (工单): one matter, one ticket — workflow, working-day deadlines, taxonomy, SLA watcher.

Pure decision modules: :mod:`~hotline.tickets.workflow`, :mod:`~hotline.tickets.deadlines`,
:mod:`~hotline.tickets.workdays`, :mod:`~hotline.tickets.taxonomy`, :mod:`~hotline.tickets.sla`,
:mod:`~hotline.tickets.duplicates`.  Async edges:
:mod:`~hotline.tickets.service` (:class:`TicketService`) and :mod:`~hotline.tickets.watcher`
(:class:`SlaWatcher`).  CLI: :mod:`~hotline.tickets.cli`.  Nothing is imported here, so the
store can use :mod:`hotline.tickets.model` without pulling in the service.
"""
