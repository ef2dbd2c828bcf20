"""Pure metrics against hand-computed values."""

import math

import numpy as np
import pandas as pd
import pytest

from data_catalog.records import Selection
from dsdm_engine.evaluation.metrics import (
    aggregate_lds,
    auroc,
    composition,
    compute_multiplier,
    lds,
    overlap_at_k,
    precision_at_k,
    rankdata,
    spearman,
    subset_predictions,
)


def sel(method: str, ids: str) -> Selection:
    ids_t = tuple(ids.split())
    return Selection(method, ids_t, tuple(float(-i) for i in range(len(ids_t))), {}, 0)


def test_overlap_at_k_is_jaccard_of_the_top_k():
    a, b, c = sel("dsdm", "1 2 3 4"), sel("dsir", "3 4 5 6"), sel("random", "7 8 9 1")
    full = overlap_at_k([a, b, c])
    assert list(full.index) == ["dsdm", "dsir", "random"]
    assert full.loc["dsdm", "dsir"] == pytest.approx(2 / 6)
    assert full.loc["dsdm", "random"] == pytest.approx(1 / 7)
    assert full.loc["dsir", "random"] == 0.0
    assert np.allclose(np.diag(full), 1.0) and np.allclose(full, full.T)
    top2 = overlap_at_k({"A": a, "B": sel("x", "2 1 9")}, k=2)
    assert top2.loc["A", "B"] == 1.0  # {1, 2} vs {2, 1}


def test_overlap_labels_repeated_methods_apart():
    labels = list(overlap_at_k([sel("random", "1"), sel("random", "2")]).index)
    assert labels == ["random", "random#2"]


def test_rankdata_averages_ties():
    assert rankdata(np.array([10, 20, 20, 5, 20])).tolist() == [2.0, 4.0, 4.0, 1.0, 4.0]


def test_spearman_hand_values():
    assert spearman(np.array([1, 2, 3, 4]), np.array([10, 20, 30, 40])) == pytest.approx(1.0)
    assert spearman(np.array([1, 2, 3, 4]), np.array([4, 3, 2, 1])) == pytest.approx(-1.0)
    # ranks a = 1 2 3 4 5, b = 2 1 4 3 5: d² sum = 4, rho = 1 - 6·4 / (5·24) = 0.8
    assert spearman(np.array([1, 2, 3, 4, 5]), np.array([2, 1, 4, 3, 5])) == pytest.approx(0.8)
    # with ties: a ranks 1.5 1.5 3 4, b ranks 1 2 3 4 → Pearson of ranks
    ra, rb = np.array([1.5, 1.5, 3, 4]), np.array([1.0, 2, 3, 4])
    expected = np.corrcoef(ra, rb)[0, 1]
    assert spearman(np.array([7, 7, 8, 9]), np.array([1, 2, 3, 4])) == pytest.approx(expected)
    assert math.isnan(spearman(np.array([1, 1, 1]), np.array([1, 2, 3])))


def test_composition_counts_shares_against_the_pool():
    ids, sources = ["a", "b", "c", "d", "e"], ["web", "web", "books", "wiki", "web"]
    tokens = np.array([10, 30, 20, 40, 0])
    out = composition(sel("m", "a c d"), ids, sources, tokens)
    assert out["source"].tolist() == ["books", "web", "wiki"]
    assert out["n_docs"].tolist() == [1, 1, 1]
    assert out["frac_docs"].tolist() == pytest.approx([1 / 3] * 3)
    assert out["pool_frac_docs"].tolist() == pytest.approx([0.2, 0.6, 0.2])
    assert out["n_tokens"].tolist() == [20, 10, 40]
    assert out["frac_tokens"].tolist() == pytest.approx([20 / 70, 10 / 70, 40 / 70])
    assert out["pool_frac_tokens"].tolist() == pytest.approx([0.2, 0.4, 0.4])
    with pytest.raises(ValueError, match="not in the pool"):
        composition(["zz"], ids, sources)


def test_compute_multiplier_interpolates_in_log_budget():
    budgets, losses = [1000, 2000, 4000, 8000], [4.0, 3.6, 3.3, 3.1]
    # DsDm at 1000 docs reaches 3.45: halfway between 2000 (3.6) and 4000 (3.3) in log budget
    m = compute_multiplier(budgets, losses, method_loss=3.45, method_budget=1000)
    assert m.bound == "exact"
    assert m.matched_budget == pytest.approx(math.sqrt(2000 * 4000))
    assert m.value == pytest.approx(math.sqrt(8.0))
    on_point = compute_multiplier(budgets, losses, method_loss=3.6, method_budget=1000)
    assert on_point.value == pytest.approx(2.0)


