"""Selectors on the tiny cooking fixture: known target-like docs are found, seeds reproduce."""

import json
import math
import zlib
from pathlib import Path

import numpy as np
import pytest

from data_catalog.records import Selection
from dsdm_engine.compute.embeddings import cached_embeddings, normalize_rows
from dsdm_engine.selectors import PoolView, SelectionRule, available_selectors, get_selector
from dsdm_engine.selectors.dsir import DsirSelector
from dsdm_engine.selectors.embedding import knn_vote_scores
from dsdm_engine.selectors.ngrams import NgramHasher, tokenize
from dsdm_engine.selectors.semdedup import dedup_keep_mask

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "selectors"
COOKING = {f"cook-0{i}" for i in range(1, 7)}
STOPWORDS = {"the", "a", "and", "it", "in", "of", "to", "with", "for", "on", "is", "then", "until"}


def load_pool() -> PoolView:
    rows = [json.loads(line) for line in (FIXTURES / "pool.jsonl").read_text().splitlines()]
    return PoolView(
        ids=[r["id"] for r in rows],
        texts=[r["text"] for r in rows],
        sources=[r["source"] for r in rows],
        n_tokens=np.array([len(r["text"].split()) for r in rows]),
    )


def load_target() -> list[str]:
    rows = [json.loads(line) for line in (FIXTURES / "target.jsonl").read_text().splitlines()]
    return [r["prompt"] + r["completion"] for r in rows]


class BagOfWordsEmbedder:
    """A cheap stand-in for MiniLM: hashed content-word counts, unit norm; counts its calls."""

    name = "test-bag-of-words"

    def __init__(self, dim: int = 512) -> None:
        self.dim = dim
        self.texts_embedded = 0

    def __call__(self, texts):
        self.texts_embedded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for w in tokenize(text):
                if w.isalpha() and w not in STOPWORDS:
                    out[i, zlib.crc32(w.encode()) % self.dim] += 1
        return normalize_rows(out)


class TableEmbedder:
    """Embeds each text by looking it up in a fixed table (exact, hand-made geometry)."""

    name = "test-table"

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table

    def __call__(self, texts):
        return normalize_rows(np.array([self.table[t] for t in texts], dtype=np.float32))


POOL, TARGET = load_pool(), load_target()


# --- registry and shared errors -------------------------------------------------------------


KNOWN = ("bm25", "classifier", "dsdm", "dsir", "embedding", "random", "semdedup")


def test_registry_knows_every_method():
    assert available_selectors() == KNOWN


def test_unknown_method_lists_the_known_ones():
    message = "unknown selection method 'dsdmm'; known methods: " + ", ".join(KNOWN)
    with pytest.raises(ValueError, match=message):
        get_selector("dsdmm")


@pytest.mark.parametrize("method", ["dsir", "classifier", "embedding"])
def test_empty_target_task_is_a_clear_error(method):
    kw = {"embed_fn": BagOfWordsEmbedder()} if method == "embedding" else {}
    with pytest.raises(ValueError, match=f"{method}: the target task is empty"):
        get_selector(method, **kw).select(POOL, [], SelectionRule(k=3))
    with pytest.raises(ValueError, match="not one string"):
        get_selector(method, **kw).select(POOL, "a single string", SelectionRule(k=3))
    with pytest.raises(ValueError, match="every target example is blank"):
        get_selector(method, **kw).select(POOL, ["  ", ""], SelectionRule(k=3))


@pytest.mark.parametrize("method", ["random", "dsir", "classifier", "embedding", "semdedup"])
def test_k_larger_than_pool_is_an_error_before_scoring(method):
    embedder = BagOfWordsEmbedder()
    kw = {"embed_fn": embedder} if method in ("embedding", "semdedup") else {}
    with pytest.raises(ValueError, match="k=21 is larger than the pool: 20 documents"):
        get_selector(method, **kw).select(POOL, TARGET, SelectionRule(k=21))
    assert embedder.texts_embedded == 0  # validated before any (slow) scoring


def test_bad_seed_is_an_error():
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        get_selector("random").select(POOL, [], SelectionRule(k=2), seed=-1)


def test_pool_view_rejects_misaligned_or_duplicate_columns():
    with pytest.raises(ValueError, match="must all have 2 rows"):
        PoolView(["a", "b"], ["x"], ["s", "s"], np.array([1, 1]))
    with pytest.raises(ValueError, match="unique"):
        PoolView(["a", "a"], ["x", "y"], ["s", "s"], np.array([1, 1]))
    with pytest.raises(ValueError, match="integers"):
        PoolView(["a", "b"], ["x", "y"], ["s", "s"], np.array([1.5, 1.0]))


