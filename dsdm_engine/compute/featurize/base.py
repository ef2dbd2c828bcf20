"""The featuriser interface: a batch of token sequences in, `(B, k)` features and `(B,)` Q out.

Three implementations share it: ``fast`` (factorised projection from hooks on one batched
backward, the default), ``exact`` (per-example gradients with torch.func, dense Kronecker
projection: the oracle) and ``trak`` (the trak library's gradient computer and projector).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Batch:
    """Right-padded token sequences. All (B, T) tensors on the model's device."""

    input_ids: torch.Tensor  # (B, T) long
    attention_mask: torch.Tensor  # (B, T) long, 1 = real token
    loss_mask: torch.Tensor  # (B, T) bool, 1 = this token carries loss (is scored as a label)

    @classmethod
    def from_arrays(
        cls,
        input_ids: np.ndarray,
        loss_mask: np.ndarray | None = None,
        attention_mask: np.ndarray | None = None,
        device: str | torch.device = "cpu",
    ) -> Batch:
        """Pool chunks need only ids (every token carries loss); targets pass their masks."""
        # a copy: pool rows may be a read-only memmap, which torch cannot share safely
        ids = torch.as_tensor(np.array(input_ids), dtype=torch.long, device=device)
        att = (
            torch.ones_like(ids)
            if attention_mask is None
            else torch.as_tensor(np.asarray(attention_mask), dtype=torch.long, device=device)
        )
        lm = (
            att.bool()
            if loss_mask is None
            else torch.as_tensor(np.asarray(loss_mask), dtype=torch.bool, device=device)
        )
        return cls(ids, att, lm & att.bool())

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


class Featurizer(ABC):
    """Extension point: one method with an exact contract."""

    name: str = "abstract"
    k: int
    model: torch.nn.Module

    @property
    def device(self) -> torch.device:
        """Where batches must live: the model's device."""
        return next(self.model.parameters()).device

    @abstractmethod
    def featurize(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """Features (B, k) float32 and out-to-loss Q (B,) float32 for one batch."""
