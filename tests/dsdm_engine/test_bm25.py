"""BM25 as a baseline and a predictor: scores against a hand-computed case, and the selector."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dsdm_engine.selectors import SelectionRule, get_selector
from dsdm_engine.selectors.bm25 import bm25_scores
from dsdm_engine.selectors.pool_view import PoolView


def lucene(tf: int, dl: int, avgdl: float, df: int, n: int, k1: float = 1.5, b: float = 0.75):
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return idf * tf / (tf + k1 * (1 - b + b * dl / avgdl))


def test_bm25_against_a_hand_computed_case():
    corpus = ["the cat sat on the mat", "dogs chase cats", "a cat and a cat", "nothing here at all"]
    # tokens (lower-cased words of 2+ characters, no stop words): lengths 6, 3, 3, 4
    avgdl = (6 + 3 + 3 + 4) / 4
    got = bm25_scores(corpus, ["cat mat"], stopwords=None)
    want = [
        lucene(1, 6, avgdl, df=2, n=4) + lucene(1, 6, avgdl, df=1, n=4),  # cat, mat
        0.0,  # "cats" is another token
        lucene(2, 3, avgdl, df=2, n=4),  # cat twice
        0.0,
    ]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # the mean over queries equals the mean of one-query scores (BM25 is linear in the query)
    both = bm25_scores(corpus, ["cat mat", "dogs"], stopwords=None)
    each = [bm25_scores(corpus, [q], stopwords=None) for q in ("cat mat", "dogs")]
    np.testing.assert_allclose(both, (each[0] + each[1]) / 2, rtol=1e-5)
    assert not bm25_scores(corpus, ["zebra"], stopwords=None).any()


def test_bm25_selector_prefers_documents_sharing_the_targets_words():
    texts = [f"recipe {i}: bake the bread with flour and butter" for i in range(5)]
    texts += [f"match {i}: the team scored a late goal" for i in range(5)]
    pool = PoolView(
        ids=[f"d{i}" for i in range(10)], texts=texts, n_tokens=np.full(10, 9),
        sources=["s"] * 10,
    )  # fmt: skip
    sel = get_selector("bm25").select(pool, ["bake bread with butter"], SelectionRule(k=5))
    assert set(sel.ids) == {f"d{i}" for i in range(5)}
    assert sel.params["k1"] == 1.5
    with pytest.raises(ValueError, match="k1"):
        get_selector("bm25", k1=-1)