# --- random -----------------------------------------------------------------------------------


def test_random_is_seeded_uniform_without_replacement():
    sel = get_selector("random").select(POOL, [], SelectionRule(k=8), seed=7)
    assert isinstance(sel, Selection) and sel.method == "random" and sel.seed == 7
    assert len(sel.ids) == 8 == len(set(sel.ids)) and set(sel.ids) <= set(POOL.ids)
    assert get_selector("random").select(POOL, [], SelectionRule(k=8), seed=7) == sel
    other = get_selector("random").select(POOL, [], SelectionRule(k=8), seed=8)
    assert other.ids != sel.ids
    assert list(sel.scores) == sorted(sel.scores, reverse=True)  # ranked by its own draws


def test_random_covers_the_pool_uniformly():
    counts = dict.fromkeys(POOL.ids, 0)
    for seed in range(400):
        for doc_id in get_selector("random").select(POOL, [], SelectionRule(k=5), seed=seed).ids:
            counts[doc_id] += 1
    freq = np.array(list(counts.values())) / 400
    assert np.allclose(freq, 5 / 20, atol=0.09)  # ~4 standard errors of a 0.25 proportion


# --- DSIR -------------------------------------------------------------------------------------


def test_dsir_importance_weights_match_a_hand_computation():
    dsir = DsirSelector(num_buckets=10_000, pseudocount=1.0)
    buckets = {g: dsir.hasher.bucket(g) for g in ["a", "b", "a b", "c"]}
    assert len(set(buckets.values())) == 4  # no collision, so the hand computation holds
    weights = dsir.importance_weights(["A b", "c"], ["a B"])
    big_b = 10_000
    # pool counts: a, b, "a b", c = 1 each (N=4); target: a, b, "a b" = 1 each (N=3)
    w_ab = 3 * math.log((4 + big_b) / (3 + big_b))  # p_t = 2/(3+B), p_p = 2/(4+B) per gram
    w_c = math.log((1 / (3 + big_b)) / (2 / (4 + big_b)))
    assert weights == pytest.approx([w_ab, w_c], rel=1e-12)


def test_dsir_top_k_finds_the_target_like_documents():
    sel = get_selector("dsir").select(POOL, TARGET, SelectionRule(k=6, mode="top_k"))
    assert set(sel.ids) == COOKING
    assert list(sel.scores) == sorted(sel.scores, reverse=True)
    assert sel.params["rule"]["mode"] == "top_k" and sel.params["num_buckets"] == 10_000


def test_dsir_default_is_seeded_importance_resampling():
    a = get_selector("dsir").select(POOL, TARGET, SelectionRule(k=6), seed=3)
    assert a.params["rule"]["mode"] == "gumbel"
    assert get_selector("dsir").select(POOL, TARGET, SelectionRule(k=6), seed=3) == a
    picks = [
        get_selector("dsir").select(POOL, TARGET, SelectionRule(k=6), seed=s) for s in range(5)
    ]
    assert len({p.ids for p in picks}) > 1
    # the log ratios separate cooking from the rest by a wide margin, so resampling stays on it
    assert all(len(set(p.ids) & COOKING) >= 5 for p in picks)


def test_dsir_requires_some_smoothing():
    with pytest.raises(ValueError, match="needs smoothing"):
        DsirSelector(pseudocount=0.0, prob_epsilon=0.0)


def test_hasher_counts_unigrams_and_bigrams():
    hasher = NgramHasher(num_buckets=1_000_003, n=2)
    assert tokenize("Hello, World!") == ["hello", ",", "world", "!"]
    assert hasher.ids("Hello, World!").size == 4 + 3


# --- classifier -------------------------------------------------------------------------------


def test_classifier_top_k_finds_the_target_like_documents():
    sel = get_selector("classifier").select(POOL, TARGET, SelectionRule(k=6), seed=0)
    assert set(sel.ids) == COOKING
    assert get_selector("classifier").select(POOL, TARGET, SelectionRule(k=6), seed=0) == sel


def test_classifier_seed_picks_the_negative_sample():
    clf = get_selector("classifier", max_negatives=5)
    s1 = clf.score(POOL, TARGET, seed=1).scores
    assert np.array_equal(s1, clf.score(POOL, TARGET, seed=1).scores)
    assert not np.allclose(s1, clf.score(POOL, TARGET, seed=2).scores)


