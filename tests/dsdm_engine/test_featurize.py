"""Featurisers: fast == exact reference (same Kronecker matrix), padding, seeds, resumed shards."""

import numpy as np
import pytest
import torch

from dsdm_engine.compute.configs import FeatureConfig
from dsdm_engine.compute.featurize import (
    Batch,
    featurize_pool,
    featurize_targets,
    load_pool_features,
    make_featurizer,
)
from dsdm_engine.compute.featurize.exact import ExactFeaturizer
from dsdm_engine.compute.models import build_model
from dsdm_engine.compute.projection import KroneckerProjection, allocate_dims, layer_specs
from dsdm_engine.progress import Cancelled

V, T = 300, 24


@pytest.fixture(scope="module")
def model():
    m = build_model("tiny", vocab_size=V, seq_len=T, seed=1)
    with torch.no_grad():  # non-trivial biases/LayerNorms so every term of the gradient matters
        for p in m.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    return m


def padded_batch():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(2, V, (5, T), generator=g)
    lengths = torch.tensor([T, 17, 9, T, 3])
    att = (torch.arange(T)[None] < lengths[:, None]).long()
    loss = att.bool().clone()
    loss[1, :8] = False  # a prompt: its tokens carry no loss
    loss[3, : T - 4] = False
    return Batch(ids * att + (1 - att), att, loss)


