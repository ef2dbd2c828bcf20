"""Keep target evaluation text out of the pool: 13-word-gram overlap, as in GPT-3's filtering.

Different datasets reuse the same Wikipedia paragraphs: DROP and CoQA both contain paragraphs of
the SQuAD v1.1 dev set, so leaving out the ``squad_dev`` source is not enough. A pool document
that shares any 13 consecutive (lower-cased) words with a target's evaluation text is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

NGRAM = 13
_WORD = re.compile(r"\w+")


def ngrams(text: str, n: int = NGRAM) -> set[tuple[str, ...]]:
    """The set of ``n``-word windows of ``text`` (lower-cased word characters only)."""
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


class Decontaminator:
    """Remembers the n-grams of protected texts and tells whether a document overlaps them."""

    def __init__(self, protected: Iterable[str], n: int = NGRAM) -> None:
        self.n = n
        self._grams: set[tuple[str, ...]] = set()
        for text in protected:
            self._grams |= ngrams(text, n)

    def __len__(self) -> int:
        return len(self._grams)

    def overlaps(self, text: str) -> bool:
        """Whether ``text`` shares at least one n-gram with the protected texts."""
        words = _WORD.findall(text.lower())
        n = self.n
        return any(tuple(words[i : i + n]) in self._grams for i in range(len(words) - n + 1))

    def is_clean(self, text: str) -> bool:
        """Whether ``text`` shares no n-gram with the protected texts."""
        return not self.overlaps(text)


def _gram_hashes(text: str, n: int) -> Iterator[int]:
    """64-bit hashes of the ``n``-word windows of ``text`` (same words as `ngrams`): Python's
    tuple hash, computed in C, stable within one process, which is all a screen needs."""
    words = _WORD.findall(text.lower())
    for i in range(len(words) - n + 1):
        yield hash(tuple(words[i : i + n]))


class CompactDecontaminator(Decontaminator):
    """`Decontaminator` with each n-gram stored as a 64-bit hash (an int) instead of a tuple
    (the hashes live in one process: never store them).

    Same answers as `Decontaminator` (a false positive needs a 64-bit hash collision), at a
    fraction of the memory, so it can screen a million streamed passages against large targets.
    """

    def __init__(self, protected: Iterable[str], n: int = NGRAM) -> None:
        self.n = n
        self._hashes: set[int] = set()
        for text in protected:
            self._hashes.update(_gram_hashes(text, n))

    def __len__(self) -> int:
        return len(self._hashes)

    def overlaps(self, text: str) -> bool:
        """Whether ``text`` shares at least one n-gram with the protected texts."""
        return any(h in self._hashes for h in _gram_hashes(text, self.n))


class DecontaminationCount:
    """How many records `decontaminated` passed and dropped (filled in while streaming)."""

    def __init__(self) -> None:
        self.kept = 0
        self.dropped = 0


def decontaminated(
    records: Iterable[dict[str, Any]],
    protected_texts: Iterable[str] | CompactDecontaminator,
    counts: DecontaminationCount | None = None,
) -> Iterator[dict[str, Any]]:
    """Stream ``records`` minus those sharing a 13-gram with ``protected_texts``.

    ``protected_texts`` is an iterable of target texts or a ready `CompactDecontaminator`;
    pass ``counts`` to read how many records were kept and dropped once the stream is consumed.
    """
    checker = (
        protected_texts
        if isinstance(protected_texts, CompactDecontaminator)
        else CompactDecontaminator(protected_texts)
    )
    counts = counts if counts is not None else DecontaminationCount()
    for rec in records:
        if checker.overlaps(rec["text"]):
            counts.dropped += 1
        else:
            counts.kept += 1
            yield rec
