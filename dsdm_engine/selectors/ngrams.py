"""Hashed word n-gram features, shared by the DSIR and classifier selectors.

Tokenisation and hashing follow the reference DSIR package (p-lambda/dsir, `data-selection`):
lower-case, split with the word-punct pattern `\\w+|[^\\w\\s]+` (nltk's WordPunctTokenizer),
unigrams plus space-joined n-grams up to `n`, each hashed with SHA-256 modulo `num_buckets`.
SHA-256 is stable across processes (Python's `hash` is salted); it is slow per call, so each
`NgramHasher` memoises the bucket of every distinct n-gram it has seen.

A document is represented sparsely by the bucket ids of its n-grams (one entry per occurrence),
so counts are `np.bincount` and a linear model's score is a sum of gathered weights.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

_WORD_PUNCT = re.compile(r"\w+|[^\w\s]+", flags=re.UNICODE | re.MULTILINE | re.DOTALL)


def tokenize(text: str) -> list[str]:
    """Lower-cased word-punct tokens (same as the reference DSIR featuriser)."""
    return _WORD_PUNCT.findall(text.lower())


class NgramHasher:
    """Maps texts to hashed n-gram bucket ids, memoising each distinct n-gram's bucket."""

    def __init__(self, num_buckets: int = 10_000, n: int = 2, max_memo: int = 2_000_000) -> None:
        if not isinstance(num_buckets, int) or num_buckets < 1:
            raise ValueError(f"num_buckets must be a positive integer, got {num_buckets!r}")
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n (n-gram order) must be a positive integer, got {n!r}")
        self.num_buckets = num_buckets
        self.n = n
        self._memo: dict[str, int] = {}
        self._max_memo = max_memo  # bounds memory: rare bigrams would otherwise pile up

    def bucket(self, gram: str) -> int:
        b = self._memo.get(gram)
        if b is None:
            b = int(hashlib.sha256(gram.encode("utf-8")).hexdigest(), 16) % self.num_buckets
            if len(self._memo) >= self._max_memo:
                self._memo.clear()
            self._memo[gram] = b
        return b

    def ids(self, text: str) -> np.ndarray:
        """Bucket id of every unigram, bigram, ... n-gram occurrence in `text`."""
        words = tokenize(text)
        grams = list(words)
        for order in range(2, self.n + 1):
            grams.extend(" ".join(words[i : i + order]) for i in range(len(words) - order + 1))
        return np.fromiter((self.bucket(g) for g in grams), dtype=np.int64, count=len(grams))

    def ragged(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """All texts' bucket ids concatenated, plus row offsets (CSR `indptr`, length n + 1)."""
        rows = [self.ids(t) for t in texts]
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([r.size for r in rows], out=indptr[1:])
        flat = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        return flat, indptr

    def counts(self, texts: Sequence[str]) -> np.ndarray:
        """Total bucket counts over all `texts` (a bag-of-n-grams histogram)."""
        flat, _ = self.ragged(texts)
        return np.bincount(flat, minlength=self.num_buckets).astype(np.float64)


def row_sums(values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Per-row sums of a ragged array given by `indptr` (empty rows sum to 0)."""
    n = indptr.size - 1
    rows = np.repeat(np.arange(n), np.diff(indptr))
    return np.bincount(rows, weights=values, minlength=n)
