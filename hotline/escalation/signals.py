"""Signals other than words: the IVR, the watch list, repeat calls, the taxonomy, a long wait.

Each function or class is pure: values in (time passed in as POSIX seconds), signals out.  Phone
numbers are never kept here in the clear: the watch list and the repeat-call counter both work on
keyed hashes (HMAC-SHA256 with a secret from config), so neither a memory dump nor the store shows
a citizen's number.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
from collections import deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hotline.escalation.errors import TaxonomyFlagError
from hotline.escalation.model import Level, Signal, Source
from hotline.tickets.phone import InvalidPhoneNumber, normalise_number


def number_digest(secret: bytes, number: str) -> str:
    """The keyed hash of a phone number in its canonical form (the tickets' phone rules), so
    "+86 138-0000-0001", "0138 0000 0001" and "13800000001" agree; a number those rules refuse
    (a withheld or odd caller ID) is hashed as its digits."""
    try:
        canonical = normalise_number(number)
    except InvalidPhoneNumber:
        canonical = "".join(ch for ch in number if ch.isdigit())
    return hmac.new(secret, canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def ivr_signal(value: str, markers: Mapping[str, Level]) -> Signal | None:
    """The IVR's channel variable (e.g. ``HOTLINE_IVR=urgent``) as a signal, if it names a level."""
    level = markers.get(value.strip().lower())
    return Signal(Source.IVR, level, value.strip().lower()) if level is not None else None


@dataclass(frozen=True, slots=True)
class WatchEntry:
    """A number on the watch list, by its keyed hash only; ``reason`` is free text (no number)."""

    digest: str
    level: Level
    reason: str = ""


class WatchList:
    """Numbers to flag (earlier sensitive matters), held as HMAC digests, never as numbers."""

    def __init__(self, secret: bytes, entries: Iterable[WatchEntry] = ()) -> None:
        if not secret:
            raise ValueError("the watch list needs a non-empty secret")
        self._secret = secret
        self._entries = {e.digest: e for e in entries}

    def __len__(self) -> int:
        return len(self._entries)

    def digest(self, number: str) -> str:
        """The keyed hash of ``number`` under this list's secret."""
        return number_digest(self._secret, number)

    def entry_for(self, number: str, level: Level, reason: str = "") -> WatchEntry:
        """The entry that would put ``number`` on the list (its digest, never the number)."""
        return WatchEntry(self.digest(number), level, reason)

    def add(self, entry: WatchEntry) -> None:
        """Put an entry on the list (replaces one with the same digest)."""
        self._entries[entry.digest] = entry

    def replace_all(self, entries: Iterable[WatchEntry]) -> None:
        """The list becomes exactly ``entries`` (a reload from the store)."""
        self._entries = {e.digest: e for e in entries}

    def signal(self, number: str) -> Signal | None:
        """A ``watch_list`` signal when ``number`` is listed."""
        entry = self._entries.get(self.digest(number))
        if entry is None:
            return None
        return Signal(Source.WATCH_LIST, entry.level, entry.reason)


class RepeatCalls:
    """Counts calls per number (by digest) in a sliding window; flags the Nth and later.

    ``threshold`` calls within ``window_s`` (the default rule: 3 in 24 h) raise a ``repeat_calls``
    signal at ``level``.  Memory: one deque per number seen within the window; :meth:`prune` drops
    numbers whose calls all fell out of it.
    """

    def __init__(self, *, threshold: int, window_s: float, level: Level) -> None:
        if threshold < 2:
            raise ValueError(f"repeat-call threshold must be 2 or more, got {threshold}")
        if window_s <= 0:
            raise ValueError(f"repeat-call window must be positive, got {window_s}")
        self.threshold = threshold
        self.window_s = window_s
        self.level = level
        self._calls: dict[str, deque[float]] = {}

    def observe(self, digest: str, at: float) -> Signal | None:
        """Count one call from ``digest`` at ``at``; a signal when it is the Nth within the window."""
        calls = self._calls.setdefault(digest, deque())
        while calls and calls[0] <= at - self.window_s:
            calls.popleft()
        calls.append(at)
        if len(calls) >= self.threshold:
            hours = self.window_s / 3600
            return Signal(Source.REPEAT_CALLS, self.level, f"{len(calls)} calls in {hours:g} h")
        return None

    def count(self, digest: str, at: float) -> int:
        """Calls from ``digest`` within the window ending at ``at``."""
        return sum(1 for t in self._calls.get(digest, ()) if t > at - self.window_s)

    def prune(self, at: float) -> None:
        """Forget numbers with no call within the window ending at ``at``."""
        stale = [d for d, calls in self._calls.items() if not calls or calls[-1] <= at - self.window_s]
        for digest in stale:
            del self._calls[digest]


def overdue_repeat_signal(overdue_tickets: Collection[str], level: Level) -> Signal | None:
    """A repeat caller with an overdue ticket: one signal naming the tickets (numbers, not people)."""
    if not overdue_tickets:
        return None
    return Signal(Source.OVERDUE_REPEAT, level, ",".join(sorted(overdue_tickets)))


def long_wait_signal(level: Level | None, waited_s: float, threshold_s: float) -> Signal | None:
    """An already-flagged call (``level`` not None) that waited beyond ``threshold_s``."""
    if level is None or waited_s < threshold_s:
        return None
    return Signal(Source.LONG_WAIT, level, f"{int(waited_s)} s")


def agent_signal(agent_id: str, level: Level, reason: str) -> Signal:
    """The agent's own flag from the desktop (the ``escalate`` command)."""
    text = " ".join(reason.split())[:200]
    return Signal(Source.AGENT, level, f"{agent_id}:{text}" if text else agent_id)


class TaxonomyFlags:
    """Classification nodes marked urgent or sensitive; a mark covers the node's descendants.

    Codes are hierarchical by prefix (``06`` ⊃ ``0603`` ⊃ ``060301`` ⊃ ``06030101``), so the mark of
    the longest marked prefix of a ticket's code applies.
    """

    def __init__(self, marks: Mapping[str, Level]) -> None:
        self._marks = dict(marks)
        self._lengths = sorted({len(code) for code in self._marks}, reverse=True)

    def __len__(self) -> int:
        return len(self._marks)

    def signal(self, classification: str) -> Signal | None:
        """A ``taxonomy`` signal when ``classification`` or one of its ancestors is marked."""
        for length in self._lengths:
            if length <= len(classification):
                code = classification[:length]
                level = self._marks.get(code)
                if level is not None:
                    return Signal(Source.TAXONOMY, level, code)
        return None


def parse_taxonomy_flags(text: str, source: str, known_codes: Collection[str] | None = None) -> TaxonomyFlags:
    """Read ``code,level`` rows (``#`` comments allowed); unknown codes or levels raise with the line."""
    marks: dict[str, Level] = {}
    rows = csv.reader(io.StringIO(text))
    for number, row in enumerate(rows, start=1):
        if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
            continue
        if [c.strip() for c in row] == ["code", "level"]:
            continue
        if len(row) != 2:
            raise TaxonomyFlagError(source, number, f"expected 2 columns (code,level), got {len(row)}")
        code, level_text = row[0].strip(), row[1].strip()
        try:
            level = Level.parse(level_text)
        except ValueError as exc:
            raise TaxonomyFlagError(source, number, str(exc)) from exc
        if known_codes is not None and code not in known_codes:
            raise TaxonomyFlagError(source, number, f"no classification node {code!r} in the taxonomy")
        if code in marks:
            raise TaxonomyFlagError(source, number, f"code {code} marked twice")
        marks[code] = level
    return TaxonomyFlags(marks)


def load_taxonomy_flags(path: Path, known_codes: Collection[str] | None = None) -> TaxonomyFlags:
    """Read the flag file; a missing file raises :class:`TaxonomyFlagError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise TaxonomyFlagError(str(path), 0, "file not found") from exc
    return parse_taxonomy_flags(text, str(path), known_codes)
