"""EK-FAC influence on the full, unprojected gradient (George et al. 2018; Grosse et al. 2023).

The one preconditioner that made held-out LDS rise on the demo (README, "Do the scores
predict?"): an eigenvalue-corrected K-FAC inverse applied to the target's gradient, dotted with
every pool window's *full* gradient. It does not factor into a Kronecker projection, so it costs
one pass over the pool per batch of targets (no reusable features). Per proxy, for every
Linear/Conv1D layer (the tied LM head included; inputs with the bias' constant 1 appended):

1. K-FAC factors from a sample of pool windows: ``A = Σ a aᵀ``, ``S = Σ δ δᵀ`` over real tokens,
   δ = ∂(window's summed next-token loss)/∂(layer output); eigenbases ``Q_A``, ``Q_S``;
2. the eigenvalue correction: ``Λ = mean_n (Q_Sᵀ G_n Q_A)²`` over the same windows' gradients
   ``G_n = Σ_t δ_t a_tᵀ`` (`kfac` keeps K-FAC's own eigenvalues ``λ_S λ_Aᵀ`` at the same mean;
   `kfac-f` damps each factor apart, the form that folds into a projection);
3. per target the mean completion-loss gradient ``G_q`` of its examples, transformed to
   ``V = Q_S [(Q_Sᵀ G_q Q_A) / (Λ + d · mean Λ)] Q_Aᵀ``;
4. every window's score ``Σ_layers <G_n, V>``: positive = a step on the window lowers the
   target's loss (the product's sign: positive = predicted to help).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from dsdm_engine.compute.projection import find_layers

VARIANTS = ("ekfac", "kfac", "kfac-f", "identity")


class LayerTaps:
    """Per-window gradients ``G_n = Σ_t δ_t a_tᵀ`` (B, d_out, d_in[+1]) of every layer."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.layers = [(n, m) for n, _, m in find_layers(model)]
        self.head = [n.endswith("lm_head") for n, _ in self.layers]
        self.device = next(model.parameters()).device
        self.acts: dict[int, torch.Tensor] = {}
        self.deltas: dict[int, torch.Tensor] = {}
        self.outs: dict[int, torch.Tensor] = {}
        self.real = torch.zeros(0, dtype=torch.bool)

    def _hook(self, i: int) -> Callable:
        has_bias = getattr(self.layers[i][1], "bias", None) is not None

        def fwd(_mod, inputs, out):
            a = inputs[0].detach()
            self.acts[i] = torch.cat([a, torch.ones_like(a[..., :1])], -1) if has_bias else a
            self.outs[i] = out

        return fwd

    def run(self, ids: np.ndarray, loss_mask: np.ndarray | None = None) -> list[torch.Tensor]:
        """Backward of each window's summed next-token loss (on `loss_mask`'s tokens, else every
        real token; `ids` padded with -1): per layer its per-window gradient (float32). The
        activations and output gradients (B, T, d) stay in `acts` / `deltas`, the real-token
        mask in `real`."""
        x = torch.as_tensor(np.asarray(ids), dtype=torch.long, device=self.device)
        real = x >= 0
        x = x.clamp(min=0)
        if loss_mask is None:
            mask = real[:, 1:] & real[:, :-1]
        else:
            mask = torch.as_tensor(np.asarray(loss_mask)[:, 1:], dtype=torch.bool,
                                   device=self.device)  # fmt: skip
        handles = [m.register_forward_hook(self._hook(i)) for i, (_, m) in enumerate(self.layers)]
        try:
            with torch.enable_grad():
                logits = self.model(input_ids=x, attention_mask=real.long()).logits
                logp = torch.log_softmax(logits[:, :-1].float(), -1)
                tok = logp.gather(-1, x[:, 1:].unsqueeze(-1)).squeeze(-1)
                loss = -(tok * mask).sum()
                outs = [self.outs[i] for i in range(len(self.layers))]
                # to the layer outputs only: the parameters' gradients would be summed over the
                # batch and thrown away
                deltas = torch.autograd.grad(loss, outs)
        finally:
            for h in handles:
                h.remove()
            self.outs.clear()
        self.deltas = {i: d.detach() for i, d in enumerate(deltas)}
        self.real = real
        return [torch.einsum("bto,bti->boi", self.deltas[i].float(), self.acts[i].float())
                for i in range(len(self.layers))]  # fmt: skip


def batches(n: int, size: int) -> Iterator[tuple[int, int]]:
    """[start, end) row ranges of at most `size` rows."""
    for s in range(0, n, size):
        yield s, min(n, s + size)


