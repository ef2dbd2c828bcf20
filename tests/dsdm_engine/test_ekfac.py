"""EK-FAC scoring: per-window gradients, factors and corrected eigenvalues against a direct
computation, the damped inverse against an explicit Kronecker matrix, and the opt-in scorer as a
stage (stored like any scores run, resumed from its shards, judged by `dsdm validate`)."""

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from data_catalog.errors import InputError
from dsdm_engine.compute import ekfac
from dsdm_engine.evaluation.validate import dsdm_predictors
from dsdm_engine.stages import ekfac_scores
from dsdm_engine.stages.ekfac_scores import score_tasks_ekfac

V, T = 40, 12


@pytest.fixture(scope="module")
def untied():
    """A tiny GPT-2 whose LM head is its own weight, so autograd gives the head's gradient."""
    cfg = GPT2Config(
        vocab_size=V, n_positions=T, n_embd=8, n_layer=1, n_head=2, tie_word_embeddings=False,
        resid_pdrop=0, embd_pdrop=0, attn_pdrop=0,
    )  # fmt: skip
    torch.manual_seed(3)
    return GPT2LMHeadModel(cfg).eval()


def windows() -> np.ndarray:
    rng = np.random.default_rng(0)
    ids = rng.integers(0, V, (5, T))
    ids[1, 7:] = -1  # padding carries no loss and no statistics
    ids[3, 4:] = -1
    return ids


def direct_gradients(model, ids: np.ndarray) -> list[list[torch.Tensor]]:
    """Per window, per layer (in `find_layers` order): ∂(summed next-token loss)/∂[W | b] laid
    out (d_out, d_in[+1]), by autograd on that window alone."""
    taps = ekfac.LayerTaps(model)
    out = []
    for row in ids:
        real = torch.as_tensor(row >= 0)
        x = torch.as_tensor(row).clamp(min=0)[None]
        logits = model(input_ids=x, attention_mask=real.long()[None]).logits[0]
        logp = torch.log_softmax(logits[:-1], -1).gather(-1, x[0, 1:, None])[:, 0]
        loss = -(logp * (real[1:] & real[:-1])).sum()
        per_layer = []
        for _, mod in taps.layers:
            params = [mod.weight] + ([mod.bias] if mod.bias is not None else [])
            grads = torch.autograd.grad(loss, params, retain_graph=True)
            w = grads[0] if isinstance(mod, torch.nn.Linear) else grads[0].T  # Conv1D: (in, out)
            per_layer.append(torch.cat([w, grads[1][:, None]], 1) if len(grads) > 1 else w)
        out.append(per_layer)
    return out


def test_window_gradients_and_scores_equal_autograd(untied):
    ids = windows()
    taps = ekfac.LayerTaps(untied)
    got = taps.run(ids)
    want = direct_gradients(untied, ids)
    for n in range(len(ids)):
        for i, g in enumerate(got):
            torch.testing.assert_close(g[n], want[n][i], rtol=1e-4, atol=1e-6)
    gen = torch.Generator().manual_seed(1)
    vs = [[torch.randn(g.shape[1:], generator=gen) for g in got] for _ in range(3)]
    scores = ekfac.window_scores(taps, ids, vs, batch=2)
    direct = np.array([[sum(float((w[i] * v[i]).sum()) for i in range(len(v))) for v in vs]
                       for w in want])  # fmt: skip
    np.testing.assert_allclose(scores, direct, rtol=1e-4, atol=1e-6)


