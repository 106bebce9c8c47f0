"""Edit distance and "did you mean" look-ups for near-miss names, keys and values."""

from __future__ import annotations

from collections.abc import Iterable


def edit_distance(a: str, b: str, limit: int | None = None) -> int:
    """Levenshtein distance with transpositions counted as one edit (optimal string alignment).

    With ``limit``, stops early and returns ``limit + 1`` once the distance must exceed it.
    """
    if a == b:
        return 0
    if limit is not None and abs(len(a) - len(b)) > limit:
        return limit + 1
    previous_previous: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            cost = 0 if char_a == char_b else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if (i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b):
                current[j] = min(current[j], previous_previous[j - 2] + 1)
        if limit is not None and min(current) > limit:
            return limit + 1
        previous_previous, previous = previous, current
    return previous[-1]


def typo_limit(word: str) -> int:
    """How many edits still count as a typo of ``word``: 1 for short words, up to 3."""
    return max(1, min(3, len(word) // 4))


def closest(word: str, candidates: Iterable[str], limit: int | None = None, most: int = 3) -> list[str]:
    """The candidates within ``limit`` edits of ``word`` (default :func:`typo_limit`), nearest first.

    A candidate that contains the word, or is contained in it (``web`` / ``web-api``), counts too.
    """
    limit = typo_limit(word) if limit is None else limit
    scored = []
    for candidate in set(candidates):
        if candidate == word:
            continue
        distance = edit_distance(word, candidate, limit)
        if distance <= limit:
            scored.append((distance, candidate))
        elif len(word) >= 3 and len(candidate) >= 3 and (word in candidate or candidate in word):
            scored.append((limit + 1, candidate))
    scored.sort()
    return [candidate for _, candidate in scored[:most]]
