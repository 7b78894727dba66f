"""Keyword scanning cost: the Aho-Corasick matcher against a naive ``in``-loop, in one run.

Run from the repository root: ``python -m bench.escalation``.

Texts: 10,000 ticket texts built from the shipped corpora (``config/escalation/corpus_*.txt``):
each is one to three corpus lines joined, so lengths vary like a description plus a request
(about 1 in 8 contains an urgent or sensitive line).  Words: the shipped urgent and sensitive
lists padded to 2,000 with other two-to-four-character words drawn from the flagged corpus and
absent from the ordinary one (domain words: they occur, but rarely), plus the shipped negation cues
and exclusions.

Measured in the same run, on the same texts and words:

- ``automaton``: :meth:`KeywordMatcher.hits` — every keyword found, negations and exclusions
  applied (one pass over the text);
- ``naive``: ``[w for w in words if w in text]`` — only which words occur, no negation, no
  exclusion (one substring search per word).

The garbage collector is off while timing.  Figures are printed, never asserted.
Target: well under 1 ms per text for the automaton.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from pathlib import Path

from hotline.escalation.keywords import KeywordLists, KeywordMatcher, load_keyword_lists

CONFIG = Path(__file__).resolve().parent.parent / "config" / "escalation"


def _lines(name: str) -> list[str]:
    text = (CONFIG / name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def workload(n_texts: int, n_words: int, seed: int) -> tuple[list[str], KeywordLists]:
    """The texts and the padded word lists (same for both scanners)."""
    rng = random.Random(seed)
    ordinary, flagged = _lines("corpus_ordinary.txt"), _lines("corpus_flagged.txt")
    texts = []
    for _ in range(n_texts):
        parts = [rng.choice(flagged if rng.random() < 0.05 else ordinary) for _ in range(rng.randint(1, 3))]
        texts.append("".join(parts))
    shipped = load_keyword_lists(CONFIG / "keywords.toml")
    words = set(shipped.urgent) | set(shipped.sensitive) | set(shipped.negations) | set(shipped.exclusions)
    # Domain words as a real 2,000-word list would hold them: drawn from the flagged texts,
    # kept only when the ordinary texts never use them (they are rare in ordinary tickets).
    pool, ordinary_text = "".join(flagged), "\n".join(ordinary)
    extra: list[str] = []
    while len(shipped.urgent) + len(shipped.sensitive) + len(extra) < n_words:
        size = rng.randint(2, 4)
        start = rng.randrange(len(pool) - size)
        word = pool[start : start + size]
        if word in ordinary_text:
            continue
        if word not in words and not any(ch in "，。；！？、 " for ch in word):
            words.add(word)
            extra.append(word)
    half = len(extra) // 2
    lists = KeywordLists(
        urgent=shipped.urgent + tuple(extra[:half]),
        sensitive=shipped.sensitive + tuple(extra[half:]),
        negations=shipped.negations,
        exclusions=shipped.exclusions,
        max_gap=shipped.max_gap,
    )
    return texts, lists


def time_each(texts: list[str], scan: object) -> tuple[float, list[float], int]:
    """Total seconds, per-text seconds, and the number of hits found."""
    assert callable(scan)
    per_text: list[float] = []
    found = 0
    gc.disable()
    try:
        clock = time.perf_counter
        start_all = clock()
        for text in texts:
            t0 = clock()
            found += len(scan(text))
            per_text.append(clock() - t0)
        total = clock() - start_all
    finally:
        gc.enable()
    return total, per_text, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=10_000)
    parser.add_argument("--words", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    texts, lists = workload(args.texts, args.words, args.seed)
    keywords = lists.urgent + lists.sensitive
    t0 = time.perf_counter()
    matcher = KeywordMatcher(lists)
    build_s = time.perf_counter() - t0
    mean_len = statistics.fmean(len(t) for t in texts)
    print(
        f"{len(texts):,} texts (mean {mean_len:.0f} characters), {len(keywords):,} keywords "
        f"+ {len(lists.negations)} negation cues + {len(lists.exclusions)} exclusions; "
        f"automaton built in {build_s * 1e3:.1f} ms"
    )

    def naive(text: str) -> list[str]:
        return [w for w in keywords if w in text]

    time_each(texts[:500], matcher.hits)  # warm-up
    time_each(texts[:500], naive)
    rows = []
    for name, scan in (("automaton", matcher.hits), ("naive in-loop", naive)):
        total, per_text, found = time_each(texts, scan)
        per_text.sort()
        p50 = per_text[len(per_text) // 2]
        p99 = per_text[int(len(per_text) * 0.99)]
        rows.append((name, total, p50, p99, found))
    print(f"{'scanner':<14} {'total':>9} {'per text':>10} {'p50':>9} {'p99':>9} {'hits':>7}")
    for name, total, p50, p99, found in rows:
        print(
            f"{name:<14} {total:>8.3f}s {total / len(texts) * 1e6:>8.1f}us {p50 * 1e6:>7.1f}us "
            f"{p99 * 1e6:>7.1f}us {found:>7}"
        )
    ratio = rows[1][1] / rows[0][1]
    print(f"naive / automaton: {ratio:.1f}x (the naive loop applies no negation or exclusion)")


if __name__ == "__main__":
    main()
