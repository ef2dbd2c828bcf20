"""Scores: equal to the trak library's on the same features; the sign means "helps the target"."""

import math

import numpy as np
import pytest
import torch

from data_catalog.ranks import percentiles, spearman, zscores
from dsdm_engine.compute.configs import FeatureConfig, TrainConfig
from dsdm_engine.compute.featurize import featurize_targets, make_featurizer
from dsdm_engine.compute.featurize.trak_path import make_traker
from dsdm_engine.compute.models import build_model
from dsdm_engine.compute.scoring import (
    example_scores,
    fit_pool_model,
    task_scores,
    top_overlap,
)
from dsdm_engine.compute.training import load_proxy, train_proxy

V, T = 300, 16


def trak_run(tmp_path, states, pool, targets, k, lambda_reg):
    """Featurise with TRAKer and finalize its scores; return scores + its stored features."""
    model = build_model("tiny", V, T)

    def batch(a):
        return (
            torch.as_tensor(a, dtype=torch.long),
            torch.ones(a.shape, dtype=torch.long),
            torch.ones(a.shape, dtype=torch.bool),
        )

    tr = make_traker(model, str(tmp_path), len(pool), k, seed=0, lambda_reg=lambda_reg)
    for mid, st in enumerate(states):
        tr.load_checkpoint(st, model_id=mid)
        for s in range(0, len(pool), 16):
            tr.featurize(batch=batch(pool[s : s + 16]), num_samples=len(pool[s : s + 16]))
    tr.finalize_features()
    # a fresh TRAKer for scoring: with one projector block finalize_features frees it (trap 3)
    tr = make_traker(model, str(tmp_path), len(pool), k, seed=0, lambda_reg=lambda_reg)
    for mid, st in enumerate(states):
        tr.start_scoring_checkpoint("exp", st, model_id=mid, num_targets=len(targets))
        tr.score(batch=batch(targets), num_samples=len(targets))
    scores = np.array(tr.finalize_scores("exp"))
    feats = []
    for mid in range(len(states)):
        tr.saver.load_current_store(mid)  # train store; the call below adds only the exp arrays
        tr.saver.load_current_store(mid, "exp", len(targets))
        st = tr.saver.current_store
        feats.append(
            (np.array(st["grads"]), np.array(st["out_to_loss"])[:, 0], np.array(st["exp_grads"]))
        )
    return scores, feats


@pytest.mark.parametrize("lambda_reg", [0.0, 1e-7])
def test_scores_equal_trak_finalize_scores_on_the_same_features(tmp_path, lambda_reg):
    rng = np.random.default_rng(0)
    pool = rng.integers(2, V, (96, T))
    targets = rng.integers(2, V, (6, T))
    states = [build_model("tiny", V, T, seed=s).state_dict() for s in (1, 2)]
    trak_scores, feats = trak_run(tmp_path, states, pool, targets, k=32, lambda_reg=lambda_reg)
    pms = [fit_pool_model(phi, q, lambda_reg=lambda_reg) for phi, q, _ in feats]
    ours = example_scores(pms, [t for _, _, t in feats])
    assert ours.shape == trak_scores.shape == (96, 6)
    assert np.abs(ours - trak_scores).max() / np.abs(trak_scores).max() <= 1e-4
    # the task score is the mean over target examples, at one mat-vec per model (float32 pool)
    task = task_scores(pms, [t for _, _, t in feats])
    assert np.abs(task - ours.mean(1)).max() <= 1e-5 * np.abs(ours).max()


def test_default_scoring_is_trak_at_the_default_relative_lambda(tmp_path):
    """The shipped default (a finite relative λ, raw scores) equals trak's own finalize_scores at
    that absolute λ, computed from trak's stored features alone."""
    from dsdm_engine.compute.configs import ScoreConfig

    default = ScoreConfig()
    assert default.normalize == "none" and math.isfinite(default.lambda_rel)
    rng = np.random.default_rng(4)
    pool = rng.integers(2, V, (64, T))
    targets = rng.integers(2, V, (5, T))
    states = [build_model("tiny", V, T, seed=1).state_dict()]
    _, feats = trak_run(tmp_path / "a", states, pool, targets, k=32, lambda_reg=0.0)
    phi, q, tphi = feats[0]
    lam = default.lambda_rel * np.trace(phi.astype(np.float64).T @ phi) / phi.shape[1]
    trak_scores, _ = trak_run(tmp_path / "b", states, pool, targets, k=32, lambda_reg=lam)
    ours = task_scores([fit_pool_model(phi, q, lambda_rel=default.lambda_rel)], [tphi])
    expected = trak_scores.mean(axis=1)
    assert np.abs(ours - expected).max() <= 1e-3 * np.abs(expected).max()


