"""Jobs (progress, rate, ETA, cancel requests), exports and the per-pool exclusion list."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from data_catalog.catalog.connection import CatalogBase, _json, _now
from data_catalog.errors import NotFoundError


class JobStore(CatalogBase):
    """Jobs (progress, rate, ETA, cancel requests), exports and the per-pool exclusion list."""

    def create_job(self, kind: str, params: dict[str, Any]) -> str:
        job_id = f"job-{uuid.uuid4().hex[:12]}"
        now = _now()
        with self.connect() as con:
            con.execute(
                "INSERT INTO jobs (job_id, kind, status, params, pid, created_at, updated_at) "
                "VALUES (?, ?, 'queued', ?, ?, ?, ?)",
                [job_id, kind, _json(params), os.getpid(), now, now],
            )
        return job_id

    def update_job(
        self,
        job_id: str,
        *,
        status: str | None = None,
        done: int | None = None,
        total: int | None = None,
        rate: float | None = None,
        eta_s: float | None = None,
        message: str | None = None,
        error: str | None = None,
    ) -> bool:
        """Update a job's progress; returns whether a cancel was requested for it."""
        finished = status in ("done", "failed", "cancelled")
        with self.connect() as con:
            con.execute(
                """
                UPDATE jobs SET
                    status = coalesce(?, status), done = coalesce(?, done),
                    total = coalesce(?, total), rate = coalesce(?, rate), eta_s = ?,
                    message = coalesce(?, message), error = coalesce(?, error),
                    updated_at = ?, finished_at = CASE WHEN ? THEN ? ELSE finished_at END,
                    pid = coalesce(pid, ?)
                WHERE job_id = ?
                """,
                [
                    status,
                    done,
                    total,
                    rate,
                    eta_s,
                    message,
                    error,
                    _now(),
                    finished,
                    _now(),
                    os.getpid(),
                    job_id,
                ],
            )
            row = con.execute(
                "SELECT cancel_requested FROM jobs WHERE job_id = ?", [job_id]
            ).fetchone()
        return bool(row and row[0])

    def request_cancel(self, job_id: str) -> None:
        with self.connect() as con:
            con.execute("UPDATE jobs SET cancel_requested = TRUE WHERE job_id = ?", [job_id])

    def get_job(self, job_id: str) -> dict[str, Any]:
        df = self.query_df("SELECT * FROM jobs WHERE job_id = ?", [job_id])
        if df.empty:
            raise NotFoundError(f"job {job_id!r} not found")
        job = df.iloc[0].to_dict()
        job["params"] = json.loads(job["params"])
        return job

    def list_jobs(self, limit: int = 100) -> pd.DataFrame:
        return self.query_df("SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", [limit])

    def record_export(
        self, selection_id: str, fmt: str, path: Path, sha256: str, n_rows: int, manifest: dict
    ) -> str:
        export_id = f"exp-{uuid.uuid4().hex[:12]}"
        with self.connect() as con:
            con.execute(
                "INSERT INTO exports VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [export_id, selection_id, fmt, str(path), sha256, n_rows, _json(manifest), _now()],
            )
        return export_id

    def list_exports(self) -> pd.DataFrame:
        return self.query_df("SELECT * FROM exports ORDER BY created_at DESC")

    def add_exclusions(self, pool_id: str, doc_ids: Sequence[str], reason: str) -> int:
        frame = pd.DataFrame({"doc_id": list(dict.fromkeys(doc_ids))})
        with self.transaction() as con:
            con.register("excl_frame", frame)
            before = con.execute(
                "SELECT count(*) FROM exclusions WHERE pool_id = ?", [pool_id]
            ).fetchone()[0]
            con.execute(
                "INSERT INTO exclusions SELECT ?, f.doc_id, ?, ? FROM excl_frame f "
                "JOIN documents d ON d.pool_id = ? AND d.doc_id = f.doc_id "
                "ON CONFLICT DO NOTHING",
                [pool_id, reason, _now(), pool_id],
            )
            after = con.execute(
                "SELECT count(*) FROM exclusions WHERE pool_id = ?", [pool_id]
            ).fetchone()[0]
        return int(after - before)

    def exclusions(self, pool_id: str) -> list[str]:
        with self.connect() as con:
            rows = con.execute(
                "SELECT doc_id FROM exclusions WHERE pool_id = ? ORDER BY doc_id", [pool_id]
            ).fetchall()
        return [r[0] for r in rows]
