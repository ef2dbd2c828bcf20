"""Fast featuriser: factorised per-layer projection from hooks on one batched backward pass.

For each Conv1D/Linear layer the forward hook keeps ``R_inᵀ a_t`` and a tensor hook on the
layer output keeps ``R_outᵀ δ_t``; the per-example projected gradient is then
``Σ_t (R_outᵀ δ_t)(R_inᵀ a_t)ᵀ`` (method.md §3, LoGra). No per-example gradient is formed.

Why it is fast: one ordinary batched forward + backward, and the backward runs only the
input-gradient half (parameters are frozen and the token-embedding output is made the leaf we
differentiate to), so no weight gradients are computed at all. Q comes from the same forward.
The tied token embedding adds ``Σ_t R_out[x_t] (R_inᵀ δe_t)ᵀ`` to the LM-head block.
Examples in a batch never interact (causal attention, right padding, per-token LayerNorm,
no dropout), so the summed backward gives every example its own δ_t; padded positions get δ = 0.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from dsdm_engine.compute.featurize.base import Batch, Featurizer
from dsdm_engine.compute.model_output import model_output
from dsdm_engine.compute.projection import KroneckerProjection


class FastFeaturizer(Featurizer):
    name = "fast"

    def __init__(
        self,
        model: torch.nn.Module,
        k: int,
        seed: int = 0,
        output: str = "margin",
        whiten: list | None = None,
        layers: str = "all",
    ):
        self.model = model
        self.output = output
        self.proj = KroneckerProjection.for_model(model, k, seed, layers).precondition(whiten)
        self.k = self.proj.k
        self._modules = dict(model.named_modules())

    def featurize(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        feats, q = self.featurize_torch(batch)
        return feats.cpu().numpy(), q.cpu().numpy()

    def featurize_torch(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Same as `featurize`, on the model's device. -> (B, k), (B,)."""
        specs = self.proj.specs
        acts: dict[int, torch.Tensor] = {}  # layer -> (B, T, k_in)
        grads: dict[int, torch.Tensor] = {}  # layer -> (B, T, k_out)
        emb: dict[str, torch.Tensor] = {}  # embedding module -> leaf output (B, T, d)
        handles = []

        def layer_hook(i: int):
            spec = specs[i]
            r_in, r_out = self.proj.r_in[i], self.proj.r_out[i]

            def fwd(_mod, inputs, output):
                a = inputs[0].detach()  # (B, T, d)
                ap = a @ r_in[: a.shape[-1]]  # (B, T, k_in)
                if spec.bias is not None:
                    ap = ap + r_in[-1]  # the bias' input is the constant 1
                acts[i] = ap

                def bwd(g):  # g = δ, (B, T, d_out)
                    grads[i] = g.detach() @ r_out  # (B, T, k_out)

                output.register_hook(bwd)

            return fwd

        def emb_hook(name: str):
            def fwd(_mod, inputs, output):
                leaf = output.detach().requires_grad_(True)  # (B, T, d): we differentiate to here
                emb[name] = leaf
                return leaf

            return fwd

        for i, spec in enumerate(specs):
            handles.append(self._modules[spec.module].register_forward_hook(layer_hook(i)))
        emb_names = sorted({s.tied_embedding for s in specs if s.tied_embedding})
        # The first embedding is the leaf; without a tied embedding, use the input embedding.
        leaf_name = emb_names[0] if emb_names else _input_embedding_name(self.model)
        handles.append(self._modules[leaf_name].register_forward_hook(emb_hook(leaf_name)))
        try:
            with _frozen(self.model), torch.enable_grad():
                logits = self.model(
                    input_ids=batch.input_ids, attention_mask=batch.attention_mask
                ).logits  # (B, T, V)
                f, q = model_output(logits, batch.input_ids, batch.loss_mask, self.output)
                (d_emb,) = torch.autograd.grad(f.sum(), [emb[leaf_name]])  # (B, T, d)
        finally:
            for h in handles:
                h.remove()

        blocks = []
        for i, spec in enumerate(specs):
            # (B, T, k_out)ᵀ (B, T, k_in) -> (B, k_out, k_in): Σ_t (R_outᵀ δ_t)(R_inᵀ a_t)ᵀ
            blk = torch.einsum("bto,bti->boi", grads[i], acts[i])
            if spec.tied_embedding is not None:
                # Embedding uses the (V, d) weight with V as input (one-hot x_t) and d as output.
                rows = self.proj.r_out[i][batch.input_ids]  # (B, T, k_out) = R_outᵀ onehot(x_t)
                blk = blk + torch.einsum("bto,bti->boi", rows, d_emb @ self.proj.r_in[i])
            blocks.append(blk.reshape(blk.shape[0], -1))
        return torch.cat(blocks, dim=1), q.detach()  # (B, k), (B,)


def _input_embedding_name(model: torch.nn.Module) -> str:
    emb = model.get_input_embeddings()
    return next(n for n, m in model.named_modules() if m is emb)


@contextlib.contextmanager
def _frozen(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode and no parameter grads for the duration; restores the caller's flags."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    was_training = model.training
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, rg in flags:
            p.requires_grad_(rg)
        model.train(was_training)
