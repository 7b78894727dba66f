"""Reports a centre manager reads (``hotline report``): intervals, agents, tickets, trends.

- :mod:`~hotline.reports.model` — the report's records and options;
- :mod:`~hotline.reports.compute` — pure: store rows in, a :class:`~hotline.reports.model.Report` out;
- :mod:`~hotline.reports.load` — the async edge: reads a range from the store;
- :mod:`~hotline.reports.tables` — the report as labelled tables (Chinese column names);
- :mod:`~hotline.reports.formats` — terminal text, CSV (UTF-8 with BOM), JSON;
- :mod:`~hotline.reports.charts`, :mod:`~hotline.reports.html` — PNG charts (matplotlib, a CJK
  font when one is installed) and the self-contained HTML page;
- :mod:`~hotline.reports.cli` — the ``hotline report`` command.

The definitions of every figure are in :mod:`hotline.reports.compute`'s docstring and in
``hotline/reports/README.md``.
"""