# --- embedding --------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["centroid", "knn"])
def test_embedding_finds_the_target_like_documents(variant):
    sel = get_selector("embedding", variant=variant, knn_k=2, embed_fn=BagOfWordsEmbedder())
    assert set(sel.select(POOL, TARGET, SelectionRule(k=6)).ids) == COOKING


def test_embedding_unknown_variant_lists_the_known_ones():
    with pytest.raises(ValueError, match="known: centroid, knn"):
        get_selector("embedding", variant="mean")


def test_knn_votes_and_tie_break_are_exact():
    # pool on the unit circle at 0°, 30°, 90°, 180°; targets at 10° and 80°
    def on_circle(degrees):
        rad = np.radians(degrees)
        return np.stack([np.cos(rad), np.sin(rad)], axis=1).astype(np.float32)

    pool, target = on_circle([0, 30, 90, 180]), on_circle([10, 80])
    scores = knn_vote_scores(pool, target, knn_k=2)
    # 10° votes for 0° and 30°; 80° votes for 90° and 30°
    votes = np.array([1, 2, 1, 0])
    nearest = np.cos(np.radians([10, 20, 10, 100]))  # cosine to the nearest target
    assert scores == pytest.approx(votes + (1 + nearest) / 4, abs=1e-6)


def test_centroid_scores_are_cosines_to_the_mean_target():
    table = {"p0": [1, 0], "p1": [0, 1], "p2": [1, 1], "t0": [1, 0], "t1": [1, 0.5]}
    pool = PoolView(["p0", "p1", "p2"], ["p0", "p1", "p2"], ["s"] * 3, np.array([1, 1, 1]))
    sel = get_selector("embedding", embed_fn=TableEmbedder(table)).select(
        pool, ["t0", "t1"], SelectionRule(k=3)
    )
    centroid = np.array([1, 0]) + np.array([1, 0.5]) / math.sqrt(1.25)
    centroid /= np.linalg.norm(centroid)
    expected = {"p0": centroid[0], "p1": centroid[1], "p2": centroid.sum() / math.sqrt(2)}
    assert sel.ids == ("p0", "p2", "p1")  # cosines 0.973, 0.850, 0.230
    assert sel.scores == pytest.approx([expected[i] for i in sel.ids], abs=1e-6)


def test_pool_embeddings_are_cached_and_invalidated_by_new_ids(tmp_path):
    embedder = BagOfWordsEmbedder()
    cache = tmp_path / "emb" / "pool.npy"
    sel = get_selector("embedding", embed_fn=embedder, cache_path=cache)
    first = sel.select(POOL, TARGET, SelectionRule(k=6))
    assert cache.exists() and embedder.texts_embedded == 20 + 6
    assert (
        get_selector("embedding", embed_fn=embedder, cache_path=cache).select(
            POOL, TARGET, SelectionRule(k=6)
        )
        == first
    )
    assert embedder.texts_embedded == 20 + 6 + 6  # only the target was embedded again
    assert np.array_equal(np.load(cache), cached_embeddings(POOL.texts, embedder, cache, POOL.ids))
    shifted = PoolView(list(POOL.ids[1:]), POOL.texts[1:], POOL.sources[1:], POOL.n_tokens[1:])
    assert cached_embeddings(shifted.texts, embedder, cache, shifted.ids).shape == (19, 512)
    assert embedder.texts_embedded == 32 + 19  # different ids: recomputed


# --- SemDeDup ---------------------------------------------------------------------------------


def test_dedup_keeps_the_least_typical_member_of_each_duplicate_group():
    emb = normalize_rows(np.array([[1, 0.0], [1, 0.01], [1, 0.2], [0, 1.0], [0.01, 1]]))
    labels = np.array([0, 0, 0, 1, 1])
    centroids = normalize_rows(np.array([[1, 0.07], [0.02, 1]]))
    keep = dedup_keep_mask(emb, labels, centroids, threshold=0.99)
    # cluster 0, least typical first: row 2 (cos to centroid 0.992), row 0 (0.998), row 1 (0.998+).
    # row 0 vs row 2: cos 0.981 < 0.99, kept; row 1 vs row 0: cos 0.99995 > 0.99, dropped.
    # cluster 1: row 3 (0.9998) comes before row 4 (0.99995); they are duplicates, row 4 goes.
    assert keep.tolist() == [True, False, True, True, False]


