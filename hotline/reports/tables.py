"""The report as labelled tables: one :class:`Section` per part, columns named in Chinese.

Every format (terminal, CSV, JSON, HTML) is written from these sections, so they show the same
figures under the same names.  Values stay raw here (counts, seconds, fractions, ``None`` for
"unknown"); each format decides how to print them from the column's ``kind``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hotline.reports.model import CallFigures, Report

#: How a column's values are shown: a count, a fraction shown as a percentage, seconds, text.
KINDS = ("int", "pct", "sec", "text")


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its machine key (CSV/JSON), its Chinese label and how to show it."""

    key: str
    label: str
    kind: str = "int"


@dataclass(frozen=True, slots=True)
class Section:
    """One table of the report."""

    key: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[dict[str, Any], ...]
    note: str = ""


_CALL_COLUMNS = (
    Column("offered", "呼入量"),
    Column("answered", "接通量"),
    Column("abandoned", "放弃(非短时)"),
    Column("short_abandoned", "短时放弃"),
    Column("other", "其他"),
    Column("answered_within", "阈值内接通"),
    Column("service_level", "服务水平SL1", "pct"),
    Column("service_level_excl_short", "服务水平SL2", "pct"),
    Column("asa_s", "平均应答(秒)", "sec"),
    Column("aht_s", "平均处理(秒)", "sec"),
    Column("longest_wait_s", "最长等待(秒)", "sec"),
    Column("callbacks", "回拨/回访"),
    Column("callbacks_reached", "回拨接通"),
    Column("end_uncertain", "结束时间不确定"),
)


def call_values(c: CallFigures) -> dict[str, Any]:
    """The call columns' values."""
    return {
        "offered": c.offered,
        "answered": c.answered,
        "abandoned": c.abandoned,
        "short_abandoned": c.short_abandoned,
        "other": c.other,
        "answered_within": c.answered_within,
        "service_level": c.service_level,
        "service_level_excl_short": c.service_level_excl_short,
        "asa_s": c.asa_s,
        "aht_s": c.aht_s,
        "longest_wait_s": c.longest_wait_s,
        "callbacks": c.callbacks,
        "callbacks_reached": c.callbacks_reached,
        "end_uncertain": c.end_uncertain,
    }


def _summary(r: Report) -> Section:
    t = r.totals
    c = t.calls
    o = r.options
    items: list[tuple[str, str, Any, str]] = [
        ("offered", "呼入量", c.offered, "int"),
        ("answered", "接通量", c.answered, "int"),
        ("abandoned", f"放弃量(等待≥{o.short_abandon_s:g}秒)", c.abandoned, "int"),
        ("short_abandoned", f"短时放弃(<{o.short_abandon_s:g}秒)", c.short_abandoned, "int"),
        ("other", "其他结果(失败、丢失)", c.other, "int"),
        ("in_progress", "进行中(未计入)", c.in_progress, "int"),
        ("end_uncertain", "结束时间不确定(不计通话时长)", c.end_uncertain, "int"),
        ("service_level", f"服务水平SL1({o.threshold_s:g}秒内接通/呼入)", c.service_level, "pct"),
        ("service_level_excl_short", "服务水平SL2(剔除短时放弃)", c.service_level_excl_short, "pct"),
        ("service_level_target", "服务水平目标", o.service_level_target, "pct"),
        ("asa_s", "平均应答时长(秒)", c.asa_s, "sec"),
        ("avg_talk_s", "平均通话时长(秒)", c.avg_talk_s, "sec"),
        ("avg_wrap_s", "平均话后处理(秒)", c.avg_wrap_s, "sec"),
        ("aht_s", "平均处理时长(秒)", c.aht_s, "sec"),
        ("longest_wait_s", "最长等待(秒)", c.longest_wait_s, "sec"),
        ("callbacks", "回拨/回访呼出", c.callbacks, "int"),
        ("callbacks_reached", "回拨/回访接通", c.callbacks_reached, "int"),
        ("tickets_opened", "新建工单", t.tickets_opened, "int"),
        ("tickets_closed", "办结工单", t.tickets_closed, "int"),
        ("clocks_due", "到期时限", t.due, "int"),
        ("on_time_rate", "按时办理率", t.on_time_rate, "pct"),
        ("satisfaction_rate", "满意率", t.satisfaction_rate, "pct"),
        ("overdue", "超期未办(当前)", len(r.overdue), "int"),
    ]
    return Section(
        "summary",
        "总览",
        (
            Column("metric", "指标键", "text"),
            Column("label", "指标", "text"),
            Column("value", "数值", "text"),
        ),
        tuple({"metric": k, "label": label, "value": v, "kind": kind} for k, label, v, kind in items),
    )