def test_head_factors_and_corrected_eigenvalues_are_the_analytic_ones(untied):
    """For the LM head, a = the final hidden state and δ = softmax − one-hot: A, S and
    Λ = mean_n (Q_Sᵀ G_n Q_A)² computed in closed form."""
    ids = windows()
    taps = ekfac.LayerTaps(untied)
    bases = ekfac.fit_ekfac(taps, ids, batch=2)
    head = [n for n, _ in taps.layers].index("lm_head")
    real = torch.as_tensor(ids >= 0)
    x = torch.as_tensor(ids).clamp(min=0)
    with torch.no_grad():
        h = untied.transformer(input_ids=x, attention_mask=real.long())[0].double()
        p = torch.softmax(untied.lm_head(h.float()).double(), -1)
    has_next = torch.zeros_like(real)
    has_next[:, :-1] = real[:, 1:] & real[:, :-1]
    delta = (p[:, :-1] - torch.nn.functional.one_hot(x[:, 1:], V)) * has_next[:, :-1, None]
    delta = torch.cat([delta, torch.zeros_like(p[:, :1])], 1)  # the last position predicts none
    a_direct = h[real].T @ h[real]
    s_direct = delta[real].T @ delta[real]
    b = bases[head]
    a_fit = b["qa"].double() @ torch.diag(b["wa"].double()) @ b["qa"].double().T
    s_fit = b["qs"].double() @ torch.diag(b["ws"].double()) @ b["qs"].double().T
    torch.testing.assert_close(a_fit, a_direct, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(s_fit, s_direct, rtol=1e-4, atol=1e-5)
    g = torch.einsum("bto,bti->boi", delta, h)  # per-window head gradients
    lam = (b["qs"].double().T @ g @ b["qa"].double()).pow(2).mean(0)
    torch.testing.assert_close(b["ekfac"].double(), lam, rtol=1e-3, atol=1e-7)
    assert float(b["kfac"].mean()) == pytest.approx(float(b["ekfac"].mean()), rel=1e-5)


@pytest.mark.parametrize("variant", ["ekfac", "kfac", "kfac-f"])
def test_transform_inverts_the_damped_kronecker_matrix(variant):
    """H vec(V) = vec(G) for H = (Q_S ⊗ Q_A) diag(Λ + d·mean Λ) (Q_S ⊗ Q_A)ᵀ (kfac-f: the
    product of the factors damped apart)."""
    gen = torch.Generator().manual_seed(0)
    do, di, d = 5, 4, 0.1
    qs = torch.linalg.qr(torch.randn(do, do, generator=gen))[0]
    qa = torch.linalg.qr(torch.randn(di, di, generator=gen))[0]
    ws, wa = torch.rand(do, generator=gen), torch.rand(di, generator=gen)
    basis = {"qs": qs, "qa": qa, "ws": ws, "wa": wa, "ekfac": torch.rand(do, di, generator=gen),
             "kfac": ws[:, None] * wa[None, :]}  # fmt: skip
    q = torch.randn(do, di, generator=gen)
    v = ekfac.transform(q, basis, variant, d)
    if variant == "kfac-f":
        lam = (ws + d * ws.mean())[:, None] * (wa + d * wa.mean())[None, :]
    else:
        lam = basis[variant] + d * basis[variant].mean()
    rot = torch.kron(qs, qa)  # vec(Q_S X Q_Aᵀ) = (Q_S ⊗ Q_A) vec(X), row-major
    h = rot @ torch.diag(lam.reshape(-1)) @ rot.T
    torch.testing.assert_close(h @ v.reshape(-1), q.reshape(-1), rtol=1e-4, atol=1e-5)
    assert torch.equal(ekfac.transform(q, basis, "identity", d), q)
    with pytest.raises(ValueError, match="unknown preconditioner"):
        ekfac.transform(q, basis, "shampoo", d)


def test_ekfac_scorer_stores_resumes_and_is_judged(scored, monkeypatch):
    cat, proxies, _, _ = scored
    monkeypatch.setattr(ekfac_scores, "SHARD_WINDOWS", 64)
    seen = []
    runs = score_tasks_ekfac(cat, proxies, ["cook"], damping=0.01, sample=32, seed=1,
                             progress=lambda d, t, msg="": seen.append((d, t)))  # fmt: skip
    ((task_id, run_id),) = runs.items()
    run = cat.get_run(run_id)
    assert run["status"] == "done" and run["config"]["scorer"] == "ekfac"
    assert run["config"]["seed"] == 1 and run["config"]["damping"] == 0.01
    first = cat.scores(run_id, task_id).set_index("doc_id")["score"]
    assert len(first) == cat.get_pool("p")["n_docs"] and first.std() > 0
    assert seen[-1][0] == seen[-1][1]
    # a pass cancelled after some shards resumes from them: the same scores
    pass_dir = cat.layout.run_dir(run["config"]["ekfac_run_id"])
    (pass_dir / "member_1.npy").unlink()
    shards = pass_dir / "member_1" / "shards"
    shards.mkdir(parents=True)
    np.save(shards / "000000.npy", np.full((64, 1), 1e6))  # a shard kept from before
    again = score_tasks_ekfac(cat, proxies, ["cook"], damping=0.01, sample=32, seed=1)
    assert again == runs
    resumed = cat.scores(run_id, task_id).set_index("doc_id")["score"]
    assert not np.allclose(resumed.to_numpy(), first.to_numpy())  # the kept shard was read
    (pass_dir / "member_1.npy").unlink()
    score_tasks_ekfac(cat, proxies, ["cook"], damping=0.01, sample=32, seed=1)
    np.testing.assert_allclose(cat.scores(run_id, task_id).set_index("doc_id")["score"], first)
    # `dsdm validate` judges it like any scores run, without per-example scores
    preds = [p for p in dsdm_predictors(cat, "p", task_id) if "EK-FAC" in p.name]
    assert len(preds) == 1 and preds[0].per_example is None
    np.testing.assert_allclose(preds[0].scores, cat.scores(run_id, task_id)["score"])


def test_ekfac_scorer_refuses_bad_settings(scored):
    cat, proxies, features, _ = scored
    with pytest.raises(InputError, match="--ekfac-damping"):
        score_tasks_ekfac(cat, proxies, ["cook"], damping=0.0)
    with pytest.raises(InputError, match="--ekfac-sample"):
        score_tasks_ekfac(cat, proxies, ["cook"], sample=2)
    with pytest.raises(InputError, match="not a finished proxies run"):
        score_tasks_ekfac(cat, features, ["cook"])


def test_cli_scores_with_ekfac(scored, capsys):
    from dsdm_engine.cli import main

    cat, proxies, _, _ = scored
    argv = ["--workspace", str(cat.workspace.root), "score", "--pool", "p", "--target", "cook",
            "--scorer", "ekfac", "--ekfac-sample", "16", "--seed", "3"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    run_id = out.split("scores stored: ")[1].split()[0]
    cfg = cat.get_run(run_id)["config"]
    assert (cfg["scorer"], cfg["sample"], cfg["seed"], cfg["proxies_run_id"]) == (
        "ekfac",
        16,
        3,
        proxies,
    )
