"""Runs (frozen config + hash + status + artifact folder) and what they produce: per-document
scores, evaluations, and LDS results of validations."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from data_catalog.catalog.connection import CatalogBase, _json, _now
from data_catalog.errors import NotFoundError


class RunStore(CatalogBase):
    """Runs (frozen config + hash + status + artifact folder) and what they produce: per-document"""

    def create_run(
        self,
        kind: str,
        config: dict[str, Any],
        config_hash: str,
        *,
        pool_id: str | None = None,
        task_id: str | None = None,
        artifact_path: str | None = None,
        run_id: str | None = None,
    ) -> str:
        run_id = run_id or f"{kind}-{config_hash[:12]}"
        with self.transaction() as con:
            existing = con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone()
            if not existing:
                con.execute(
                    "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, NULL)",
                    [
                        run_id,
                        kind,
                        pool_id,
                        task_id,
                        _json(config),
                        config_hash,
                        artifact_path,
                        _now(),
                    ],
                )
        return run_id

    def set_run_status(self, run_id: str, status: str) -> None:
        finished = _now() if status in ("done", "failed", "cancelled") else None
        with self.connect() as con:
            con.execute(
                "UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?",
                [status, finished, run_id],
            )

    def set_run_artifact(self, run_id: str, artifact_path: str) -> None:
        """Point a run at its artifact folder once the folder is known."""
        with self.connect() as con:
            con.execute(
                "UPDATE runs SET artifact_path = ? WHERE run_id = ?", [artifact_path, run_id]
            )

    def get_run(self, run_id: str) -> dict[str, Any]:
        df = self.query_df("SELECT * FROM runs WHERE run_id = ?", [run_id])
        if df.empty:
            raise NotFoundError(f"run {run_id!r} not found")
        run = df.iloc[0].to_dict()
        run["config"] = json.loads(run["config"])
        return run

    def list_runs(self, kind: str | None = None) -> pd.DataFrame:
        if kind:
            return self.query_df("SELECT * FROM runs WHERE kind = ? ORDER BY created_at", [kind])
        return self.query_df("SELECT * FROM runs ORDER BY created_at")

    def save_scores(
        self,
        run_id: str,
        task_id: str,
        pool_id: str,
        doc_ids: Sequence[str],
        scores: np.ndarray,
    ) -> None:
        """Replace the scores of (run, task) with these, plus z-scores and percentiles."""
        s = np.asarray(scores, dtype="float64")
        if len(s) != len(doc_ids):
            raise ValueError(f"{len(doc_ids)} doc ids but {len(s)} scores")
        if not np.all(np.isfinite(s)):
            raise ValueError("scores contain NaN or infinite values")
        std = s.std()
        z = (s - s.mean()) / std if std > 0 else np.zeros_like(s)
        ranks = pd.Series(s).rank(method="average").to_numpy()
        pct = 100.0 * (ranks - 0.5) / len(s) if len(s) else ranks
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

    def save_evaluation(
        self,
        selection_id: str,
        task_id: str,
        budget_tokens: int,
        seed: int,
        heldout_loss: float,
        config: dict[str, Any],
    ) -> str:
        eval_id = f"eval-{uuid.uuid4().hex[:12]}"
        with self.connect() as con:
            con.execute(
                "INSERT INTO evaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    eval_id,
                    selection_id,
                    task_id,
                    int(budget_tokens),
                    int(seed),
                    float(heldout_loss),
                    _json(config),
                    _now(),
                ],
            )
        return eval_id

    def list_evaluations(self, task_id: str | None = None) -> pd.DataFrame:
        sql = "SELECT e.*, s.method FROM evaluations e JOIN selections s USING (selection_id)"
        if task_id:
            return self.query_df(sql + " WHERE e.task_id = ? ORDER BY e.created_at", [task_id])
        return self.query_df(sql + " ORDER BY e.created_at")

    def save_lds_results(self, run_id: str, results: pd.DataFrame) -> None:
        """Replace a validation run's LDS rows with `results` (one row per predictor/task/split)."""
        cols = ["predictor", "kind", "task_id", "split", "aggregate_lds", "ci_lo", "ci_hi"]
        cols += ["per_example_lds", "n_subsets"]
        missing = sorted(set(cols) - set(results.columns))
        if missing:
            raise ValueError(f"LDS results lack columns {missing}")
        frame = results[cols].copy()
        frame.insert(0, "run_id", run_id)
        frame["created_at"] = _now()
        with self.transaction() as con:
            con.execute("DELETE FROM lds_results WHERE run_id = ?", [run_id])
            con.register("lds_frame", frame)
            con.execute("INSERT INTO lds_results SELECT * FROM lds_frame")

    def lds_results(self, task_id: str | None = None, run_id: str | None = None) -> pd.DataFrame:
        """LDS rows of finished validations (newest run first), optionally for one task/run."""
        sql = (
            "SELECT l.* FROM lds_results l JOIN runs r USING (run_id) WHERE r.status = 'done'"
            " AND (? IS NULL OR l.task_id = ?) AND (? IS NULL OR l.run_id = ?)"
            " ORDER BY r.created_at DESC, l.task_id, l.split, l.aggregate_lds DESC"
        )
        return self.query_df(sql, [task_id, task_id, run_id, run_id])
