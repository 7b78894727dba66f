"""The daily report as a PNG (``hotline report --chart PATH``), drawn with matplotlib.

Four panels: calls (offered, answered, abandoned, service level), tickets (opened, closed,
satisfaction), on-time rate per deadline, top problem types.  Chinese labels are used when a CJK
font is installed (e.g. Debian's ``fonts-wqy-microhei`` or ``fonts-noto-cjk``); otherwise the
problem types are shown by code and the titles stay in English, so the image never shows empty
boxes.  matplotlib is imported lazily: the rest of the service does not need it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hotline.tickets.report import DayReport

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
    "AR PL UMing CN",
)


class ChartUnavailable(Exception):
    """matplotlib is not installed."""


def find_cjk_font() -> str | None:
    """The name of an installed font with Chinese glyphs, or ``None``."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in installed:
            return name
    return None


def render_chart(report: DayReport, path: Path, *, dpi: int = 110) -> Path:
    """Draw the report into ``path`` (PNG); returns the path."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ChartUnavailable("the chart needs matplotlib (pip install matplotlib)") from exc

    font = find_cjk_font()
    zh = font is not None
    rc: dict[Any, Any] = {"font.family": "sans-serif"}
    if font:
        rc["font.sans-serif"] = [font, "DejaVu Sans"]
        rc["axes.unicode_minus"] = False
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(12, 8), dpi=dpi, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(2, 2)
        title = (
            f"12345 热线日报 {report.day.isoformat()}" if zh else f"12345 hotline — {report.day.isoformat()}"
        )
        fig.suptitle(title, fontsize=15)
        _calls(axes[0][0], report, zh)
        _tickets(axes[0][1], report, zh)
        _deadlines(axes[1][0], report, zh)
        _top(axes[1][1], report, zh)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    return path


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _bars(ax: Any, labels: list[str], values: list[float], colors: list[str]) -> None:
    bars = ax.bar(labels, values, color=colors)
    ax.bar_label(bars, padding=2)
    ax.margins(y=0.15)
    # Counts: never a negative axis, and whole numbers even on a quiet day.
    ax.set_ylim(bottom=0, top=max(max(values, default=0) * 1.15, 1))
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.spines[["top", "right"]].set_visible(False)


def _calls(ax: Any, r: DayReport, zh: bool) -> None:
    labels = (
        ["呼入", "接通", "放弃", "回拨/回访"] if zh else ["offered", "answered", "abandoned", "callbacks"]
    )
    _bars(
        ax,
        labels,
        [r.offered, r.answered, r.abandoned, r.callbacks],
        ["#4C72B0", "#55A868", "#C44E52", "#8172B2"],
    )
    sl = _pct(r.service_level)
    asa = "-" if r.average_wait_s is None else f"{r.average_wait_s:.1f}s"
    if zh:
        ax.set_title(f"话务: {r.threshold_s:g}秒接通率 {sl}, 平均应答 {asa}")
    else:
        ax.set_title(f"Calls: service level ({r.threshold_s:g} s) {sl}, ASA {asa}")


def _tickets(ax: Any, r: DayReport, zh: bool) -> None:
    labels = ["新建工单", "办结工单"] if zh else ["opened", "closed"]
    _bars(ax, labels, [r.tickets_opened, r.tickets_closed], ["#4C72B0", "#55A868"])
    rate = _pct(r.satisfaction_rate)
    ax.set_title(f"工单: 满意率 {rate}" if zh else f"Tickets: satisfaction {rate}")


_KIND_ZH = {
    "feedback": "反馈",
    "staged_feedback": "阶段性反馈",
    "closing": "办结",
    "first_opinion": "初步意见",
}


def _deadlines(ax: Any, r: DayReport, zh: bool) -> None:
    ax.set_title("当日到期时限按时率" if zh else "On-time rate of deadlines due")
    ax.set_ylim(0, 110)
    ax.spines[["top", "right"]].set_visible(False)
    if not r.deadlines:
        ax.text(0.5, 0.5, "无" if zh else "none due", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        return
    labels = [_KIND_ZH.get(s.kind.value, s.kind.value) if zh else s.kind.value for s in r.deadlines]
    values = [(s.rate or 0.0) * 100 for s in r.deadlines]
    bars = ax.bar(labels, values, color="#DD8452")
    ax.bar_label(
        bars, labels=[f"{_pct(s.rate)}\n{s.on_time}/{s.on_time + s.late}" for s in r.deadlines], padding=2
    )
    ax.set_ylabel("%")


def _top(ax: Any, r: DayReport, zh: bool) -> None:
    ax.set_title("热点问题类型" if zh else "Top problem types (by code)")
    ax.spines[["top", "right"]].set_visible(False)
    if not r.top:
        ax.text(0.5, 0.5, "无" if zh else "none", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    items = list(reversed(r.top))
    labels = [item.label if zh else item.code for item in items]
    bars = ax.barh(labels, [item.count for item in items], color="#64B5CD")
    ax.bar_label(bars, padding=2)
    ax.margins(x=0.15)
    ax.xaxis.get_major_locator().set_params(integer=True)
