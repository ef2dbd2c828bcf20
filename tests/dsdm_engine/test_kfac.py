"""K-FAC preconditioning: factors against a direct computation, and the whitening folded into the
projection equal to projecting explicitly whitened per-example gradients (fast and exact)."""

import numpy as np
import pytest
import torch

from data_catalog.errors import InputError
from dsdm_engine.compute.configs import FeatureConfig
from dsdm_engine.compute.featurize import Batch, make_featurizer
from dsdm_engine.compute.featurize.exact import ExactFeaturizer
from dsdm_engine.compute.kfac import (
    estimate_factors,
    inverse,
    inverse_sqrt,
    query_whitening,
    whitening,
)
from dsdm_engine.compute.model_output import model_output
from dsdm_engine.compute.models import build_model
from dsdm_engine.compute.projection import layer_specs

V, T, K = 200, 16, 128


@pytest.fixture(scope="module")
def model():
    m = build_model("tiny", vocab_size=V, seq_len=T, seed=2)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    return m


def windows() -> np.ndarray:
    rng = np.random.default_rng(0)
    ids = rng.integers(0, V, (6, T))
    ids[1, 10:] = -1  # padded windows: padding carries no statistics
    ids[4, 3:] = -1
    return ids


def test_factors_equal_a_direct_computation(model):
    ids = windows()
    specs = layer_specs(model, K)
    factors = estimate_factors(model, specs, ids, batch_size=4)
    real = torch.as_tensor(ids >= 0)
    x = torch.as_tensor(ids).clamp(min=0)
    # direct: the first attention projection's input is ln_1(wte + wpe); its output grad by
    # retain_grad on the layer output over the whole batch at once
    h = model.transformer.wte(x) + model.transformer.wpe(torch.arange(T))[None]
    a = model.transformer.h[0].ln_1(h).detach()[real]
    a = torch.cat([a, torch.ones(a.shape[0], 1)], 1).double()
    i = [s.module for s in specs].index("transformer.h.0.attn.c_attn")
    assert factors.n_tokens == int(real.sum())
    np.testing.assert_allclose(factors.a[i], (a.T @ a / len(a)).numpy(), rtol=1e-5, atol=1e-8)
    kept = {}

    def keep(_mod, _inputs, out):
        out.retain_grad()
        kept["o"] = out

    hook = model.transformer.h[0].attn.c_attn.register_forward_hook(keep)
    try:
        model.eval()
        logits = model(input_ids=x, attention_mask=real.long()).logits
        f, _ = model_output(logits, x, real, "margin")
        f.sum().backward()
    finally:
        hook.remove()
        model.zero_grad(set_to_none=True)
    d = kept["o"].grad[real].double()
    np.testing.assert_allclose(factors.s[i], (d.T @ d / len(d)).numpy(), rtol=1e-4, atol=1e-9)
    # the LM head's factors: hidden-state input (d + no bias), vocabulary-sized output
    head = [s.module for s in specs].index("lm_head")
    assert factors.a[head].shape == (32, 32) and factors.s[head].shape == (V, V)


def test_inverse_sqrt_is_damped_and_exact():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 8))
    m = x.T @ x / 50
    r = inverse_sqrt(m, 0.5)
    damped = m + 0.5 * np.trace(m) / 8 * np.eye(8)
    np.testing.assert_allclose(r @ damped @ r, np.eye(8), atol=1e-10)


@pytest.mark.parametrize("head", [True, False])
def test_folded_whitening_projects_whitened_gradients_fast_equals_exact(model, head):
    specs = layer_specs(model, K)
    w = whitening(estimate_factors(model, specs, windows()), specs, damping=0.3, head=head)
    assert (w[-1] is None) == (not head) and all(x is not None for x in w[:-1])
    ids = torch.as_tensor(windows()).clamp(min=0)
    att = torch.as_tensor(windows() >= 0).long()
    b = Batch(ids, att, att.bool())
    cfg = FeatureConfig(method="fast", proj_dim=K, proj_seed=4)
    fast, _ = make_featurizer(model, cfg, w).featurize(b)
    exact = make_featurizer(model, FeatureConfig(**{**cfg.__dict__, "method": "exact"}), w)
    exact_f, _ = exact.featurize(b)
    assert np.abs(fast - exact_f).max() / np.abs(exact_f).max() < 1e-4
    # the reference: per-example gradients whitened explicitly, S^-1/2 G A^-1/2, then projected
    # with the plain (unpreconditioned) matrices
    plain = ExactFeaturizer(model, k=K, seed=4)
    g, _ = plain._per_example_grads(b)
    blocks = []
    for i in range(len(specs)):
        gl = plain.layer_grad(g, i).double()
        if w[i] is not None:
            a_is, s_is = (torch.as_tensor(m) for m in w[i])
            gl = s_is @ gl @ a_is
        blocks.append(plain.proj.project_dense(i, gl.float()))
    ref = torch.cat(blocks, 1).numpy()
    assert np.abs(fast - ref).max() / np.abs(ref).max() < 1e-4
    plain_f, _ = make_featurizer(model, cfg).featurize(b)
    assert not np.allclose(plain_f, fast, rtol=1e-2)  # whitening changed something


def test_trak_path_and_bad_settings_are_refused(model):
    with pytest.raises(ValueError, match="precondition"):
        make_featurizer(model, FeatureConfig(method="trak", proj_dim=K), whiten=[None])
    for bad in ({"precondition": "shampoo"}, {"damping": 0.0}, {"kfac_windows": 0}):
        with pytest.raises(InputError, match="--" + next(iter(bad)).replace("_", "-")):
            FeatureConfig(**bad)
    assert "precondition" not in FeatureConfig().to_json()  # older runs keep resuming


def test_inverse_is_damped_and_exact():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 6))
    m = x.T @ x / 40
    damped = m + 0.2 * np.trace(m) / 6 * np.eye(6)
    np.testing.assert_allclose(inverse(m, 0.2) @ damped, np.eye(6), atol=1e-10)


def test_query_whitening_projects_the_preconditioned_target_gradient(model):
    """Target features with the query-side K-FAC inverse folded in equal the plain projection of
    S⁻¹ G A⁻¹ (every layer, the LM head and its tied embedding included), so their product with
    an unwhitened pool feature estimates vec(G)ᵀ (A ⊗ S)⁻¹ vec(G_doc)."""
    specs = layer_specs(model, K)
    w = query_whitening(estimate_factors(model, specs, windows()), specs, damping=0.1)
    ids = torch.as_tensor(windows()).clamp(min=0)
    att = torch.as_tensor(windows() >= 0).long()
    b = Batch(ids, att, att.bool())
    cfg = FeatureConfig(method="fast", proj_dim=K, proj_seed=3)
    fast, _ = make_featurizer(model, cfg, w).featurize(b)
    plain = ExactFeaturizer(model, k=K, seed=3)
    g, _ = plain._per_example_grads(b)
    blocks = []
    for i in range(len(specs)):
        a_inv, s_inv = (torch.as_tensor(m) for m in w[i])
        blocks.append(
            plain.proj.project_dense(i, (s_inv @ plain.layer_grad(g, i).double() @ a_inv).float())
        )
    ref = torch.cat(blocks, 1).numpy()
    assert np.abs(fast - ref).max() / np.abs(ref).max() < 1e-4