def rel_err(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_projection_covers_every_linear_layer_and_sums_to_k(model):
    specs = layer_specs(model, 256)
    assert len(specs) == 4 * model.config.n_layer + 1
    head = specs[-1]
    assert head.module == "lm_head" and head.tied_embedding == "transformer.wte"
    assert 256 - 6 < sum(s.k for s in specs) <= 256  # near-square blocks, remainder < a side
    for k, n_layers in ((1024, 17), (32768, 17), (100, 9)):
        dims = allocate_dims(k, n_layers)
        total = sum(a * b for a, b in dims)
        assert k - max(min(d) for d in dims) < total <= k  # remainder below one block side
        assert all(abs(a - b) <= 1 for a, b in dims)  # near-square blocks


def test_projection_preserves_norms_in_expectation():
    specs = layer_specs(build_model("tiny", V, T), 64)
    g = torch.randn(1, specs[0].d_out, specs[0].d_in)
    norms = [
        KroneckerProjection(specs, seed).project_dense(0, g).norm() ** 2 for seed in range(300)
    ]
    assert abs(float(torch.stack(norms).mean() / g.norm() ** 2) - 1) < 0.1


@pytest.mark.parametrize("output", ["margin", "logprob"])
def test_fast_equals_exact_reference_on_padded_variable_length_batch(model, output):
    cfg = FeatureConfig(method="fast", proj_dim=128, proj_seed=3, output=output)
    fast = make_featurizer(model, cfg)
    exact = make_featurizer(model, FeatureConfig(**{**cfg.__dict__, "method": "exact"}))
    b = padded_batch()
    f1, q1 = fast.featurize(b)
    f2, q2 = exact.featurize(b)
    assert f1.shape == (5, 128) and f1.dtype == np.float32
    assert rel_err(f1, f2) < 1e-4
    np.testing.assert_allclose(q1, q2, rtol=1e-5)
    assert np.abs(f1).min(axis=1).max() > 0  # no example came out empty


def test_fast_exact_structured_projection_agrees_with_dense(model):
    ex = ExactFeaturizer(model, k=128)
    g = {n: torch.randn(2, *p.shape) for n, p in model.named_parameters()}
    for i in range(len(ex.proj.specs)):
        gl = ex.layer_grad(g, i)
        d, s = ex.proj.project_dense(i, gl), ex.proj.project_structured(i, gl)
        assert torch.allclose(d, s, rtol=1e-4, atol=1e-4)


def test_padding_does_not_change_an_examples_features(model):
    fast = make_featurizer(model, FeatureConfig(proj_dim=128))
    b = padded_batch()
    full, _ = fast.featurize(b)
    alone, _ = fast.featurize(
        Batch(b.input_ids[2:3, :9], b.attention_mask[2:3, :9], b.loss_mask[2:3, :9])
    )
    assert rel_err(alone[0], full[2]) < 1e-5


def test_trak_featurizer_runs_with_the_same_q(model):
    b = padded_batch()
    f, q = make_featurizer(model, FeatureConfig(method="trak", proj_dim=32)).featurize(b)
    _, q_fast = make_featurizer(model, FeatureConfig(proj_dim=32)).featurize(b)
    assert f.shape == (5, 32) and np.isfinite(f).all()
    np.testing.assert_allclose(q, q_fast, rtol=1e-5)


def test_trak_path_features_are_exact_gradients_through_trak_projector(model):
    """The trak path's features are trak's projection of the exact per-example gradients.

    trak's functional gradients must equal our `torch.func` reference on every parameter the
    reference differentiates (tied embedding included); projecting the reference gradients with
    trak's own projector then reproduces the trak featuriser's output.
    """
    b = padded_batch()
    trak = make_featurizer(model, FeatureConfig(method="trak", proj_dim=32))
    trak = getattr(trak, "inner", trak)
    feats, _ = trak.featurize(b)
    t = trak.traker
    t.gradient_computer.load_model_params(model)
    theirs = t.gradient_computer.compute_per_sample_grad(
        batch=(b.input_ids, b.attention_mask, b.loss_mask)
    )
    ours, _ = ExactFeaturizer(model, 32)._per_example_grads(b)
    assert set(ours) <= set(theirs) and len(ours) >= 4 * model.config.n_layer + 1
    for name, g in ours.items():
        assert rel_err(theirs[name].detach().numpy(), g.detach().numpy()) < 1e-4, name
    merged = {n: ours.get(n, g) for n, g in theirs.items()}
    again = (t.projector.project(merged, model_id=0) / t.normalize_factor).detach().numpy()
    assert rel_err(again, feats) < 1e-4
    # and the projection is not degenerate: distinct documents get distinct features
    assert np.linalg.matrix_rank(feats) == len(feats)


def test_projection_seed_reproduces_and_changes_features(model):
    b = padded_batch()
    a = make_featurizer(model, FeatureConfig(proj_dim=64, proj_seed=7)).featurize(b)[0]
    again = make_featurizer(model, FeatureConfig(proj_dim=64, proj_seed=7)).featurize(b)[0]
    other = make_featurizer(model, FeatureConfig(proj_dim=64, proj_seed=8)).featurize(b)[0]
    assert np.array_equal(a, again) and not np.allclose(a, other)


POOL = np.random.default_rng(1).integers(2, V, (37, T)).astype(np.int32)


def test_resumed_featurisation_is_bit_identical(model, tmp_path):
    fz = make_featurizer(model, FeatureConfig(proj_dim=64))
    ref_f, ref_q = featurize_pool(fz, POOL, tmp_path / "ref", shard_size=8, batch_size=3)
    ref_f = np.array(ref_f)

    calls = []

    def killer(done, total, message=""):
        calls.append(done)
        if len(calls) == 3:  # the initial call, then shards 1 and 2 -> killed after shard 2
            raise Cancelled()

    with pytest.raises(Cancelled):
        featurize_pool(fz, POOL, tmp_path / "run", shard_size=8, batch_size=3, progress=killer)
    assert sorted(p.name for p in (tmp_path / "run" / "shards").glob("*.done")) == [
        "00000.done",
        "00001.done",
    ]
    with pytest.raises(FileNotFoundError):
        load_pool_features(tmp_path / "run")
    messages = []
    f, q = featurize_pool(
        fz,
        POOL,
        tmp_path / "run",
        shard_size=8,
        batch_size=3,
        progress=lambda d, t, m="": messages.append(m),
    )
    assert "16 of 37" in messages[0]  # it says what it skipped
    assert np.array_equal(np.asarray(f), ref_f) and np.array_equal(q, ref_q)
    assert f.shape == (37, fz.k) and fz.k <= 64


def test_resume_refuses_a_folder_with_other_settings(model, tmp_path):
    fz = make_featurizer(model, FeatureConfig(proj_dim=64))
    featurize_pool(fz, POOL, tmp_path / "x", shard_size=16, meta={"model": "a"})
    with pytest.raises(ValueError, match="model"):
        featurize_pool(fz, POOL, tmp_path / "x", shard_size=16, meta={"model": "b"})


def test_featurize_targets_matches_batches(model):
    b = padded_batch()
    fz = make_featurizer(model, FeatureConfig(proj_dim=64))
    f, q = featurize_targets(
        fz, b.input_ids.numpy(), b.loss_mask.numpy(), b.attention_mask.numpy(), batch_size=2
    )
    f_all, _ = fz.featurize(b)
    assert rel_err(f, f_all) < 1e-5 and q.shape == (5,)


def test_whole_document_features_are_the_sum_of_its_windows(model, tmp_path):
    """A document longer than seq_len is judged by all its windows: its feature is their sum."""
    from dsdm_engine.compute.featurize.windows import document_windows, sum_windows
    from dsdm_engine.stages.features import PaddedDocs

    g = np.random.default_rng(0)
    docs = [g.integers(2, V, n).astype(np.int32) for n in (5, T + 7, 3 * T)]
    flat = np.concatenate([np.append(d, 1) for d in docs])  # each ends with EOS (id 1)
    offsets = np.concatenate([[0], np.cumsum([len(d) + 1 for d in docs])])
    win, owner = document_windows(flat, offsets, T)
    # 6, T+8 and 3T+1 tokens with the [EOS] prefix; a 1-token tail predicts nothing: dropped
    assert list(np.bincount(owner)) == [1, 2, 3]
    assert win[0, 0] == 1 and (win[0, 6:] == -1).all()
    fz = PaddedDocs(make_featurizer(model, FeatureConfig(proj_dim=64)))
    phi_w, q_w = featurize_pool(fz, win, tmp_path / "w", shard_size=3, batch_size=2)
    sum_windows(phi_w, q_w, owner, (win >= 0).sum(1).astype(float), 3, tmp_path, block=3)
    phi, q = load_pool_features(tmp_path)
    for i in range(3):
        assert rel_err(phi[i], np.asarray(phi_w)[owner == i].sum(0)) < 1e-6
    # a short document's feature is exactly what the first-seq_len path gives it
    alone, _ = fz.featurize(Batch.from_arrays(win[:1]))
    assert rel_err(phi[0], alone[0]) < 1e-5
    assert q.shape == (3,) and np.all((q > 0) & (q <= 1))
