"""Model output functions `f` and out-to-loss weights `Q` for causal LMs (method.md §3).

Two choices, both oriented "higher = better" so that a positive TRAK score means "helps":
- ``margin`` (default): ``f(z) = Σ_t log(p_t / (1 − p_t))`` over loss-carrying tokens and
  ``Q(z) = mean_t (1 − p_t)``; the TRAK classification margin applied per token.
- ``logprob``: ``f(z) = mean_t log p_t`` and ``Q ≡ 1``.

Token `t` of a sequence is predicted from positions `< t`, so logits at position `t − 1` are
scored against ``input_ids[t]`` when ``loss_mask[t]`` is set. Written with gather/scatter instead
of ``F.one_hot`` so the same code runs under ``torch.func.vmap`` (trak trap 1) and touches the
(B, T, V) logits as few times as possible (they dominate small proxies with a 4k+ vocabulary).
"""

from __future__ import annotations

from typing import Literal

import torch

OutputKind = Literal["margin", "logprob"]
OUTPUT_KINDS: tuple[str, ...] = ("margin", "logprob")


def check_output_kind(kind: str) -> str:
    """Reject unknown model-output names with the list of known ones."""
    if kind not in OUTPUT_KINDS:
        raise ValueError(f"unknown model output {kind!r}; known: {', '.join(OUTPUT_KINDS)}")
    return kind


def shifted(
    logits: torch.Tensor, input_ids: torch.Tensor, loss_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Align next-token predictions with their labels.

    logits (..., T, V), input_ids (..., T), loss_mask (..., T) ->
    logits (..., T-1, V), labels (..., T-1), mask (..., T-1) float.
    """
    return logits[..., :-1, :], input_ids[..., 1:], loss_mask[..., 1:].to(logits.dtype)


def token_terms(
    logits: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-token margin, log p and p of the label.

    logits (..., T, V), labels (..., T) -> three (..., T) tensors.
    """
    idx = labels.unsqueeze(-1)  # (..., T, 1)
    logit_y = logits.gather(-1, idx).squeeze(-1)  # (..., T)
    lse = torch.logsumexp(logits, dim=-1)  # (..., T)
    # log Σ_{j≠y} exp(l_j): knock the label out (one out-of-place scatter, vmap-safe, no one_hot)
    # instead of lse + log1p(-p), which loses all precision once p rounds to 1 in float32.
    lse_others = torch.logsumexp(logits.scatter(-1, idx, float("-inf")), dim=-1)
    logp = logit_y - lse
    return logit_y - lse_others, logp, logp.exp()


def model_output(
    logits: torch.Tensor,
    input_ids: torch.Tensor,
    loss_mask: torch.Tensor,
    kind: str = "margin",
) -> tuple[torch.Tensor, torch.Tensor]:
    """f and Q per sequence. logits (B, T, V), input_ids (B, T), loss_mask (B, T) -> f (B,), Q (B,).

    Works unbatched too (leading dims are free). Q is returned detached: it is a weight, not part
    of the gradient.
    """
    lg, labels, mask = shifted(logits, input_ids, loss_mask)
    margin, logp, p = token_terms(lg, labels)
    n_tok = mask.sum(-1).clamp_min(1.0)  # (B,); an example without loss tokens gets f = 0
    if kind == "margin":
        f = (margin * mask).sum(-1)
        q = ((1.0 - p.detach()) * mask).sum(-1) / n_tok
    elif kind == "logprob":
        f = (logp * mask).sum(-1) / n_tok
        q = torch.ones_like(f).detach()
    else:
        check_output_kind(kind)
        raise AssertionError("unreachable")
    return f, q


def mean_token_logprob(
    logits: torch.Tensor, input_ids: torch.Tensor, loss_mask: torch.Tensor
) -> torch.Tensor:
    """Mean log-prob of the loss-carrying tokens per sequence (evaluation metric). -> (B,)."""
    lg, labels, mask = shifted(logits, input_ids, loss_mask)
    logp = torch.log_softmax(lg, dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return (logp * mask).sum(-1) / mask.sum(-1).clamp_min(1.0)
