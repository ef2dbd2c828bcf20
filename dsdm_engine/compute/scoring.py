"""Datamodel scores from pool and target features, exactly as the trak library computes them.

Per proxy model m (method.md §3)::

    A_m    = (Φ_mᵀ Φ_m + λ_m I)⁻¹ ;  A_m ← A_m / mean(|A_m|)          # trak's normalisation
    scores = [ (1/M) Σ_m Φ_m A_m φ_m(targets)ᵀ ] ⊙ [ (1/M) Σ_m Q_m ]    # (n, n_targets)

Sign: trak's score of training example i for target z estimates f(z; with i) − f(z; without i)
for a model output f oriented "higher = better" (margin / log-prob), i.e. a positive score means
including i raises the target's output = lowers its loss. With DsDm's datamodel weight w (the
predicted change of target *loss*), that is exactly ``score = −w``: we return trak's orientation
unchanged. Positive = predicted to help the target; negative = predicted to hurt it.

A task score needs only the mean target feature: ``(1/M) Σ_m Φ_m (A_m φ̄_m) ⊙ Q̄`` (one mat-vec
over the pool per model). Pool features may be memmaps; they are streamed in row blocks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Rows per block wherever a feature store is streamed (scoring, Gram, window sums): 8,192 rows
# at k = 4,096 are 128 MB of float32 (256 MB as float64) whatever the pool size. (65,536 made
# every such block 1-2 GB, and a pool of fewer rows was read whole: RSS grew with the pool.)
BLOCK_ROWS = 8_192


@dataclass(frozen=True)
class PoolModel:
    """One proxy's pool featurisation, ready to score: Φ (n, k), Q (n,), A (k, k).

    ``a is None`` is the λ → ∞ limit, where ``A / mean|A| = k·I`` (a Q-weighted gradient dot
    product); it needs no k × k matrix, so k can be large.
    """

    phi: np.ndarray
    q: np.ndarray
    a: np.ndarray | None
    lambda_reg: float

    def precondition(self, v: np.ndarray) -> np.ndarray:
        """A v for v (k,) or (k, c)."""
        return self.phi.shape[1] * v if self.a is None else self.a @ v


def gram(phi: np.ndarray) -> np.ndarray:
    """ΦᵀΦ (k, k), accumulated in float64 over row blocks."""
    k = phi.shape[1]
    out = np.zeros((k, k), dtype=np.float64)
    for s in range(0, phi.shape[0], BLOCK_ROWS):
        blk = np.asarray(phi[s : s + BLOCK_ROWS], dtype=np.float64)
        out += blk.T @ blk
    return out


def relative_lambda(xtx: np.ndarray, lambda_rel: float) -> float:
    """λ as a multiple of the mean eigenvalue of ΦᵀΦ: ``lambda_rel · tr(ΦᵀΦ) / k``."""
    return float(lambda_rel * np.trace(xtx) / xtx.shape[0])


def preconditioner(xtx: np.ndarray, lambda_reg: float) -> np.ndarray:
    """A = (ΦᵀΦ + λI)⁻¹ / mean(|·|), float64. (k, k)."""
    a = np.linalg.inv(xtx + lambda_reg * np.eye(xtx.shape[0]))
    return a / np.abs(a).mean()


def fit_pool_model(
    phi: np.ndarray,
    q: np.ndarray,
    lambda_rel: float = math.inf,
    lambda_reg: float | None = None,
) -> PoolModel:
    """Precompute A for one proxy's pool features.

    λ is ``lambda_rel · tr(ΦᵀΦ)/k`` (scale-free; ``inf`` = the dot-product limit, the default)
    unless an absolute ``lambda_reg`` is given (trak's ``lambda_reg``). The engine's default
    λ lives in `configs.ScoreConfig`.
    """
    q = np.asarray(q, dtype=np.float64)
    if lambda_reg is None and math.isinf(lambda_rel):
        return PoolModel(phi=phi, q=q, a=None, lambda_reg=math.inf)
    xtx = gram(phi)
    lam = float(lambda_reg) if lambda_reg is not None else relative_lambda(xtx, lambda_rel)
    return PoolModel(phi=phi, q=q, a=preconditioner(xtx, lam), lambda_reg=lam)


def _check(pool: Sequence[PoolModel], targets: Sequence[np.ndarray]) -> None:
    if len(pool) == 0 or len(pool) != len(targets):
        raise ValueError(f"need one target feature array per model: {len(pool)} vs {len(targets)}")
    n = pool[0].phi.shape[0]
    for pm, t in zip(pool, targets, strict=True):
        if pm.phi.shape[0] != n or t.shape[-1] != pm.phi.shape[1]:
            raise ValueError("pool sizes must agree across models and k must match targets")


def _apply(pool: Sequence[PoolModel], vecs: Sequence[np.ndarray]) -> np.ndarray:
    """(1/M) Σ_m Φ_m A_m v_m  ⊙ mean Q. v_m: (k,) or (k, c) -> (n,) or (n, c)."""
    n = pool[0].phi.shape[0]
    qbar = np.mean([pm.q for pm in pool], axis=0)  # (n,)
    out = np.zeros((n,) + vecs[0].shape[1:], dtype=np.float64)
    for pm, v in zip(pool, vecs, strict=True):
        # The pool side stays float32 (the features' dtype): converting Φ to float64 block by
        # block would cost more than the mat-vec itself; sums accumulate in float64.
        av = pm.precondition(v).astype(np.float32)  # (k,) or (k, c)
        if hasattr(pm.phi, "matmul"):  # a float16 store streams itself (`RowScaled.matmul`)
            out += pm.phi.matmul(av)
            continue
        for s in range(0, n, BLOCK_ROWS):
            out[s : s + BLOCK_ROWS] += np.asarray(pm.phi[s : s + BLOCK_ROWS], np.float32) @ av
    out /= len(pool)
    return out * (qbar if out.ndim == 1 else qbar[:, None])


def task_scores(pool: Sequence[PoolModel], targets: Sequence[np.ndarray]) -> np.ndarray:
    """One score per pool document for a target task: the mean over its examples. -> (n,).

    `targets[m]` is model m's target features (n_targets, k). Equals
    ``example_scores(...).mean(axis=1)`` at the cost of one mat-vec per model.
    """
    _check(pool, targets)
    return _apply(pool, [np.asarray(t, np.float64).mean(axis=0) for t in targets])


def example_scores(pool: Sequence[PoolModel], targets: Sequence[np.ndarray]) -> np.ndarray:
    """Per-target-example scores (n, n_targets): for drill-down (which examples a doc helps)."""
    _check(pool, targets)
    return _apply(pool, [np.asarray(t, np.float64).T for t in targets])


def top_overlap(a: np.ndarray, b: np.ndarray, frac: float = 0.01) -> float:
    """|top-frac(a) ∩ top-frac(b)| / |top-frac| (highest scores)."""
    k = max(1, int(round(frac * len(a))))
    ta = set(np.argsort(-np.asarray(a), kind="stable")[:k].tolist())
    tb = set(np.argsort(-np.asarray(b), kind="stable")[:k].tolist())
    return len(ta & tb) / k
