"""Words in what the agent types: one multi-pattern automaton, with negations and exclusions.

The lists are data (``config/escalation/keywords.toml``, UTF-8)::

    [urgent]      words = ["火灾", "燃气泄漏", ...]     # 突发应急
    [sensitive]   words = ["媒体曝光", "上访", ...]     # 敏感事件
    [negation]    cues = ["不是", "没有", ...]          # "不是火灾" does not fire
                  max_gap = 2                          # at most this many characters between cue and word
    [exclusion]   phrases = ["火灾隐患", "产业聚集区", ...]  # a word inside one of these does not fire

Every word, cue and phrase goes into one Aho-Corasick automaton (``pyahocorasick``), so a text is
read once whatever the size of the lists: O(length + matches).  A keyword match is dropped when

* it lies inside an exclusion match (a place name such as "高新技术产业聚集区", a set phrase such
  as "跳楼价" or "火灾隐患", the hotline's own "信访局"), or
* a negation cue ends at most ``max_gap`` characters before it (or overlaps its start, as "没有"
  does in "没有人受伤"), with no clause break (，。；！？ …) in between.  A cue that itself lies inside
  an exclusion phrase (the "无" of "无人机") is no cue.

Pure: the only I/O is :func:`load_keyword_lists` reading the file.
"""

from __future__ import annotations

import enum
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ahocorasick

from hotline.escalation.errors import KeywordDataError
from hotline.escalation.model import Level, Signal, Source

#: Characters that end a clause: a negation never reaches across one.
CLAUSE_BREAKS = frozenset('，。；！？,.;!?\n\r\t、：:（）()【】“”"')


class _Kind(enum.IntEnum):
    KEYWORD = 0
    NEGATION = 1
    EXCLUSION = 2


@dataclass(frozen=True, slots=True)
class KeywordLists:
    """The four lists, as read from the data file (validated: non-empty, no CR/LF, no duplicates)."""

    urgent: tuple[str, ...]
    sensitive: tuple[str, ...]
    negations: tuple[str, ...] = ()
    exclusions: tuple[str, ...] = ()
    max_gap: int = 2
    source: str = field(default="<memory>", compare=False)

    def __post_init__(self) -> None:
        if self.max_gap < 0:
            raise KeywordDataError(self.source, 0, f"negation.max_gap must be 0 or more, got {self.max_gap}")
        both = set(self.urgent) & set(self.sensitive)
        if both:
            raise KeywordDataError(self.source, 0, f"words both urgent and sensitive: {sorted(both)[:5]}")
        for name, words in (
            ("urgent", self.urgent),
            ("sensitive", self.sensitive),
            ("negation", self.negations),
            ("exclusion", self.exclusions),
        ):
            for word in words:
                if not word.strip() or word != word.strip():
                    raise KeywordDataError(self.source, 0, f"{name}: empty or padded entry {word!r}")


@dataclass(frozen=True, slots=True)
class KeywordHit:
    """One keyword that fired: the word, its level, where it starts in the text."""

    word: str
    level: Level
    start: int


