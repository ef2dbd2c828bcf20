"""DsDm selector: applies the selection rules to a precomputed per-document score vector.

The scores come from the datamodel scoring stage (elsewhere in `dsdm_engine`), aligned with the
pool rows, oriented as the project's convention: score = −w, positive = predicted to lower the
target loss, higher is better. Top-k of these scores minimises the linear datamodel's predicted
target loss. The target texts are not needed here: they are already in the scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dsdm_engine.selectors.base import CatalogInputs, PoolView, Scored, Selector


class DsdmSelector(Selector):
    """Top-k (or any rule) over given DsDm scores."""

    name = "dsdm"
    needs_target = False
    needs_texts = False

    @classmethod
    def from_catalog(cls, inputs: CatalogInputs) -> tuple[Selector, dict[str, Any]]:
        scores, used = inputs.mix_scores()  # the target's (or mix's) stored DsDm z-scores
        return cls(scores=scores, score_ids=inputs.pool_ids), {"targets": used}

    def __init__(self, scores: np.ndarray, score_ids: Sequence[str] | None = None) -> None:
        """`scores[i]` belongs to pool row i; pass `score_ids` to check that alignment."""
        arr = np.asarray(scores, dtype=np.float64)
        if arr.ndim != 1:
            raise ValueError(f"dsdm scores must be a vector, got shape {arr.shape}")
        if np.isnan(arr).any():
            raise ValueError(f"dsdm scores contain {int(np.isnan(arr).sum())} NaN values")
        if score_ids is not None and len(score_ids) != arr.size:
            raise ValueError(f"{len(score_ids)} score_ids for {arr.size} scores")
        self.scores = arr
        self.score_ids = None if score_ids is None else tuple(score_ids)

    def params(self) -> dict[str, Any]:
        return {"n_scores": int(self.scores.size)}

    def score(self, pool: PoolView, target: Sequence[str], seed: int) -> Scored:
        if self.scores.size != len(pool):
            raise ValueError(
                f"dsdm scores have {self.scores.size} entries but the pool has {len(pool)} rows"
            )
        if self.score_ids is not None and tuple(pool.ids) != self.score_ids:
            raise ValueError("dsdm scores are not aligned with the pool ids (order or content)")
        return Scored(self.scores)
