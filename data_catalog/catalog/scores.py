"""Per-document scores of a (run, target task), with z-scores and percentiles."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from data_catalog import ranks
from data_catalog.catalog.connection import CatalogBase


def _finite(name: str, values: np.ndarray, n: int) -> np.ndarray:
    arr = np.asarray(values, dtype="float64")
    if arr.shape != (n,):
        raise ValueError(f"{n} doc ids but {name} has shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contain NaN or infinite values")
    return arr


class ScoresMixin(CatalogBase):
    """Scores per (run, task, document)."""

    def save_scores(
        self,
        run_id: str,
        task_id: str,
        pool_id: str,
        doc_ids: Sequence[str],
        scores: np.ndarray,
        *,
        zscores: np.ndarray | None = None,
        percentiles: np.ndarray | None = None,
    ) -> None:
        """Replace the scores of (run, task) with these, plus z-scores and percentiles.

        The engine may pass its own `zscores` / `percentiles` (one per score); when absent they
        are computed with the one definition in `data_catalog.ranks`.
        """
        s = _finite("scores", scores, len(doc_ids))
        z = ranks.zscores(s) if zscores is None else _finite("zscores", zscores, len(s))
        if percentiles is None:
            pct = ranks.percentiles(s)
        else:
            pct = _finite("percentiles", percentiles, len(s))
        frame = pd.DataFrame(
            {
                "run_id": run_id,
                "task_id": task_id,
                "pool_id": pool_id,
                "doc_id": list(doc_ids),
                "score": s,
                "zscore": z,
                "percentile": pct,
            }
        )
        with self.transaction() as con:
            con.execute("DELETE FROM scores WHERE run_id = ? AND task_id = ?", [run_id, task_id])
            con.register("score_frame", frame)
            con.execute("INSERT INTO scores SELECT * FROM score_frame")

    def scores(self, run_id: str, task_id: str) -> pd.DataFrame:
        """All scores of (run, task) in pool order: doc_id, score, zscore, percentile."""
        return self.query_df(
            "SELECT s.doc_id, s.score, s.zscore, s.percentile FROM scores s "
            "JOIN documents d ON d.pool_id = s.pool_id AND d.doc_id = s.doc_id "
            "WHERE s.run_id = ? AND s.task_id = ? ORDER BY d.row_idx",
            [run_id, task_id],
        )
