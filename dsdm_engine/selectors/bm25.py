"""BM25 (Robertson et al.; `bm25s`, Lucene's variant) as a selection baseline and a predictor.

The pool is the corpus and every selection example of the target is one query; a document's
score is its mean BM25 relevance over the queries. BM25 is linear in the query's term counts,
so the mean over queries equals one query holding every term with its mean count: the pool is
scored in one pass however many examples the target has. Tokens are `bm25s`'s (lower-cased
words of two or more characters, English stop words removed); k1 = 1.5, b = 0.75.

On EleutherAI bergson's LDS leaderboard plain BM25 (0.22) beats TRAK with 8 models (0.14): a
datamodel that cannot beat it here is not yet worth its compute.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from dsdm_engine.selectors.base import PoolView, Scored, Selector


class Bm25Selector(Selector):
    """Mean BM25 relevance of each pool document to the target's examples (higher = closer)."""

    name = "bm25"

    def __init__(self, k1: float = 1.5, b: float = 0.75, stopwords: str = "english") -> None:
        if not k1 >= 0 or not 0 <= b <= 1:
            raise ValueError(f"bm25 needs k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self.k1, self.b, self.stopwords = float(k1), float(b), stopwords

    def params(self) -> dict[str, Any]:
        return {"k1": self.k1, "b": self.b, "stopwords": self.stopwords}

    def score(self, pool: PoolView, target: Sequence[str], seed: int) -> Scored:
        return Scored(bm25_scores(pool.texts, target, self.k1, self.b, self.stopwords))


def bm25_scores(
    corpus: Sequence[str],
    queries: Sequence[str],
    k1: float = 1.5,
    b: float = 0.75,
    stopwords: str | None = "english",
) -> np.ndarray:
    """Mean over `queries` of BM25(query, document) for every document of `corpus`."""
    import bm25s

    stop = stopwords or None
    docs = bm25s.tokenize(list(corpus), stopwords=stop, show_progress=False, return_ids=False)
    retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
    retriever.index(docs, show_progress=False)
    asked = bm25s.tokenize(list(queries), stopwords=stop, show_progress=False, return_ids=False)
    counts = Counter(token for query in asked for token in query)
    vocab = retriever.vocab_dict
    known = [(t, c) for t, c in counts.items() if t in vocab]
    if not known:
        return np.zeros(len(corpus), dtype=np.float64)
    total = np.zeros(len(corpus), dtype=np.float64)
    for token, count in known:  # one term at a time: its column times its mean count
        total += count * retriever.get_scores([token]).astype(np.float64)
    return total / max(1, len(queries))