class KeywordMatcher:
    """Scans texts for urgent and sensitive words; build once, scan many (thread-free, no I/O)."""

    def __init__(self, lists: KeywordLists) -> None:
        self.lists = lists
        self._max_gap = lists.max_gap
        entries: dict[str, list[tuple[_Kind, Level | None]]] = {}
        for word in lists.urgent:
            entries.setdefault(word, []).append((_Kind.KEYWORD, Level.URGENT))
        for word in lists.sensitive:
            entries.setdefault(word, []).append((_Kind.KEYWORD, Level.SENSITIVE))
        for cue in lists.negations:
            entries.setdefault(cue, []).append((_Kind.NEGATION, None))
        for phrase in lists.exclusions:
            entries.setdefault(phrase, []).append((_Kind.EXCLUSION, None))
        self._automaton: Any = ahocorasick.Automaton()
        for word, kinds in entries.items():
            self._automaton.add_word(word, (len(word), word, tuple(kinds)))
        if entries:
            self._automaton.make_automaton()
        self._empty = not entries

    def hits(self, text: str) -> list[KeywordHit]:
        """Every keyword in ``text`` that is neither excluded nor negated, in text order."""
        if self._empty or not text:
            return []
        keywords: list[tuple[int, int, str, Level]] = []
        cues: list[tuple[int, int]] = []
        excluded: list[tuple[int, int]] = []
        for end, (length, word, kinds) in self._automaton.iter(text):
            start = end - length + 1
            for kind, level in kinds:
                if kind is _Kind.KEYWORD and level is not None:
                    keywords.append((start, end, word, level))
                elif kind is _Kind.NEGATION:
                    cues.append((start, end))
                else:
                    excluded.append((start, end))
        if not keywords:
            return []
        # Cues by the position of their last character: a keyword looks only at the few
        # positions a cue could end at (max_gap before it, up to its own end), not at every cue.
        cue_starts_by_end: dict[int, list[int]] = {}
        for cue in cues:
            if not excluded or not _inside(cue, excluded):
                cue_starts_by_end.setdefault(cue[1], []).append(cue[0])
        found: list[KeywordHit] = []
        for start, end, word, level in keywords:
            if excluded and _inside((start, end), excluded):
                continue
            if cue_starts_by_end and self._negated(text, cue_starts_by_end, start, end):
                continue
            found.append(KeywordHit(word=word, level=level, start=start))
        found.sort(key=lambda h: h.start)
        return found

    def _negated(self, text: str, cue_starts_by_end: dict[int, list[int]], start: int, end: int) -> bool:
        for cue_end in range(max(start - self._max_gap - 1, 0), end + 1):
            starts = cue_starts_by_end.get(cue_end)
            if not starts or not any(cue_start < start for cue_start in starts):
                continue
            between = text[cue_end + 1 : start] if cue_end + 1 < start else ""
            if not any(ch in CLAUSE_BREAKS for ch in between):
                return True
        return False

    def signals(self, texts: Iterable[str]) -> tuple[Signal, ...]:
        """At most one signal per level over all ``texts``; its detail lists the words (sorted, unique)."""
        words: dict[Level, set[str]] = {}
        for text in texts:
            for hit in self.hits(text):
                words.setdefault(hit.level, set()).add(hit.word)
        return tuple(
            Signal(source=Source.KEYWORD, level=level, detail=",".join(sorted(found)))
            for level, found in sorted(words.items(), reverse=True)
        )


def _inside(span: tuple[int, int], spans: Sequence[tuple[int, int]]) -> bool:
    start, end = span
    return any(s <= start and end <= e for s, e in spans)


def load_keyword_lists(path: Path) -> KeywordLists:
    """Read ``keywords.toml``; a missing file, bad TOML or a wrong shape raises :class:`KeywordDataError`."""
    where = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise KeywordDataError(where, 0, "file not found") from exc
    except UnicodeDecodeError as exc:
        raise KeywordDataError(where, 0, f"not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise KeywordDataError(where, 0, f"not valid TOML ({exc})") from exc
    known = {"urgent", "sensitive", "negation", "exclusion"}
    for key in raw:
        if key not in known:
            raise KeywordDataError(where, 0, f"unknown table [{key}] (known: {', '.join(sorted(known))})")

    def strings(table: str, key: str) -> tuple[str, ...]:
        value = raw.get(table, {}).get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise KeywordDataError(where, 0, f"{table}.{key}: expected a list of strings")
        if len(set(value)) != len(value):
            dupes = sorted({v for v in value if value.count(v) > 1})
            raise KeywordDataError(where, 0, f"{table}.{key}: duplicate entries {dupes[:5]}")
        return tuple(value)

    max_gap = raw.get("negation", {}).get("max_gap", 2)
    if isinstance(max_gap, bool) or not isinstance(max_gap, int):
        raise KeywordDataError(where, 0, "negation.max_gap: expected an integer")
    return KeywordLists(
        urgent=strings("urgent", "words"),
        sensitive=strings("sensitive", "words"),
        negations=strings("negation", "cues"),
        exclusions=strings("exclusion", "phrases"),
        max_gap=max_gap,
        source=where,
    )
