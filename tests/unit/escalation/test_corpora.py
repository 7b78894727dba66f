"""The false-positive guard: the shipped ordinary texts raise nothing, the flagged ones all fire.

Both rates are printed (run with ``-s`` to see them; they are also in the assertion messages).
"""

from __future__ import annotations

from hotline.escalation.keywords import KeywordMatcher
from tests.unit.escalation.conftest import CONFIG


def _texts(name: str) -> list[str]:
    lines = (CONFIG / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_the_corpora_are_big_enough_and_distinct() -> None:
    ordinary, flagged = _texts("corpus_ordinary.txt"), _texts("corpus_flagged.txt")
    assert len(ordinary) >= 500
    assert len(flagged) >= 100
    assert len(set(ordinary)) == len(ordinary)
    assert len(set(flagged)) == len(flagged)
    assert not set(ordinary) & set(flagged)


def test_ordinary_texts_raise_nothing_and_flagged_texts_all_fire(matcher: KeywordMatcher) -> None:
    ordinary, flagged = _texts("corpus_ordinary.txt"), _texts("corpus_flagged.txt")
    false_positives = [t for t in ordinary if matcher.hits(t)]
    missed = [t for t in flagged if not matcher.hits(t)]
    fp_rate = len(false_positives) / len(ordinary)
    recall = (len(flagged) - len(missed)) / len(flagged)
    print(
        f"\nescalation corpora: false-positive rate {len(false_positives)}/{len(ordinary)} = {fp_rate:.2%}; "
        f"flagged {len(flagged) - len(missed)}/{len(flagged)} = {recall:.2%}"
    )
    assert false_positives == [], f"false-positive rate {fp_rate:.2%}: {false_positives[:5]}"
    assert missed == [], f"detection rate {recall:.2%}; missed: {missed[:5]}"
