"""The report as one self-contained HTML page: inline style, charts embedded as PNG data URIs,
no script, no link, no external reference — a manager can open it offline or forward it."""

from __future__ import annotations

import base64
import html

from hotline.reports.formats import cell, show
from hotline.reports.model import Report
from hotline.reports.tables import Section, definitions, sections

_STYLE = """
body { font-family: "WenQuanYi Micro Hei", "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC",
       sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.4em 0; }
th, td { border: 1px solid #ccc; padding: 2px 6px; }
th { background: #f0f3f7; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #666; font-size: 0.85em; } img { max-width: 100%; }
ul.defs { font-size: 0.85em; color: #444; }
"""


def _table(section: Section) -> str:
    cols = [c for c in section.columns if c.key not in ("metric", "key")]
    head = "".join(f"<th>{html.escape(c.label)}</th>" for c in cols)
    body = []
    for row in section.rows:
        cells = []
        for c in cols:
            text = cell(section, row, c.key, c.kind)
            cls = (
                ' class="n"'
                if c.kind != "text" or c.key in ("value", "current", "previous", "change")
                else ""
            )
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(cols)}">无</td></tr>')
    note = f'<p class="note">{html.escape(section.note)}</p>' if section.note else ""
    return (
        f'<h2 id="{section.key}">{html.escape(section.title)}</h2>{note}'
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def render_html(report: Report, charts: list[tuple[str, str, bytes]], notes: list[str] | None = None) -> str:
    """The page: title, definitions, charts, then every table."""
    lines = definitions(report)
    title = html.escape(lines[0])
    defs = "".join(f"<li>{html.escape(line)}</li>" for line in [*lines[1:], *(notes or [])])
    figures = "".join(
        f'<figure id="chart-{key}"><img alt="{html.escape(caption)}" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}"></figure>'
        for key, caption, png in charts
    )
    tables = "".join(_table(s) for s in sections(report))
    target = show(report.options.service_level_target, "pct")
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_STYLE}</style></head><body>"
        f'<h1>{title}</h1><ul class="defs">{defs}</ul>'
        f'<p class="note">服务水平目标 {html.escape(target)}</p>'
        f"{figures}{tables}</body></html>\n"
    )