def fit_ekfac(
    taps: LayerTaps, sample: np.ndarray, batch: int = 32
) -> list[dict[str, torch.Tensor]]:
    """Per layer: eigenbases ``qa``, ``qs`` of A and S, the corrected eigenvalues ``ekfac``
    (d_out, d_in), K-FAC's own ``kfac`` (rescaled to the same mean) and the factors' eigenvalues
    ``wa``, ``ws``; two passes over `sample` (windows padded with -1)."""
    n_layers = len(taps.layers)
    a_sum: list = [0.0] * n_layers
    s_sum: list = [0.0] * n_layers
    for s, e in batches(len(sample), batch):
        taps.run(sample[s:e])
        for i in range(n_layers):
            a = taps.acts[i][taps.real].double()
            d = taps.deltas[i][taps.real].double()
            a_sum[i] = a_sum[i] + a.T @ a
            s_sum[i] = s_sum[i] + d.T @ d
    bases = []
    for i in range(n_layers):
        wa, qa = torch.linalg.eigh(a_sum[i].cpu())
        ws, qs = torch.linalg.eigh(s_sum[i].cpu())
        wa, ws = wa.clamp(min=0), ws.clamp(min=0)
        bases.append((qa.float().to(taps.device), qs.float().to(taps.device), wa, ws))
    lam: list = [0.0] * n_layers
    for s, e in batches(len(sample), batch):
        for i, g in enumerate(taps.run(sample[s:e])):
            qa, qs = bases[i][:2]
            lam[i] = lam[i] + (qs.T @ g @ qa).pow(2).sum(0).double()
    out = []
    for i, (qa, qs, wa, ws) in enumerate(bases):
        ek = (lam[i] / max(len(sample), 1)).float().cpu()
        kf = (ws[:, None] * wa[None, :]).float()
        kf = kf * (ek.mean() / kf.mean().clamp(min=1e-30))
        out.append({"qa": qa.cpu(), "qs": qs.cpu(), "ekfac": ek, "kfac": kf,
                    "wa": wa.float(), "ws": ws.float()})  # fmt: skip
    return out


def save_bases(bases: list[dict[str, torch.Tensor]], path: Path) -> None:
    """Write the fitted bases atomically (a partial file never looks finished)."""
    tmp = path.with_suffix(".tmp")
    torch.save([{k: v.contiguous() for k, v in b.items()} for b in bases], tmp)
    tmp.replace(path)


def load_bases(path: Path) -> list[dict[str, torch.Tensor]]:
    return torch.load(path, weights_only=True)


def query_gradient(
    taps: LayerTaps,
    input_ids: np.ndarray,
    attention_mask: np.ndarray,
    loss_mask: np.ndarray,
    batch: int = 32,
) -> list[torch.Tensor]:
    """Mean over a target's examples of the gradient of their completion loss, per layer."""
    total: list = [0.0] * len(taps.layers)
    n = input_ids.shape[0]
    for s, e in batches(n, batch):
        ids = np.where(attention_mask[s:e] > 0, input_ids[s:e], -1)
        for i, g in enumerate(taps.run(ids, loss_mask[s:e])):
            total[i] = total[i] + g.sum(0)
    return [t / max(n, 1) for t in total]


def transform(q: torch.Tensor, basis: dict[str, torch.Tensor], variant: str, damping: float
              ) -> torch.Tensor:  # fmt: skip
    """The damped inverse of `variant` applied to one layer's query gradient (d_out, d_in);
    damping is relative: d × the mean eigenvalue."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown preconditioner {variant!r}; known: {', '.join(VARIANTS)}")
    if variant == "identity":
        return q
    qa, qs = basis["qa"].to(q.device), basis["qs"].to(q.device)
    if variant == "kfac-f":  # (S + d·mean λ_S)⁻¹ G (A + d·mean λ_A)⁻¹
        ws, wa = basis["ws"].to(q.device), basis["wa"].to(q.device)
        lam = (ws + damping * ws.mean())[:, None] * (wa + damping * wa.mean())[None, :]
    else:
        lam = basis[variant].to(q.device)
        lam = lam + damping * lam.mean()
    return qs @ ((qs.T @ q @ qa) / lam) @ qa.T


def window_scores(
    taps: LayerTaps,
    windows: np.ndarray,
    vs: list[list[torch.Tensor]],
    batch: int = 32,
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """``Σ_layers <G_n, V>`` of every window n (n_windows, len(vs)) for preconditioned queries
    `vs` (each a per-layer list). `on_batch(done)` is called after each batch."""
    stacked = [torch.stack([v[i] for v in vs]).float().to(taps.device)
               for i in range(len(taps.layers))]  # fmt: skip
    out = np.zeros((len(windows), len(vs)))
    for s, e in batches(len(windows), batch):
        total = 0.0
        for g, st in zip(taps.run(windows[s:e]), stacked, strict=True):
            total = total + torch.einsum("boi,voi->bv", g, st).double()
        out[s:e] = total.cpu().numpy()
        if on_batch is not None:
            on_batch(e)
    return out


__all__ = [
    "VARIANTS",
    "LayerTaps",
    "batches",
    "fit_ekfac",
    "load_bases",
    "query_gradient",
    "save_bases",
    "transform",
    "window_scores",
]
