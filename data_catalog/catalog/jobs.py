"""Jobs: progress, cancel requests and outcome of long-running work, shared across processes."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import pandas as pd

from data_catalog.catalog.connection import CatalogBase, now, to_json
from data_catalog.errors import NotFoundError
from data_catalog.records import Job


class JobsMixin(CatalogBase):
    """Jobs and their progress."""

    def create_job(self, kind: str, params: dict[str, Any]) -> str:
        job_id = f"job-{uuid.uuid4().hex[:12]}"
        stamp = now()
        with self.connect() as con:
            con.execute(
                "INSERT INTO jobs (job_id, kind, status, params, pid, created_at, updated_at) "
                "VALUES (?, ?, 'queued', ?, ?, ?, ?)",
                [job_id, kind, to_json(params), os.getpid(), stamp, stamp],
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
                    now(),
                    finished,
                    now(),
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

    def job(self, job_id: str) -> Job:
        rows = self.query_dicts("SELECT * FROM jobs WHERE job_id = ?", [job_id])
        if not rows:
            raise NotFoundError(f"job {job_id!r} not found")
        return Job(**{**rows[0], "params": json.loads(rows[0]["params"])})

    def get_job(self, job_id: str) -> dict[str, Any]:
        """`job(job_id)` as a dict."""
        return self.job(job_id).as_dict()

    def list_jobs(self, limit: int = 100) -> pd.DataFrame:
        return self.query_df("SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", [limit])
