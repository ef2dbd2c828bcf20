"""K-FAC preconditioning folded into the Kronecker projection (LoGra's construction).

Per projected layer, K-FAC approximates the curvature of the model output ``f`` (the margin the
features are gradients of) by ``A ⊗ S`` with ``A = E[a aᵀ]`` over the layer's inputs (the bias'
constant 1 appended) and ``S = E[δ δᵀ]`` over the output gradients ``δ = ∂f/∂out``, both
averaged over the real tokens of a sample of pool windows. Whitening a gradient ``G`` by
``S^{-1/2} G A^{-1/2}`` before projecting is the same as projecting with
``R_in ← A^{-1/2} R_in`` and ``R_out ← S^{-1/2} R_out``: no cost per document, and the fast and
exact featurisers stay equal because both read these matrices (method.md §3).

Damping is relative: ``A + d · tr(A)/dim · I`` (and the same for S). ``head=False`` leaves the
LM-head block (whose V × V factor is the largest and least well estimated) unpreconditioned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dsdm_engine.compute.model_output import model_output
from dsdm_engine.compute.projection import LayerSpec


@dataclass
class KfacFactors:
    """Per layer: A (d_in, d_in) and S (d_out, d_out), float64, and the tokens they averaged."""

    a: list[np.ndarray]
    s: list[np.ndarray]
    n_tokens: int

    def save(self, path) -> None:
        arrays = {f"a{i}": a for i, a in enumerate(self.a)}
        arrays.update({f"s{i}": s for i, s in enumerate(self.s)})
        np.savez(path, n_tokens=self.n_tokens, **arrays)

    @classmethod
    def load(cls, path) -> KfacFactors:
        with np.load(path) as z:
            n = sum(1 for k in z.files if k.startswith("a"))
            return cls([z[f"a{i}"] for i in range(n)], [z[f"s{i}"] for i in range(n)],
                       int(z["n_tokens"]))  # fmt: skip


def estimate_factors(
    model: torch.nn.Module,
    specs: list[LayerSpec],
    input_ids: np.ndarray,
    batch_size: int = 16,
    output: str = "margin",
) -> KfacFactors:
    """A and S of every layer in `specs` from windows (n, T) int, padded with -1."""
    device = next(model.parameters()).device
    modules = dict(model.named_modules())
    a_sum = [torch.zeros(s.d_in, s.d_in, dtype=torch.float64) for s in specs]
    s_sum = [torch.zeros(s.d_out, s.d_out, dtype=torch.float64) for s in specs]
    n_tok = 0
    mask: list[torch.Tensor] = []  # the current batch's real-token mask, (B, T)

    def hook(i: int, spec: LayerSpec):
        def fwd(_mod, inputs, out):
            a = inputs[0].detach()[mask[0]].double()  # (tokens, d)
            if spec.bias is not None:
                a = torch.cat([a, torch.ones(a.shape[0], 1, dtype=a.dtype, device=a.device)], 1)
            a_sum[i] += (a.T @ a).cpu()

            def bwd(g):
                d = g.detach()[mask[0]].double()
                s_sum[i] += (d.T @ d).cpu()

            out.register_hook(bwd)

        return fwd

    handles = [modules[s.module].register_forward_hook(hook(i, s)) for i, s in enumerate(specs)]
    params = [p for p in model.parameters() if p.requires_grad] or list(model.parameters())
    was_training = model.training
    model.eval()
    try:
        for b in range(0, len(input_ids), batch_size):
            ids = torch.as_tensor(np.asarray(input_ids[b : b + batch_size]), dtype=torch.long)
            real = ids >= 0
            ids = ids.clamp(min=0).to(device)
            real = real.to(device)
            mask[:] = [real]
            with torch.enable_grad():
                logits = model(input_ids=ids, attention_mask=real.long()).logits
                f, _ = model_output(logits, ids, real, output)
                torch.autograd.grad(f.sum(), params, allow_unused=True)
            n_tok += int(real.sum())
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    n = max(n_tok, 1)
    return KfacFactors([(x / n).numpy() for x in a_sum], [(x / n).numpy() for x in s_sum], n_tok)


def _damped_power(m: np.ndarray, damping: float, power: float) -> np.ndarray:
    """(M + d · tr(M)/dim · I)^power of a symmetric PSD matrix, by eigendecomposition."""
    m = (m + m.T) / 2
    lam = damping * max(float(np.trace(m)) / m.shape[0], 1e-30)
    w, v = np.linalg.eigh(m + lam * np.eye(m.shape[0]))
    return (v * np.maximum(w, lam) ** power) @ v.T


def inverse_sqrt(m: np.ndarray, damping: float) -> np.ndarray:
    """(M + d · tr(M)/dim · I)^{-1/2} of a symmetric PSD matrix."""
    return _damped_power(m, damping, -0.5)


def inverse(m: np.ndarray, damping: float) -> np.ndarray:
    """(M + d · tr(M)/dim · I)^{-1} of a symmetric PSD matrix."""
    return _damped_power(m, damping, -1.0)


def query_whitening(
    factors: KfacFactors, specs: list[LayerSpec], damping: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per layer (A^{-1}, S^{-1}), damped apart, to fold into the *target* side's projection
    only: its features become projections of ``S⁻¹ G A⁻¹``, whose product with an ordinary pool
    feature estimates ``vec(G_target)ᵀ (A ⊗ S)⁻¹ vec(G_doc)`` (the pool is not re-featurised)."""
    return [(inverse(a, damping), inverse(s, damping))
            for a, s in zip(factors.a, factors.s, strict=True)]  # fmt: skip


def whitening(
    factors: KfacFactors, specs: list[LayerSpec], damping: float, head: bool = True
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Per layer (A^{-1/2}, S^{-1/2}) to fold into the projection; None = leave as is."""
    out: list[tuple[np.ndarray, np.ndarray] | None] = []
    for spec, a, s in zip(specs, factors.a, factors.s, strict=True):
        if not head and (spec.tied_embedding is not None or spec.module.endswith("lm_head")):
            out.append(None)
            continue
        out.append((inverse_sqrt(a, damping), inverse_sqrt(s, damping)))
    return out


__all__ = [
    "KfacFactors",
    "estimate_factors",
    "inverse",
    "inverse_sqrt",
    "query_whitening",
    "whitening",
]
