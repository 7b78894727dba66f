"""The keyword automaton: words fire, negations and exclusions do not, lists are validated."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.escalation.errors import KeywordDataError
from hotline.escalation.keywords import CLAUSE_BREAKS, KeywordLists, KeywordMatcher, load_keyword_lists
from hotline.escalation.model import Level, Source


def words(matcher: KeywordMatcher, text: str) -> list[str]:
    return [hit.word for hit in matcher.hits(text)]


def test_an_urgent_word_fires_with_its_level(matcher: KeywordMatcher) -> None:
    hits = matcher.hits("三楼住户家里着火了，请马上派人")
    assert [(h.word, h.level) for h in hits] == [("着火", Level.URGENT)]


def test_a_sensitive_word_fires_with_its_level(matcher: KeywordMatcher) -> None:
    hits = matcher.hits("再不处理我就去北京上访")
    assert {(h.word, h.level) for h in hits} >= {("上访", Level.SENSITIVE)}


@pytest.mark.parametrize(
    "text",
    [
        "不是火灾",
        "过去一看不是火灾，是在熏腊肉",
        "并没有人受伤，只是车蹭了",
        "燃气公司检测后说没有燃气泄漏",
        "并未发生坍塌，只是墙皮掉了",
    ],
)
def test_a_negated_word_does_not_fire(matcher: KeywordMatcher, text: str) -> None:
    assert words(matcher, text) == []


def test_a_negation_does_not_reach_across_a_clause(matcher: KeywordMatcher) -> None:
    assert words(matcher, "不是，火灾") == ["火灾"]
    assert words(matcher, "不是小事，楼下真的着火了") == ["着火"]


def test_a_negation_further_than_the_gap_does_not_cancel(matcher: KeywordMatcher) -> None:
    assert words(matcher, "没想到这么快就发生了火灾") == ["火灾"]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("我家住在高新技术产业聚集区东侧，门口道路施工", "an address"),
        ("住在采煤塌陷区安置小区，供暖不达标", "an address"),
        ("楼上的落水管破了", "a downpipe"),
        ("商场挂着跳楼价的横幅", "a sale"),
        ("楼道堆物存在火灾隐患", "a hazard, not a fire"),
        ("想问一下信访局的办公地址", "an office"),
        ("燃气灶打不着火", "an ignition fault"),
    ],
)
def test_a_word_inside_an_exclusion_does_not_fire(matcher: KeywordMatcher, text: str, why: str) -> None:
    assert words(matcher, text) == [], why


def test_a_cue_inside_an_exclusion_is_no_cue(matcher: KeywordMatcher) -> None:
    # the 无 of 无人机 does not negate what follows
    assert words(matcher, "无人机着火了，掉在小区里") == ["着火"]


def test_signals_give_one_per_level_with_sorted_words(matcher: KeywordMatcher) -> None:
    signals = matcher.signals(["楼里着火了，有人受伤", "已经联系了记者"])
    assert [(s.source, s.level, s.detail) for s in signals] == [
        (Source.KEYWORD, Level.URGENT, "有人受伤,着火"),
        (Source.KEYWORD, Level.SENSITIVE, "记者"),
    ]


def test_empty_lists_match_nothing() -> None:
    assert KeywordMatcher(KeywordLists(urgent=(), sensitive=())).hits("着火") == []


def test_a_word_in_both_levels_is_refused() -> None:
    with pytest.raises(KeywordDataError, match="both urgent and sensitive"):
        KeywordLists(urgent=("火灾",), sensitive=("火灾",))


def test_a_duplicate_entry_in_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.toml"
    path.write_text('[urgent]\nwords = ["火灾", "火灾"]\n', encoding="utf-8")
    with pytest.raises(KeywordDataError, match=r"urgent.words: duplicate"):
        load_keyword_lists(path)


def test_an_unknown_table_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "k.toml"
    path.write_text('[urgnet]\nwords = ["火灾"]\n', encoding="utf-8")
    with pytest.raises(KeywordDataError, match=r"unknown table \[urgnet\]"):
        load_keyword_lists(path)


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.toml"
    path.write_bytes('[urgent]\nwords = ["火灾"]\n'.encode("gb18030"))
    with pytest.raises(KeywordDataError, match="not UTF-8"):
        load_keyword_lists(path)


def _reference_hits(lists: KeywordLists, text: str) -> list[str]:
    """The rules read literally: every occurrence, every cue, every exclusion (quadratic)."""

    def spans(words: tuple[str, ...]) -> list[tuple[int, int, str]]:
        found = []
        for w in words:
            i = text.find(w)
            while i != -1:
                found.append((i, i + len(w) - 1, w))
                i = text.find(w, i + 1)
        return found

    exclusions = [(s, e) for s, e, _ in spans(lists.exclusions)]

    def inside(s: int, e: int) -> bool:
        return any(xs <= s and e <= xe for xs, xe in exclusions)

    cues = [(s, e) for s, e, _ in spans(lists.negations) if not inside(s, e)]
    out = []
    for s, e, w in spans(lists.urgent) + spans(lists.sensitive):
        if inside(s, e):
            continue
        negated = any(
            cs < s and s - ce - 1 <= lists.max_gap and not any(ch in CLAUSE_BREAKS for ch in text[ce + 1 : s])
            for cs, ce in cues
        )
        if not negated:
            out.append((s, w))
    return [w for _, w in sorted(out)]


@given(st.lists(st.sampled_from(list("不是没有火灾着火聚集区上访，。无人机的了")), max_size=30).map("".join))
def test_the_matcher_agrees_with_the_rules_read_literally(text: str) -> None:
    lists = KeywordLists(
        urgent=("火灾", "着火", "有人"),
        sensitive=("上访", "聚集"),
        negations=("不是", "没有", "没", "无"),
        exclusions=("聚集区", "无人机"),
        max_gap=2,
    )
    assert sorted(h.word for h in KeywordMatcher(lists).hits(text)) == sorted(_reference_hits(lists, text))