def test_dedup_block_size_does_not_change_the_result():
    rng = np.random.default_rng(0)
    base = normalize_rows(rng.normal(size=(10, 8)))
    emb = normalize_rows(np.repeat(base, 3, axis=0) + 0.01 * rng.normal(size=(30, 8)))
    labels = np.zeros(30, dtype=np.int64)
    centroid = normalize_rows(emb.mean(axis=0, keepdims=True))
    one = dedup_keep_mask(emb, labels, centroid, 0.98, block=1024)
    assert np.array_equal(one, dedup_keep_mask(emb, labels, centroid, 0.98, block=4))
    assert one.sum() == 10  # one survivor per triple of near-copies


def test_semdedup_never_selects_dropped_duplicates():
    texts = [f"doc {i}" for i in range(12)]
    rng = np.random.default_rng(1)
    base = rng.normal(size=(4, 16))
    vectors = np.repeat(base, 3, axis=0) + 1e-3 * rng.normal(size=(12, 16))  # 4 groups of 3
    table = dict(zip(texts, vectors.tolist(), strict=True))
    pool = PoolView([f"id{i}" for i in range(12)], texts, ["s"] * 12, np.ones(12, dtype=int))
    sd = get_selector("semdedup", n_clusters=4, threshold=0.95, embed_fn=TableEmbedder(table))
    sel = sd.select(pool, [], SelectionRule(k=4), seed=0)
    assert sel.params["n_kept"] == 4 and sel.params["n_dropped"] == 8
    groups = {int(i[2:]) // 3 for i in sel.ids}
    assert groups == {0, 1, 2, 3}  # one survivor from each group
    assert sd.select(pool, [], SelectionRule(k=4), seed=0) == sel
    with pytest.raises(ValueError, match="k=5 is larger than the 4 documents this method left"):
        sd.select(pool, [], SelectionRule(k=5), seed=0)


# --- DsDm -------------------------------------------------------------------------------------


def test_dsdm_takes_the_highest_scores():
    scores = np.linspace(-1, 1, 20)[::-1].copy()  # row 0 best
    scores[7] = 5.0
    sel = get_selector("dsdm", scores=scores).select(POOL, [], SelectionRule(k=3))
    assert sel.ids == (POOL.ids[7], POOL.ids[0], POOL.ids[1])
    assert sel.scores == pytest.approx([5.0, 1.0, scores[1]])


def test_dsdm_rejects_misaligned_or_nan_scores():
    with pytest.raises(ValueError, match="3 entries but the pool has 20 rows"):
        get_selector("dsdm", scores=np.zeros(3)).select(POOL, [], SelectionRule(k=2))
    with pytest.raises(ValueError, match="NaN"):
        get_selector("dsdm", scores=np.array([0.0, np.nan]))
    reversed_ids = list(POOL.ids)[::-1]
    with pytest.raises(ValueError, match="not aligned with the pool ids"):
        get_selector("dsdm", scores=np.zeros(20), score_ids=reversed_ids).select(
            POOL, [], SelectionRule(k=2)
        )


def test_every_selector_honours_the_shared_rules():
    rule = SelectionRule(
        k=4, exclude=["cook-01"], include=["fin-01"], source_max_count={"cooking": 2}
    )
    for name in ("random", "dsir", "classifier", "embedding"):
        kw = {"embed_fn": BagOfWordsEmbedder()} if name == "embedding" else {}
        sel = get_selector(name, **kw).select(POOL, TARGET, rule, seed=0)
        assert sel.ids[0] == "fin-01" and "cook-01" not in sel.ids and len(sel.ids) == 4
        assert sum(i.startswith("cook") for i in sel.ids) <= 2
        if name != "random":
            assert sum(i.startswith("cook") for i in sel.ids) == 2


def test_selection_params_are_json_ready_for_manifests():
    rule = SelectionRule(k=3, source_max_fraction={"cooking": 0.5}, include=["code-01"])
    kw = {
        "embedding": {"embed_fn": BagOfWordsEmbedder()},
        "semdedup": {"embed_fn": BagOfWordsEmbedder(), "n_clusters": 3},
        "dsdm": {"scores": np.arange(20.0)},
    }
    for name in available_selectors():
        sel = get_selector(name, **kw.get(name, {})).select(POOL, TARGET, rule, seed=5)
        params = json.loads(json.dumps(sel.params))
        assert params["rule"]["k"] == 3 and params["n_selected"] == len(sel.ids) == 3
        assert params["n_tokens_selected"] == sum(POOL.n_tokens[POOL.index[i]] for i in sel.ids)
        assert sel.method == name and sel.seed == 5 and sel.ids[0] == "code-01"
