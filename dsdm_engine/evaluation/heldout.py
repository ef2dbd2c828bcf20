"""Held-out target loss of a model (method.md §5): completion tokens only, prompts carry no loss.

- `completion_logprobs`: per example, the summed log-prob of its completion and its token count;
- `heldout_loss`: mean negative log-likelihood per completion token, token-weighted over the
  examples (the number every evaluation stores).
Re-exported by `harness`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from data_catalog.errors import InputError
from data_catalog.records import TargetExample


def completion_logprobs(
    model: torch.nn.Module,
    examples: Sequence[TargetExample],
    tokenizer: Any,
    seq_len: int,
    batch_size: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """Per example: summed log-prob of its completion tokens and their count. -> 2 × (m,)."""
    from dsdm_engine.compute.tokenizer import encode_targets

    arr = encode_targets(
        [e.prompt for e in examples], [e.completion for e in examples], tokenizer, seq_len
    )
    device = next(model.parameters()).device
    sums, counts = [], []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for s in range(0, len(examples), batch_size):
            ids = torch.as_tensor(
                arr.input_ids[s : s + batch_size], dtype=torch.long, device=device
            )
            att = torch.as_tensor(arr.attention_mask[s : s + batch_size], device=device).long()
            mask = torch.as_tensor(arr.loss_mask[s : s + batch_size], device=device)
            logits = model(input_ids=ids, attention_mask=att).logits.float()  # (B, T, V)
            logp = torch.log_softmax(logits[:, :-1], dim=-1)  # predicts tokens 1..T-1
            tok = logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)  # (B, T-1)
            m = mask[:, 1:].to(tok.dtype)
            sums.append((tok * m).sum(-1).cpu().numpy())
            counts.append(m.sum(-1).cpu().numpy())
    model.train(was_training)
    if not sums:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(sums).astype(np.float64), np.concatenate(counts).astype(np.float64)


def heldout_loss(
    model: torch.nn.Module,
    examples: Sequence[TargetExample],
    tokenizer: Any,
    seq_len: int,
    batch_size: int = 32,
) -> float:
    """Mean NLL per completion token over `examples` (token-weighted; prompts carry no loss)."""
    if not examples:
        raise InputError("no examples to evaluate on")
    sums, counts = completion_logprobs(model, examples, tokenizer, seq_len, batch_size)
    total = counts.sum()
    if total == 0:
        raise InputError("the examples have no completion tokens")
    return float(-sums.sum() / total)