def _intervals(r: Report) -> Section:
    rows = tuple({"start": i.start, "end": i.end, **call_values(i.calls)} for i in r.intervals)
    days = len(r.trend)
    note = f"按时段汇总{days}天" if days > 1 else ""
    return Section(
        "intervals",
        f"时段报表({r.options.interval_min}分钟)",
        (Column("start", "时段开始", "text"), Column("end", "时段结束", "text"), *_CALL_COLUMNS),
        rows,
        note,
    )


def _agents(r: Report) -> Section:
    cols = (
        Column("agent_id", "坐席", "text"),
        Column("inbound", "呼入接听"),
        Column("callbacks", "回拨/回访"),
        Column("avg_talk_s", "平均通话(秒)", "sec"),
        Column("avg_wrap_s", "平均话后(秒)", "sec"),
        Column("ready_s", "就绪时长(秒)", "sec"),
        Column("paused_s", "小休时长(秒)", "sec"),
        Column("busy_s", "通话时长(秒)", "sec"),
        Column("wrap_s", "话后时长(秒)", "sec"),
        Column("ring_no_answer", "振铃未接"),
        Column("occupancy", "占用率", "pct"),
    )
    rows = tuple({c.key: getattr(a, c.key) for c in cols} for a in r.agents)
    note = "" if r.agent_history else "坐席状态历史未记录: 时长、振铃未接、占用率未知"
    return Section("agents", "坐席报表", cols, rows, note)


def _pauses(r: Report) -> Section:
    cols = (
        Column("agent_id", "坐席", "text"),
        Column("reason", "小休原因", "text"),
        Column("times", "次数"),
        Column("seconds", "时长(秒)", "sec"),
    )
    return Section(
        "agent_pauses",
        "坐席小休(按原因)",
        cols,
        tuple({c.key: getattr(p, c.key) for c in cols} for p in r.pauses),
    )


_GROUP_COLUMNS = (
    Column("opened", "新建"),
    Column("closed", "办结"),
    Column("due", "到期时限"),
    Column("on_time", "按时"),
    Column("late", "超期"),
    Column("pending", "未到期"),
    Column("on_time_rate", "按时率", "pct"),
    Column("extended", "延期"),
    Column("returned", "退回"),
    Column("supervised", "督办"),
    Column("reopened", "重办"),
)


def _group(key: str, title: str, first: str, rows_in: Any) -> Section:
    cols = (Column("key", first + "键", "text"), Column("label", first, "text"), *_GROUP_COLUMNS)
    rows = tuple(
        {"key": g.key, "label": g.label, **{c.key: getattr(g, c.key) for c in _GROUP_COLUMNS}}
        for g in rows_in
    )
    return Section(key, title, cols, rows)


def _satisfaction(r: Report) -> Section:
    cols = (
        Column("key", "评价键", "text"),
        Column("label", "评价", "text"),
        Column("count", "数量"),
        Column("share", "占比", "pct"),
    )
    return Section(
        "satisfaction",
        "回访满意度",
        cols,
        tuple({c.key: getattr(s, c.key) for c in cols} for s in r.satisfaction),
    )


def _top(r: Report) -> Section:
    cols = (
        Column("level", "级别"),
        Column("level_label", "级别名称", "text"),
        Column("rank", "排名"),
        Column("code", "编码", "text"),
        Column("name", "名称", "text"),
        Column("path", "分类路径", "text"),
        Column("count", "工单数"),
    )
    return Section(
        "top_classes",
        "热点问题(四级分类)",
        cols,
        tuple({c.key: getattr(t, c.key) for c in cols} for t in r.top),
    )


def _overdue(r: Report) -> Section:
    cols = (
        Column("number", "工单编号", "text"),
        Column("department", "承办部门", "text"),
        Column("ticket_type", "类型", "text"),
        Column("kind", "时限", "text"),
        Column("due_on", "到期日", "text"),
        Column("days_late", "超期天数"),
        Column("classification", "问题", "text"),
    )
    return Section(
        "overdue",
        "超期工单(报表生成时)",
        cols,
        tuple({c.key: getattr(o, c.key) for c in cols} for o in r.overdue),
        f"最多列出{r.options.overdue_limit}条",
    )


#: The escalation signals' sources (``hotline.escalation.model.Source``) as a manager reads them.
_SOURCE_LABELS = {
    "ivr": "语音导航选择紧急",
    "watch_list": "关注名单来电",
    "repeat_calls": "短期重复来电",
    "overdue_repeat": "工单超期后重复来电",
    "keyword": "工单关键词",
    "agent": "坐席上报",
    "taxonomy": "问题分类标记",
    "long_wait": "标记来电等待过长",
}
_LEVEL_LABELS = {"urgent": "突发应急", "sensitive": "敏感事件"}


