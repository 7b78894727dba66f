"""Signals other than words: IVR, watch list (HMAC), repeat calls, overdue repeat, taxonomy, long wait."""

from __future__ import annotations

import pytest

from hotline.escalation.errors import TaxonomyFlagError
from hotline.escalation.model import Level, Source
from hotline.escalation.signals import (
    RepeatCalls,
    WatchList,
    ivr_signal,
    long_wait_signal,
    number_digest,
    overdue_repeat_signal,
    parse_taxonomy_flags,
)

SECRET = b"test-secret"


def test_the_ivr_value_names_a_level() -> None:
    markers = {"urgent": Level.URGENT, "sensitive": Level.SENSITIVE}
    signal = ivr_signal(" Urgent ", markers)
    assert signal is not None and (signal.source, signal.level) == (Source.IVR, Level.URGENT)
    assert ivr_signal("normal", markers) is None


def test_the_watch_list_holds_digests_never_numbers() -> None:
    watch = WatchList(SECRET)
    entry = watch.entry_for("138-0000-0001", Level.SENSITIVE, "earlier petition")
    watch.add(entry)
    assert "13800000001" not in repr(entry) and "13800000001" not in entry.digest
    assert entry.digest == number_digest(SECRET, "13800000001")
    hit = watch.signal("+86 138 0000 0001")
    assert hit is not None and (hit.source, hit.level, hit.detail) == (
        Source.WATCH_LIST,
        Level.SENSITIVE,
        "earlier petition",
    )
    assert watch.signal("13800000002") is None


def test_another_secret_gives_another_digest() -> None:
    assert number_digest(SECRET, "13800000001") != number_digest(b"other", "13800000001")


def test_the_third_call_in_the_window_is_flagged_not_the_second() -> None:
    repeat = RepeatCalls(threshold=3, window_s=86_400.0, level=Level.SENSITIVE)
    digest = number_digest(SECRET, "13800000001")
    assert repeat.observe(digest, 0.0) is None
    assert repeat.observe(digest, 3_600.0) is None
    third = repeat.observe(digest, 7_200.0)
    assert third is not None and third.source is Source.REPEAT_CALLS


def test_calls_outside_the_window_do_not_count() -> None:
    repeat = RepeatCalls(threshold=3, window_s=86_400.0, level=Level.SENSITIVE)
    assert repeat.observe("d", 0.0) is None
    assert repeat.observe("d", 1.0) is None
    assert repeat.observe("d", 86_401.0) is None  # the first fell out: only 2 in the window
    repeat.prune(10 * 86_400.0)
    assert repeat.count("d", 10 * 86_400.0) == 0


def test_a_repeat_caller_with_an_overdue_ticket() -> None:
    signal = overdue_repeat_signal(("12345-20261120-000002", "12345-20261101-000001"), Level.SENSITIVE)
    assert signal is not None and signal.detail == "12345-20261101-000001,12345-20261120-000002"
    assert overdue_repeat_signal((), Level.SENSITIVE) is None


def test_a_long_wait_counts_only_for_a_flagged_call() -> None:
    assert long_wait_signal(None, 500.0, 60.0) is None
    assert long_wait_signal(Level.URGENT, 30.0, 60.0) is None
    signal = long_wait_signal(Level.URGENT, 61.0, 60.0)
    assert signal is not None and signal.source is Source.LONG_WAIT


def test_a_taxonomy_mark_covers_the_descendants() -> None:
    flags = parse_taxonomy_flags("code,level\n0603,urgent\n020102,sensitive\n", "<t>")
    hit = flags.signal("06030101")
    assert hit is not None and (hit.level, hit.detail) == (Level.URGENT, "0603")
    assert flags.signal("0604") is None
    sensitive = flags.signal("02010201")
    assert sensitive is not None and sensitive.level is Level.SENSITIVE


def test_a_taxonomy_flag_on_an_unknown_node_is_refused_with_its_line() -> None:
    with pytest.raises(TaxonomyFlagError, match=r"<t>:3: no classification node '9999'"):
        parse_taxonomy_flags("code,level\n0603,urgent\n9999,urgent\n", "<t>", known_codes={"0603"})


def test_a_taxonomy_flag_with_an_unknown_level_is_refused() -> None:
    with pytest.raises(TaxonomyFlagError, match="unknown escalation level 'loud'"):
        parse_taxonomy_flags("0603,loud\n", "<t>")
