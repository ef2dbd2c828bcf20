"""The trak library path: `TRAKer` with a causal-LM model output, for comparison and as an oracle.

`CausalLMModelOutput` plugs our `f`/`Q` (dsdm_engine.compute.model_output) into trak's
`AbstractModelOutput`; the label mask is a comparison with ``arange(V)`` (``F.one_hot`` breaks
vmap, stack-notes trap 1). `TrakFeaturizer` holds a real `TRAKer` (float32 on CPU: trap 2) and
runs exactly what `TRAKer.featurize` runs — its functional per-example gradients, its default
projector (`BasicProjector`, Gaussian, blocks of 100 redrawn each batch on CPU) and its
``sqrt(#params)`` normalisation — but returns the arrays instead of writing trak's store.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable

import numpy as np
import torch
from torch.func import functional_call
from trak import TRAKer
from trak.modelout_functions import AbstractModelOutput

from dsdm_engine.compute.featurize.base import Batch, Featurizer
from dsdm_engine.compute.model_output import model_output


class CausalLMModelOutput(AbstractModelOutput):
    """f (margin summed over loss tokens, or mean log-prob) and Q for a causal LM, trak-style."""

    def __init__(self, kind: str = "margin") -> None:
        super().__init__()
        self.kind = kind

    def get_output(
        self,
        model: torch.nn.Module,
        weights: Iterable[torch.Tensor],
        buffers: Iterable[torch.Tensor],
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        loss_mask: torch.Tensor,
    ) -> torch.Tensor:
        """One example (vmapped by trak): ids (T,) -> scalar f."""
        logits = functional_call(
            model,
            (weights, buffers),
            args=(),
            kwargs={"input_ids": input_ids[None], "attention_mask": attention_mask[None]},
        ).logits  # (1, T, V)
        f, _ = model_output(logits, input_ids[None], loss_mask[None], self.kind)
        return f.sum()

    def get_out_to_loss_grad(
        self, model: torch.nn.Module, weights, buffers, batch: Iterable[torch.Tensor]
    ) -> torch.Tensor:
        """Q for a batch: (B, 1)."""
        input_ids, attention_mask, loss_mask = batch
        with torch.no_grad():
            logits = functional_call(
                model,
                (weights, buffers),
                args=(),
                kwargs={"input_ids": input_ids, "attention_mask": attention_mask},
            ).logits
            _, q = model_output(logits, input_ids, loss_mask, self.kind)
        return q.unsqueeze(-1)


def make_traker(
    model: torch.nn.Module,
    save_dir: str,
    train_set_size: int,
    k: int,
    seed: int = 0,
    output: str = "margin",
    lambda_reg: float = 0.0,
) -> TRAKer:
    """A TRAKer configured for this project: float32, our model output, trak's default projector."""
    device = str(next(model.parameters()).device.type)
    model.eval()
    return TRAKer(
        model=model,
        task=CausalLMModelOutput(output),
        train_set_size=train_set_size,
        save_dir=save_dir,
        device=device,
        proj_dim=k,
        projector_seed=seed,
        use_half_precision=False,  # float16 matmul on CPU runs at ~0.2 GFLOP/s (trap 2)
        lambda_reg=lambda_reg,
        logging_level=logging.WARNING,
    )


class TrakFeaturizer(Featurizer):
    name = "trak"

    def __init__(self, model: torch.nn.Module, k: int, seed: int = 0, output: str = "margin"):
        self.model = model
        self.k = k
        self._tmp = tempfile.TemporaryDirectory(prefix="dsdm_trak_")
        self.traker = make_traker(model, self._tmp.name, 1, k, seed, output)

    def featurize(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        t = self.traker
        data = (batch.input_ids, batch.attention_mask, batch.loss_mask)
        t.gradient_computer.load_model_params(self.model)
        grads = t.gradient_computer.compute_per_sample_grad(batch=data)
        feats = t.projector.project(grads, model_id=0) / t.normalize_factor  # (B, k)
        q = t.gradient_computer.compute_loss_grad(data)  # (B, 1)
        return feats.detach().cpu().numpy().astype(np.float32), q[:, 0].cpu().numpy()
