"""Exact reference featuriser: per-example gradients with torch.func, then a dense projection.

Slow on purpose and written to be obviously right: ``vmap(grad(f))`` over single examples via
``functional_call`` gives each example's full gradient of the projected parameters; each layer's
gradient is laid out in (out, in) orientation with the bias as the last input column and
multiplied by the explicit ``kron(R_out, R_in)`` matrix. The fast path is tested against it.
Tied weights are handled by ``functional_call`` itself: the gradient of the shared (V, d) matrix
already sums the LM-head and token-embedding uses.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.func import functional_call, grad, vmap

from dsdm_engine.compute.featurize.base import Batch, Featurizer
from dsdm_engine.compute.model_output import model_output
from dsdm_engine.compute.projection import KroneckerProjection

# Layers whose dense Kronecker matrix would exceed this many floats use R_outᵀ G R_in instead
# (the same linear map, applied in factored form) to keep the reference usable on larger presets.
DENSE_LIMIT = 64_000_000


class ExactFeaturizer(Featurizer):
    name = "exact"

    def __init__(
        self,
        model: torch.nn.Module,
        k: int,
        seed: int = 0,
        output: str = "margin",
        micro_batch: int = 8,
        whiten: list | None = None,
        layers: str = "all",
    ):
        self.model = model
        self.output = output
        self.proj = KroneckerProjection.for_model(model, k, seed, layers).precondition(whiten)
        self.k = self.proj.k
        self.micro_batch = micro_batch
        self._dense: dict[int, torch.Tensor] = {}

    def _per_example_grads(self, batch: Batch) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        names = {s.weight for s in self.proj.specs} | {s.bias for s in self.proj.specs if s.bias}
        params = {n: p.detach() for n, p in self.model.named_parameters() if n in names}
        frozen = {n: p.detach() for n, p in self.model.named_parameters() if n not in names}
        buffers = dict(self.model.named_buffers())
        model, kind = self.model, self.output

        def f_single(p, ids, att, lm):  # one example: ids (T,) -> scalar f, and Q
            logits = functional_call(
                model,
                ({**p, **frozen}, buffers),
                (),
                {"input_ids": ids[None], "attention_mask": att[None]},
            ).logits  # (1, T, V)
            f, q = model_output(logits, ids[None], lm[None], kind)
            return f[0], q[0]

        g, q = vmap(grad(f_single, has_aux=True), in_dims=(None, 0, 0, 0))(
            params, batch.input_ids, batch.attention_mask, batch.loss_mask
        )
        return g, q

    def featurize(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        was_training = self.model.training
        self.model.eval()
        try:
            feats, qs = [], []
            for s in range(0, len(batch), self.micro_batch):
                sub = Batch(
                    *(
                        t[s : s + self.micro_batch]
                        for t in (batch.input_ids, batch.attention_mask, batch.loss_mask)
                    )
                )
                g, q = self._per_example_grads(sub)
                feats.append(self._project(g))
                qs.append(q)
        finally:
            self.model.train(was_training)
        return torch.cat(feats).cpu().numpy(), torch.cat(qs).detach().cpu().numpy()

    def layer_grad(self, g: dict[str, torch.Tensor], i: int) -> torch.Tensor:
        """Per-example gradient of layer i in (out, in[+bias]) orientation: (B, d_out, d_in)."""
        spec = self.proj.specs[i]
        w = g[spec.weight]
        w = w.transpose(1, 2) if spec.kind == "conv1d" else w  # Conv1D stores (in, out)
        if spec.bias is not None:
            w = torch.cat([w, g[spec.bias].unsqueeze(-1)], dim=2)
        return w

    def _project(self, g: dict[str, torch.Tensor]) -> torch.Tensor:
        out = []
        for i, spec in enumerate(self.proj.specs):
            gl = self.layer_grad(g, i)  # (B, d_out, d_in)
            if spec.d_in * spec.d_out * spec.k <= DENSE_LIMIT:
                if i not in self._dense:
                    self._dense[i] = self.proj.dense(i)
                out.append(gl.reshape(gl.shape[0], -1) @ self._dense[i])
            else:
                out.append(self.proj.project_structured(i, gl))
        return torch.cat(out, dim=1)  # (B, k)
