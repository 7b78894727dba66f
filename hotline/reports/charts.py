"""The report's charts as PNG images (matplotlib, Agg), labelled in Chinese when a CJK font exists.

:func:`find_cjk_font` looks for an installed font that really has the Chinese glyphs the charts
use (matplotlib's font list first, then the system's font files, so a font installed after
matplotlib built its cache is found too).  Without one, the charts are labelled in English and
problem types by code — never empty boxes — and :data:`NO_CJK_FONT` says so (the CLI prints it
once).  Debian/Ubuntu: ``apt-get install fonts-wqy-microhei`` (``scripts/test.sh``,
``scripts/demo.sh`` and the Dockerfile install it).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hotline.reports.model import Report

#: Fonts with Chinese glyphs, most preferred first.
CJK_FONTS = (
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Droid Sans Fallback",
    "AR PL UMing CN",
)
#: File names of such fonts, for a font matplotlib's cache does not list yet.
_CJK_FILES = (
    "wqy",
    "notosanscjk",
    "notoserifcjk",
    "sourcehansans",
    "simhei",
    "msyh",
    "pingfang",
    "uming",
    "droidsansfallback",
)
#: Every character the Chinese labels use must be in the font.
GLYPH_SAMPLE = "12345热线运行报表时段呼入接通服务水平目标每日趋势按时率满意承办部门热点问题类型工单量无"

NO_CJK_FONT = (
    "no CJK font found (install fonts-wqy-microhei): chart labels are in English and problem types "
    "are shown by code"
)


class ChartUnavailable(Exception):
    """matplotlib is not installed."""


@dataclass(frozen=True, slots=True)
class CjkFont:
    """An installed font with the Chinese glyphs."""

    name: str
    path: str


def has_glyphs(path: str, text: str = GLYPH_SAMPLE) -> bool:
    """Whether the font file maps every character of ``text`` to a glyph."""
    from matplotlib.ft2font import FT2Font

    try:
        font = FT2Font(path)
    except (OSError, RuntimeError, ValueError):
        return False
    return all(font.get_char_index(ord(ch)) != 0 for ch in set(text) if not ch.isspace())


def find_cjk_font() -> CjkFont | None:
    """The most preferred installed font that has the Chinese glyphs, or ``None``."""
    from matplotlib import font_manager

    def listed() -> CjkFont | None:
        by_name: dict[str, str] = {}
        for entry in font_manager.fontManager.ttflist:
            by_name.setdefault(entry.name, entry.fname)
        for name in CJK_FONTS:
            path = by_name.get(name)
            if path is not None and has_glyphs(path):
                return CjkFont(name, path)
        return None

    found = listed()
    if found is not None:
        return found
    for path in font_manager.findSystemFonts():
        flat = Path(path).name.lower().replace("-", "").replace("_", "")
        if any(flat.startswith(prefix) for prefix in _CJK_FILES):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    return listed()


def _mpl() -> tuple[Any, Any]:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ChartUnavailable("the charts need matplotlib (pip install matplotlib)") from exc
    return Figure, FigureCanvasAgg


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    # No "Software" text chunk: the HTML page must not carry any address, even inside an image.
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _rc(font: CjkFont | None) -> dict[Any, Any]:
    rc: dict[Any, Any] = {"font.family": "sans-serif", "axes.unicode_minus": False}
    if font is not None:
        rc["font.sans-serif"] = [font.name, "DejaVu Sans"]
    return rc


def _pct_axis(ax: Any) -> None:
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")


def intervals_chart(report: Report, font: CjkFont | None, *, dpi: int = 100) -> bytes:
    """Offered and answered per interval as bars, SL1 as a line against its target."""
    import matplotlib

    figure, canvas = _mpl()
    zh = font is not None
    rows = report.intervals
    with matplotlib.rc_context(_rc(font)):
        fig = figure(figsize=(13, 5), dpi=dpi, layout="constrained")
        canvas(fig)
        ax = fig.subplots()
        xs = list(range(len(rows)))
        ax.bar(
            [x - 0.2 for x in xs],
            [r.calls.offered for r in rows],
            0.4,
            label="呼入" if zh else "offered",
            color="#4C72B0",
        )
        ax.bar(
            [x + 0.2 for x in xs],
            [r.calls.answered for r in rows],
            0.4,
            label="接通" if zh else "answered",
            color="#55A868",
        )
        ax.set_ylim(bottom=0, top=max([r.calls.offered for r in rows] + [1]) * 1.15)
        ax.yaxis.get_major_locator().set_params(integer=True)
        step = max(1, len(rows) // 24)
        ax.set_xticks(
            xs[::step],
            [r.start for r in rows][::step],
            rotation=60,
            ha="right",
            rotation_mode="anchor",
            fontsize=8,
        )
        ax.set_ylabel("通话量" if zh else "calls")
        sl = ax.twinx()
        sl.plot(
            xs,
            [None if r.calls.service_level is None else r.calls.service_level * 100 for r in rows],
            marker="o",
            markersize=3,
            color="#C44E52",
            label="服务水平SL1" if zh else "service level",
        )
        target = report.options.service_level_target * 100
        sl.axhline(
            target,
            color="#C44E52",
            linestyle="--",
            linewidth=1,
            label=(f"目标 {target:g}%" if zh else f"target {target:g}%"),
        )
        _pct_axis(sl)
        handles = ax.get_legend_handles_labels()
        more = sl.get_legend_handles_labels()
        ax.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left", fontsize=9)
        o = report.options
        days = len(report.trend)
        rng = o.first_day.isoformat() + ("" if days == 1 else f" – {o.last_day.isoformat()}")
        if zh:
            title = f"12345热线 时段话务 {rng}(每{o.interval_min}分钟, {o.threshold_s:g}秒服务水平)"
        else:
            title = f"12345 hotline calls per {o.interval_min} min, {rng} (service level {o.threshold_s:g} s)"
        ax.set_title(title)
        return _png(fig)


def trend_chart(report: Report, font: CjkFont | None, *, dpi: int = 100) -> bytes:
    """Per day: offered as bars; SL1, on-time rate and satisfaction rate as lines."""
    import matplotlib

    figure, canvas = _mpl()
    zh = font is not None
    rows = report.trend
    with matplotlib.rc_context(_rc(font)):
        fig = figure(figsize=(13, 4.5), dpi=dpi, layout="constrained")
        canvas(fig)
        ax = fig.subplots()
        xs = list(range(len(rows)))
        ax.bar(xs, [d.calls.offered for d in rows], color="#4C72B0", label="呼入" if zh else "offered")
        ax.set_xticks(
            xs,
            [d.day.strftime("%m-%d") for d in rows],
            rotation=60,
            ha="right",
            rotation_mode="anchor",
            fontsize=8,
        )
        ax.set_ylim(bottom=0, top=max([d.calls.offered for d in rows] + [1]) * 1.15)
        rates = ax.twinx()
        for values, label, color in (
            ([d.calls.service_level for d in rows], "服务水平SL1" if zh else "service level", "#C44E52"),
            ([d.on_time_rate for d in rows], "按时率" if zh else "on time", "#DD8452"),
            ([d.satisfaction_rate for d in rows], "满意率" if zh else "satisfaction", "#55A868"),
        ):
            rates.plot(
                xs,
                [None if v is None else v * 100 for v in values],
                marker="o",
                markersize=3,
                color=color,
                label=label,
            )
        _pct_axis(rates)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = rates.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=9)
        ax.set_title("每日趋势" if zh else "Trend per day")
        return _png(fig)


def departments_chart(report: Report, font: CjkFont | None, *, dpi: int = 100, limit: int = 15) -> bytes:
    """On-time rate per department (the departments with the most clocks due)."""
    import matplotlib

    figure, canvas = _mpl()
    zh = font is not None
    rows = sorted(
        (g for g in report.by_department if g.on_time + g.late), key=lambda g: -(g.on_time + g.late)
    )
    rows = list(reversed(rows[:limit]))
    with matplotlib.rc_context(_rc(font)):
        fig = figure(figsize=(10, max(2.5, 0.4 * len(rows) + 1.2)), dpi=dpi, layout="constrained")
        canvas(fig)
        ax = fig.subplots()
        ax.set_title("承办部门按时率" if zh else "On-time rate per department")
        if not rows:
            ax.text(0.5, 0.5, "无" if zh else "none due", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            return _png(fig)
        labels = [g.label if zh else f"dept {i + 1}" for i, g in enumerate(rows)]
        bars = ax.barh(labels, [(g.on_time_rate or 0.0) * 100 for g in rows], color="#DD8452")
        ax.bar_label(
            bars,
            labels=[f"{(g.on_time_rate or 0) * 100:.1f}% ({g.on_time}/{g.on_time + g.late})" for g in rows],
            padding=2,
            fontsize=8,
        )
        ax.set_xlim(0, 120)
        return _png(fig)


def top_chart(report: Report, font: CjkFont | None, *, dpi: int = 100) -> bytes:
    """The most frequent problem types (level 2) by name (by code without a CJK font)."""
    import matplotlib

    figure, canvas = _mpl()
    zh = font is not None
    rows = list(reversed([t for t in report.top if t.level == 2]))
    with matplotlib.rc_context(_rc(font)):
        fig = figure(figsize=(10, max(2.5, 0.45 * len(rows) + 1.2)), dpi=dpi, layout="constrained")
        canvas(fig)
        ax = fig.subplots()
        ax.set_title("热点问题类型" if zh else "Top problem types (by code)")
        if not rows:
            ax.text(0.5, 0.5, "无" if zh else "none", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            return _png(fig)
        bars = ax.barh([t.name if zh else t.code for t in rows], [t.count for t in rows], color="#64B5CD")
        ax.bar_label(bars, padding=2)
        ax.margins(x=0.15)
        ax.xaxis.get_major_locator().set_params(integer=True)
        return _png(fig)


def all_charts(report: Report, font: CjkFont | None) -> list[tuple[str, str, bytes]]:
    """``(key, title, png)`` for every chart the HTML page shows (the trend only for a range)."""
    zh = font is not None
    charts = [("intervals", "时段话务" if zh else "Calls per interval", intervals_chart(report, font))]
    if len(report.trend) > 1:
        charts.append(("trend", "每日趋势" if zh else "Trend", trend_chart(report, font)))
    charts.append(
        ("departments", "承办部门按时率" if zh else "On time per department", departments_chart(report, font))
    )
    charts.append(("top", "热点问题类型" if zh else "Top problem types", top_chart(report, font)))
    return charts
