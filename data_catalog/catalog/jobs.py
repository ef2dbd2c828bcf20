"""Jobs: progress, cancel requests and outcome of long-running work, shared across processes.

Liveness: a job row records its process (pid, start time, host) and a heartbeat (`heartbeat_at`,
refreshed by every progress write and by `heartbeat`). A `queued`/`running` row reads as `died`
when its process is gone (pid not alive, or a different process under a reused pid), which is
also written back, or when its heartbeat is older than `HEARTBEAT_LIMIT_S` (read only: the
process may still come back). Its last progress and message stay as they were.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime
from typing import Any

import pandas as pd

from data_catalog.catalog.connection import CatalogBase, now, to_json
from data_catalog.errors import InputError, NotFoundError
from data_catalog.procs import host_name, process_alive, process_start
from data_catalog.records import Job

LIVE = ("queued", "running")
FINISHED = ("done", "failed", "cancelled", "died")
HEARTBEAT_LIMIT_S = 120.0  # generous: a running job beats every ~10 s


def _stamp(value: Any) -> datetime | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    return pd.Timestamp(value).to_pydatetime()


def death(row: dict[str, Any], host: str | None = None) -> tuple[str | None, bool]:
    """Why a live-status row is dead (None if it is not), and whether that is certain.

    Certain: its process is gone (checked only on the host that recorded it). Uncertain: no
    heartbeat for longer than `HEARTBEAT_LIMIT_S`.
    """
    if row.get("status") not in LIVE:
        return None, False
    if row.get("host") in (None, host or host_name()):
        if process_alive(row.get("pid"), row.get("pid_start")) is False:
            return f"died: process {row['pid']} is gone", True
    beat = _stamp(row.get("heartbeat_at")) or _stamp(row.get("updated_at"))
    if beat is not None and (now() - beat).total_seconds() > HEARTBEAT_LIMIT_S:
        return f"died: no heartbeat for {(now() - beat).total_seconds():.0f} s", False
    return None, False


class JobsMixin(CatalogBase):
    """Jobs and their progress."""

    def create_job(self, kind: str, params: dict[str, Any]) -> str:
        job_id = f"job-{uuid.uuid4().hex[:12]}"
        stamp = now()
        with self.connect() as con:
            con.execute(
                "INSERT INTO jobs (job_id, kind, status, params, pid, pid_start, host, created_at, "
                "updated_at, heartbeat_at) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
                [job_id, kind, to_json(params), os.getpid(), process_start(), host_name()]
                + [stamp] * 3,
            )
        return job_id

    def start_job(self, job_id: str, message: str = "started") -> None:
        """Mark a job running in this process (its pid, start time and host; a fresh heartbeat)."""
        with self.connect() as con:
            con.execute(
                "UPDATE jobs SET status = 'running', message = ?, pid = ?, pid_start = ?, "
                "host = ?, updated_at = ?, heartbeat_at = ? WHERE job_id = ?",
                [message, os.getpid(), process_start(), host_name(), now(), now(), job_id],
            )

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
        """Update a job's progress (and heartbeat); returns whether a cancel was requested."""
        finished = status in FINISHED
        stamp = now()
        with self.connect() as con:
            con.execute(
                """
                UPDATE jobs SET
                    status = coalesce(?, status), done = coalesce(?, done),
                    total = coalesce(?, total), rate = coalesce(?, rate), eta_s = ?,
                    message = coalesce(?, message), error = coalesce(?, error),
                    updated_at = ?, heartbeat_at = ?,
                    finished_at = CASE WHEN ? THEN ? WHEN ? = 'running' THEN NULL
                                       ELSE finished_at END,
                    pid = coalesce(pid, ?)
                WHERE job_id = ?
                """,
                [status, done, total, rate, eta_s, message, error, stamp, stamp]
                + [finished, stamp, status, os.getpid(), job_id],
            )
            row = con.execute(
                "SELECT cancel_requested FROM jobs WHERE job_id = ?", [job_id]
            ).fetchone()
        return bool(row and row[0])

    def heartbeat(self, job_id: str) -> None:
        """Refresh a live job's heartbeat (its process is alive and working)."""
        with self.connect() as con:
            con.execute(
                "UPDATE jobs SET heartbeat_at = ? WHERE job_id = ? AND status IN ('queued', "
                "'running')",
                [now(), job_id],
            )

    def request_cancel(self, job_id: str) -> str:
        """Ask a live job to stop; returns its state as read. A finished job is left unchanged."""
        state = self.job(job_id).status
        if state in LIVE:
            with self.connect() as con:
                con.execute(
                    "UPDATE jobs SET cancel_requested = TRUE "
                    "WHERE job_id = ? AND status IN ('queued', 'running')",
                    [job_id],
                )
        return state

    def _mark_died(self, rows: list[tuple[str, str, str | None]]) -> None:
        """Write `died` for (job_id, why, new message or None) rows still live or died."""
        if not rows:
            return
        with self.connect() as con:
            for job_id, why, message in rows:
                con.execute(
                    "UPDATE jobs SET status = 'died', error = coalesce(error, ?), "
                    "message = coalesce(?, message), finished_at = coalesce(finished_at, ?) "
                    "WHERE job_id = ? AND status IN ('queued', 'running', 'died')",
                    [why, message, now(), job_id],
                )

    def _as_read(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows with live-but-dead ones turned `died`; certain deaths are written back."""
        out, certain, host = [], [], host_name()
        for row in rows:
            why, sure = death(row, host)
            if why is not None:
                error = row.get("error")  # NaN for NULL in a DataFrame row
                row = {**row, "status": "died", "error": error if isinstance(error, str) else why}
                if sure:
                    certain.append((row["job_id"], why, None))
            out.append(row)
        self._mark_died(certain)
        return out

    def job(self, job_id: str) -> Job:
        rows = self.query_dicts("SELECT * FROM jobs WHERE job_id = ?", [job_id])
        if not rows:
            raise NotFoundError(f"job {job_id!r} not found")
        row = self._as_read(rows)[0]
        return Job(**{**row, "params": json.loads(row["params"])})

    def get_job(self, job_id: str) -> dict[str, Any]:
        """`job(job_id)` as a dict."""
        return self.job(job_id).as_dict()

    def list_jobs(self, limit: int = 100) -> pd.DataFrame:
        """The newest `limit` jobs, statuses as read (`died` where the process is gone)."""
        if int(limit) < 1:
            raise InputError(f"limit must be at least 1 (got {limit})")
        df = self.query_df("SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", [int(limit)])
        live = df.index[df["status"].isin(LIVE)]
        if len(live):
            rows = self._as_read([df.loc[i].to_dict() for i in live])
            for i, row in zip(live, rows, strict=True):
                df.loc[i, ["status", "error"]] = [row["status"], row["error"]]
        return df

    def supersede_jobs(self, kind: str, params: dict[str, Any], job_id: str) -> list[str]:
        """Mark older jobs of the same kind and params that read `died` (or are `died`) as
        "superseded by `job_id`"; returns their ids. Live ones (another real run) stay."""
        rows = self.query_dicts(
            "SELECT * FROM jobs WHERE kind = ? AND job_id <> ? "
            "AND status IN ('queued', 'running', 'died')",
            [kind, job_id],
        )
        same = json.loads(to_json(params))
        stale = []
        for row in rows:
            if json.loads(row["params"]) != same or row["message"].startswith("superseded by"):
                continue
            why, _ = death(row)
            if row["status"] == "died" or why is not None:
                stale.append((row["job_id"], why or "died", f"superseded by {job_id}"))
        self._mark_died(stale)
        return [row[0] for row in stale]
