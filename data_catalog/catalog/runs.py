"""Runs (one row per frozen config, with its artifact folder) and evaluations of selections.

A run's id is `<kind>-<config_hash[:12]>`: re-running the same frozen config reuses the row and
its folder (resuming whatever finished). `begin_run` is the one way the engine should start one:
it records the run, makes its folder via the layout, and records how it ended. Artifact paths are
stored relative to the workspace and come back absolute in the current workspace.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from data_catalog import sql
from data_catalog.catalog.connection import CatalogBase, config_hash, now, to_json
from data_catalog.errors import InputError, NotFoundError
from data_catalog.records import Run

RUN_STATUSES = ("running", "done", "failed", "cancelled")
_RUN_COLS = (
    "run_id, kind, pool_id, task_id, config, config_hash, status, artifact_path, created_at, "
    "finished_at"
)


def ended_status(exc: BaseException) -> str:
    """`cancelled` for Ctrl-C or any exception class named `Cancelled` (the engine's), else
    `failed`."""
    cancelled = isinstance(exc, KeyboardInterrupt) or any(
        c.__name__ == "Cancelled" for c in type(exc).__mro__
    )
    return "cancelled" if cancelled else "failed"


def runs_filter_sql(
    kind: str | None = None,
    *,
    pool_id: str | None = None,
    task_id: str | None = None,
    status: str | None = None,
) -> tuple[str, list[Any]]:
    """The WHERE clause (or "") and its parameters for `Catalog.runs` filters."""
    if status is not None and status not in RUN_STATUSES:
        raise InputError(f"run status must be one of {', '.join(RUN_STATUSES)}, not {status!r}")
    return sql.where(
        [
            ("kind = ?", kind),
            ("pool_id = ?", pool_id),
            ("task_id = ?", task_id),
            ("status = ?", status),
        ]
    )


@contextmanager
def run_lock(folder: Path | None, run_id: str) -> Iterator[None]:
    """Hold an exclusive lock on a run's folder, so two identical stages never write the same
    shards at once: the second waits (saying so), then resumes the finished work. The OS drops
    the lock when its process dies, killed or not."""
    if folder is None or not folder.is_dir():
        yield
        return
    import fcntl
    import sys

    with open(folder / ".lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting: another process is running {run_id}", file=sys.stderr, flush=True)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class RunsMixin(CatalogBase):
    """Runs and evaluations."""

    def _stored_path(self, path: str | os.PathLike[str] | None) -> str | None:
        return None if path in (None, "") else self.layout.rel(path)

    def create_run(
        self,
        kind: str,
        config: dict[str, Any],
        config_hash: str,
        *,
        pool_id: str | None = None,
        task_id: str | None = None,
        artifact_path: str | os.PathLike[str] | None = None,
        run_id: str | None = None,
    ) -> str:
        """Record a run unless it exists (then nothing changes); `artifact_path` may be
        absolute or relative and is stored relative to the workspace."""
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
                        to_json(config),
                        config_hash,
                        self._stored_path(artifact_path),
                        now(),
                    ],
                )
        return run_id

    @contextmanager
    def begin_run(
        self,
        kind: str,
        frozen: dict[str, Any],
        *,
        pool_id: str | None = None,
        task_id: str | None = None,
        with_dir: bool = True,
        run_id: str | None = None,
        artifact_path: str | os.PathLike[str] | None = None,
    ) -> Iterator[Run]:
        """Start (or resume) the run of `frozen`: yields its `Run`, then marks it done, or
        failed / cancelled when the body raises (the exception propagates).

        The id is `<kind>-<config_hash(frozen)[:12]>` unless `run_id` is given. With
        `with_dir` the run folder `runs/<run_id>` is created and recorded; otherwise
        `artifact_path` (a file such as a map layout, or None) is recorded.
        """
        h = config_hash(frozen)
        run_id = run_id or f"{kind}-{h[:12]}"
        art: Path | None = self.layout.run_dir(run_id) if with_dir else None
        if art is not None:
            art.mkdir(parents=True, exist_ok=True)
        elif artifact_path not in (None, ""):
            art = Path(artifact_path)
        stored = self._stored_path(art)
        with run_lock(art, run_id):
            yield from self._run_body(kind, frozen, h, run_id, stored, pool_id, task_id)

    def _run_body(
        self,
        kind: str,
        frozen: dict[str, Any],
        h: str,
        run_id: str,
        stored: str | None,
        pool_id: str | None,
        task_id: str | None,
    ) -> Iterator[Run]:
        with self.transaction() as con:
            if con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone():
                con.execute(
                    "UPDATE runs SET status = 'running', finished_at = NULL, config = ?, "
                    "config_hash = ?, artifact_path = coalesce(?, artifact_path) WHERE run_id = ?",
                    [to_json(frozen), h, stored, run_id],
                )
            else:
                con.execute(
                    "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, NULL)",
                    [run_id, kind, pool_id, task_id, to_json(frozen), h, stored, now()],
                )
        try:
            yield self.run(run_id)
        except BaseException as exc:
            self.set_run_status(run_id, ended_status(exc))
            raise
        self.set_run_status(run_id, "done")

    def set_run_status(self, run_id: str, status: str) -> None:
        if status not in RUN_STATUSES:
            raise InputError(f"run status must be one of {', '.join(RUN_STATUSES)}, not {status!r}")
        finished = now() if status != "running" else None
        with self.connect() as con:
            con.execute(
                "UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?",
                [status, finished, run_id],
            )

    def _run(self, row: dict[str, Any]) -> Run:
        return Run(
            **{k: v for k, v in row.items() if k not in ("config", "artifact_path")},
            config=json.loads(row["config"]),
            artifact_dir=self.layout.resolve(row["artifact_path"]),
        )

    def runs(
        self,
        kind: str | None = None,
        *,
        pool_id: str | None = None,
        task_id: str | None = None,
        status: str | None = None,
    ) -> list[Run]:
        """Runs matching every filter given, oldest first."""
        where, params = runs_filter_sql(kind, pool_id=pool_id, task_id=task_id, status=status)
        sql = f"SELECT {_RUN_COLS} FROM runs {where} ORDER BY created_at, run_id"
        return [self._run(r) for r in self.query_dicts(sql, params)]

    def run(self, run_id: str) -> Run:
        rows = self.query_dicts(f"SELECT {_RUN_COLS} FROM runs WHERE run_id = ?", [run_id])
        if not rows:
            raise NotFoundError(f"run {run_id!r} not found")
        return self._run(rows[0])

    def get_run(self, run_id: str) -> dict[str, Any]:
        """`run(run_id)` as a dict; `artifact_path` is the absolute folder as a str."""
        return self.run(run_id).as_dict()

    def list_runs(self, kind: str | None = None) -> pd.DataFrame:
        """Runs as a table (config as JSON text, artifact_path absolute), oldest first."""
        where, params = runs_filter_sql(kind or None)
        df = self.query_df(f"SELECT * FROM runs {where} ORDER BY created_at, run_id", params)
        df["artifact_path"] = [
            None if p is None else str(self.layout.resolve(p))
            for p in df["artifact_path"].astype(object).where(df["artifact_path"].notna(), None)
        ]
        return df

    def set_run_artifact(self, run_id: str, artifact_path: str | os.PathLike[str]) -> None:
        """Point a run at its artifact folder once the folder is known (stored relative)."""
        with self.connect() as con:
            con.execute(
                "UPDATE runs SET artifact_path = ? WHERE run_id = ?",
                [self._stored_path(artifact_path), run_id],
            )

    def save_lds_results(self, run_id: str, results: pd.DataFrame) -> None:
        """Replace a validation run's LDS rows with `results` (one row per predictor/task/split)."""
        cols = ["predictor", "kind", "task_id", "split", "aggregate_lds", "ci_lo", "ci_hi"]
        cols += ["per_example_lds", "n_subsets"]
        missing = sorted(set(cols) - set(results.columns))
        if missing:
            raise InputError(f"LDS results lack columns {missing}")
        frame = results[cols].copy()
        frame.insert(0, "run_id", run_id)
        frame["created_at"] = now()
        with self.transaction() as con:
            con.execute("DELETE FROM lds_results WHERE run_id = ?", [run_id])
            con.register("lds_frame", frame)
            con.execute("INSERT INTO lds_results SELECT * FROM lds_frame")

    def lds_results(self, task_id: str | None = None, run_id: str | None = None) -> pd.DataFrame:
        """LDS rows of finished validations (newest run first), optionally for one task/run."""
        return self.query_df(
            "SELECT l.* FROM lds_results l JOIN runs r USING (run_id) WHERE r.status = 'done'"
            " AND (? IS NULL OR l.task_id = ?) AND (? IS NULL OR l.run_id = ?)"
            " ORDER BY r.created_at DESC, l.task_id, l.split, l.aggregate_lds DESC",
            [task_id, task_id, run_id, run_id],
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
                    to_json(config),
                    now(),
                ],
            )
        return eval_id

    def list_evaluations(self, task_id: str | None = None) -> pd.DataFrame:
        sql = "SELECT e.*, s.method FROM evaluations e JOIN selections s USING (selection_id)"
        if task_id:
            return self.query_df(sql + " WHERE e.task_id = ? ORDER BY e.created_at", [task_id])
        return self.query_df(sql + " ORDER BY e.created_at")