def test_compute_multiplier_outside_the_curve_is_a_flagged_bound_or_nan():
    budgets, losses = [1000, 2000, 4000], [4.0, 3.6, 3.3]
    better = compute_multiplier(budgets, losses, method_loss=3.0, method_budget=1000)
    assert (better.value, better.bound) == (4.0, "at_least")
    worse = compute_multiplier(budgets, losses, method_loss=4.5, method_budget=2000)
    assert (worse.value, worse.bound) == (0.5, "at_most")
    nan = compute_multiplier(budgets, losses, method_loss=3.0, method_budget=1000, outside="nan")
    assert math.isnan(nan.value) and nan.bound == "at_least"


def test_compute_multiplier_uses_the_monotone_envelope_of_a_noisy_curve():
    # the 4000 point is noisier (worse) than 2000; the envelope treats it as 3.5
    m = compute_multiplier([1000, 2000, 4000, 8000], [4.0, 3.5, 3.7, 3.0], 3.5, 1000)
    assert m.value == pytest.approx(2.0)
    with pytest.raises(ValueError, match="positive"):
        compute_multiplier([0, 10], [1.0, 0.5], 0.7, 5)


def test_lds_is_mean_per_target_spearman_over_subsets():
    masks = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [1, 1, 1]])
    scores = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, -1.0]])  # 3 docs × 2 targets
    pred = subset_predictions(masks, scores)
    assert pred.tolist() == [[4.0, -1.0], [5.0, 0.0], [3.0, 1.0], [6.0, 0.0]]
    actual = np.array([[0.2, 0.1], [0.3, 0.2], [0.1, 0.3], [0.4, 0.4]])
    res = lds(pred, actual)
    # target 0: ranks agree perfectly (1.0); target 1: pred ranks 1 2.5 4 2.5 vs 1 2 3 4
    t1 = np.corrcoef([1, 2.5, 4, 2.5], [1, 2, 3, 4])[0, 1]
    assert res.per_target == pytest.approx([1.0, t1])
    assert res.mean == pytest.approx((1.0 + t1) / 2) and res.n_valid == 2
    constant = lds(pred, np.array([[0.2, 1], [0.3, 1], [0.1, 1], [0.4, 1.0]]))
    assert constant.n_valid == 1 and constant.mean == pytest.approx(1.0)
    assert aggregate_lds(masks, scores[:, 0], actual[:, 0]) == pytest.approx(1.0)


def test_auroc_rank_based_with_ties():
    scores = np.array([-3.0, -1.0, 0.5, 2.0, -1.0])
    planted = np.array([1, 0, 0, 0, 1])
    # lowest first: planted -3 beats all 3 clean; planted -1 ties clean -1 (½) and beats 0.5, 2
    assert auroc(scores, planted) == pytest.approx((3 + 2.5) / 6)
    assert auroc(scores, planted, lowest_first=False) == pytest.approx(1 - (3 + 2.5) / 6)
    assert math.isnan(auroc(scores, np.zeros(5)))
    assert auroc(np.zeros(4), np.array([1, 0, 1, 0])) == pytest.approx(0.5)


def test_precision_at_k_counts_planted_among_the_lowest():
    scores = np.array([-3.0, -1.0, 0.5, 2.0, -2.0])
    planted = np.array([1, 0, 0, 0, 1])
    assert precision_at_k(scores, planted, 2) == 1.0
    assert precision_at_k(scores, planted, 3) == pytest.approx(2 / 3)
    assert precision_at_k(scores, planted, 2, lowest_first=False) == 0.0
    with pytest.raises(ValueError, match="k must be in 1..5"):
        precision_at_k(scores, planted, 6)


def test_metrics_reject_mismatched_inputs():
    with pytest.raises(ValueError):
        spearman(np.array([1.0, 2.0]), np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError):
        lds(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError):
        auroc(np.zeros(3), np.zeros(4))
    assert isinstance(overlap_at_k([sel("a", "1")]), pd.DataFrame)


def test_planted_effect_recovers_a_known_linear_effect():
    from dsdm_engine.evaluation.planted import planted_effect

    rng = np.random.default_rng(0)
    n, m = 400, 120
    labels = np.array(["spam"] * 40 + ["garbled"] * 40 + [None] * 320, dtype=object)
    n_tokens = rng.integers(20, 60, size=n).astype(float)
    masks = rng.random((m, n)) < 0.3
    total = masks @ n_tokens
    spam_share = (masks @ (n_tokens * (labels == "spam"))) / total
    outcome = 4.0 + 3.0 * spam_share + rng.normal(0, 0.005, size=m)  # spam hurts, garble not
    effect = planted_effect(masks, outcome, labels, n_tokens, seed=1)
    assert set(effect) == {"spam", "garbled"}
    lo, hi = effect["spam"]["ci"]
    assert lo > 0 and lo <= 3.0 <= hi and abs(effect["spam"]["effect"] - 3.0) < 0.3
    lo, hi = effect["garbled"]["ci"]
    assert lo < 0 < hi  # no effect: the interval straddles zero
    again = planted_effect(masks, outcome, labels, n_tokens, seed=1)
    assert again == effect  # seeded