def test_cosine_option_is_the_trak_limit_divided_by_feature_norms(tmp_path):
    """`--lambda-rel inf --normalize cosine` (the former default) equals trak's scores at a huge
    λ divided by each document's mean feature norm."""
    from dsdm_engine.stages import feature_norms

    rng = np.random.default_rng(4)
    pool = rng.integers(2, V, (64, T))
    targets = rng.integers(2, V, (5, T))
    states = [build_model("tiny", V, T, seed=s).state_dict() for s in (1, 2)]
    trak_scores, feats = trak_run(tmp_path, states, pool, targets, k=32, lambda_reg=1e9)
    expected = trak_scores.mean(axis=1) / np.mean(
        [np.linalg.norm(phi, axis=1) for phi, _, _ in feats], axis=0
    )
    pms = [fit_pool_model(phi, q, lambda_rel=math.inf) for phi, q, _ in feats]
    ours = task_scores(pms, [t for _, _, t in feats]) / feature_norms(pms)
    assert np.abs(ours - expected).max() <= 1e-3 * np.abs(expected).max()
    assert spearman(ours, expected) > 0.999
    assert spearman(trak_scores.mean(axis=1), expected) < 0.999  # the division matters


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A tiny proxy trained on a pool that holds exact duplicates of the target examples."""
    rng = np.random.default_rng(3)
    base = rng.integers(2, 60, (120, T)).astype(np.int32)  # pool text: small sub-vocabulary
    targets = rng.integers(60, V, (4, T)).astype(np.int32)  # target text: a different one
    pool = np.concatenate([base, targets])  # rows 120..123 duplicate the targets
    cfg = TrainConfig(
        preset="tiny",
        vocab_size=V,
        seq_len=T,
        alpha=1.0,
        token_budget=T * 16 * 150,
        batch_size=16,
        lr=3e-3,
        device="cpu",
    )
    out = tmp_path_factory.mktemp("proxy")
    train_proxy(pool, cfg, out)
    model, _, _ = load_proxy(out, device="cpu")
    loss = np.zeros_like(targets, dtype=bool)
    loss[:, T // 2 :] = True  # prompt = first half, completion = second half
    return model, pool, targets, loss


@pytest.mark.parametrize("output", ["margin", "logprob"])
def test_a_duplicate_of_a_target_example_scores_highest_and_positive(toy, output):
    model, pool, targets, loss = toy
    fz = make_featurizer(model, FeatureConfig(proj_dim=512, output=output))
    phi, q = featurize_targets(fz, pool, np.ones_like(pool, dtype=bool))
    t_phi, _ = featurize_targets(fz, targets, loss)
    pm = fit_pool_model(phi, q, lambda_rel=1.0)
    per_ex = example_scores([pm], [t_phi])  # (n, 4)
    for j in range(4):
        assert int(np.argmax(per_ex[:, j])) == 120 + j
        assert per_ex[120 + j, j] > 0
    task = task_scores([pm], [t_phi])
    assert set(np.argsort(-task)[:4]) == {120, 121, 122, 123}
    assert percentiles(task)[120:].min() > 95


def test_infinite_lambda_is_the_limit_of_large_lambda():
    rng = np.random.default_rng(1)
    phi, q, t = rng.normal(size=(50, 8)), rng.uniform(size=50), rng.normal(size=(3, 8))
    big = task_scores([fit_pool_model(phi, q, lambda_rel=1e9)], [t])
    inf = task_scores([fit_pool_model(phi, q, lambda_rel=float("inf"))], [t])
    np.testing.assert_allclose(inf, big, rtol=1e-6)


def test_zscores_percentiles_and_rank_agreement_helpers():
    s = np.array([3.0, 1.0, 2.0, 2.0, 10.0])
    z = zscores(s)
    assert abs(z.mean()) < 1e-12 and abs(z.std() - 1) < 1e-12
    p = percentiles(s)
    assert p[4] == 100 and p[1] == 0 and p[2] == p[3]
    assert spearman(s, 2 * s + 1) == pytest.approx(1.0)
    assert spearman(s, -s) == pytest.approx(-1.0)
    assert top_overlap(np.arange(200.0), np.arange(200.0), 0.01) == 1.0
