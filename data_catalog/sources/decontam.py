"""Keep target evaluation text out of the pool: 13-word-gram overlap, as in GPT-3's filtering.

Different datasets reuse the same Wikipedia paragraphs: DROP and CoQA both contain paragraphs of
the SQuAD v1.1 dev set, so leaving out the ``squad_dev`` source is not enough. A pool document
that shares any 13 consecutive (lower-cased) words with a target's evaluation text is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

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