def _escalations(r: Report) -> Section:
    e = r.escalations
    cols = (
        Column("raised", "上报总数"),
        Column("urgent", "突发应急"),
        Column("sensitive", "敏感事件"),
        Column("acknowledged", "已确认"),
        Column("acknowledged_in_time", "首级按时确认"),
        Column("reescalated", "逐级上报"),
        Column("exhausted", "最高级仍超时"),
        Column("median_ack_s", "确认用时中位数(秒)", "sec"),
        Column("incidents", "热点事件"),
    )
    rows = () if e is None else ({c.key: getattr(e, c.key) for c in cols},)
    return Section("escalations", "紧急与敏感事件上报", cols, rows, "" if e else "未读取上报记录")


def _escalation_reasons(r: Report) -> Section:
    cols = (
        Column("source", "来源", "text"),
        Column("level", "级别", "text"),
        Column("alerts", "上报数"),
    )
    found = r.escalations.by_reason if r.escalations else ()
    rows = tuple(
        {"source": _SOURCE_LABELS.get(s, s), "level": _LEVEL_LABELS.get(lv, lv), "alerts": n}
        for s, lv, n in found
    )
    return Section("escalation_reasons", "上报原因(按来源与级别)", cols, rows, "一次上报可有多个来源")


def _trend(r: Report) -> Section:
    cols = (
        Column("day", "日期", "text"),
        Column("offered", "呼入量"),
        Column("answered", "接通量"),
        Column("abandoned_all", "放弃量(含短时)"),
        Column("service_level", "服务水平SL1", "pct"),
        Column("service_level_excl_short", "服务水平SL2", "pct"),
        Column("asa_s", "平均应答(秒)", "sec"),
        Column("tickets_opened", "新建工单"),
        Column("tickets_closed", "办结工单"),
        Column("on_time_rate", "按时率", "pct"),
        Column("satisfaction_rate", "满意率", "pct"),
    )
    rows = tuple(
        {
            "day": d.day.isoformat(),
            "offered": d.calls.offered,
            "answered": d.calls.answered,
            "abandoned_all": d.calls.abandoned + d.calls.short_abandoned,
            "service_level": d.calls.service_level,
            "service_level_excl_short": d.calls.service_level_excl_short,
            "asa_s": d.calls.asa_s,
            "tickets_opened": d.tickets_opened,
            "tickets_closed": d.tickets_closed,
            "on_time_rate": d.on_time_rate,
            "satisfaction_rate": d.satisfaction_rate,
        }
        for d in r.trend
    )
    return Section("trend", "每日趋势", cols, rows)


def _comparison(r: Report) -> Section:
    prev = r.options.previous()
    cols = (
        Column("metric", "指标键", "text"),
        Column("label", "指标", "text"),
        Column("current", "本期", "text"),
        Column("previous", "上期", "text"),
        Column("change", "变化", "text"),
    )
    rows = tuple(
        {
            "metric": c.metric,
            "label": c.label,
            "current": c.current,
            "previous": c.previous,
            "change": c.change,
            "kind": c.kind,
        }
        for c in r.comparison
    )
    return Section(
        "comparison",
        "与上期对比",
        cols,
        rows,
        f"上期 {prev.first_day.isoformat()} 至 {prev.last_day.isoformat()}",
    )


_BUILDERS: tuple[Callable[[Report], Section], ...] = (
    _summary,
    _intervals,
    _agents,
    _pauses,
    lambda r: _group("tickets_by_type", "工单(按类型)", "类型", r.by_type),
    lambda r: _group("tickets_by_department", "工单(按承办部门)", "承办部门", r.by_department),
    _satisfaction,
    _top,
    _overdue,
    _escalations,
    _escalation_reasons,
    _trend,
    _comparison,
)


def sections(report: Report) -> list[Section]:
    """Every table of the report, in reading order."""
    return [build(report) for build in _BUILDERS]


def definitions(report: Report) -> list[str]:
    """The header lines every format carries: range, thresholds and how figures are counted."""
    o = report.options
    rng = (
        o.first_day.isoformat()
        if o.first_day == o.last_day
        else f"{o.first_day.isoformat()} 至 {o.last_day.isoformat()}"
    )
    lines = [
        f"12345热线运行报表 {rng}",
        f"服务水平SL1 = {o.threshold_s:g}秒内接通 / 呼入量; SL2 = {o.threshold_s:g}秒内接通 / "
        f"(呼入量 - 短时放弃<{o.short_abandon_s:g}秒); 目标 {o.service_level_target * 100:g}%",
        "呼入量 = 接通 + 放弃 + 短时放弃 + 其他; 进行中的通话不计入",
        "结束时间不确定的通话(服务停机期间结束): 按结果计数, 不计通话时长, 放弃的不算短时放弃",
        "平均处理时长 = 平均通话 + 平均话后处理",
    ]
    if not report.agent_history:
        lines.append("坐席状态历史未记录: 坐席时长、振铃未接、占用率为未知(-)")
    lines.extend(report.notes)
    return lines
