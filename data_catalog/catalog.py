"""The `Catalog` façade: the only code that talks to DuckDB.

Connections are short-lived (open, work, close) and retried with backoff while another process
holds the file lock, so the app can read while a CLI job writes. Every SQL value is a bound
parameter; bulk rows go in from DataFrames or staged Parquet, never row by row.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from data_catalog.errors import CatalogError, InputError, NotFoundError
from data_catalog.records import Selection, TargetExample
from data_catalog.schema import LATEST_VERSION, MIGRATIONS
from data_catalog.workspace import Workspace

_LOCK_MARKERS = ("Could not set lock", "Conflicting lock", "database is locked")
POOL_ID_CHARS = "letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def validate_pool_id(pool_id: str) -> str:
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", pool_id or ""):
        raise InputError(f"pool name {pool_id!r} is not valid: use {POOL_ID_CHARS}")
    return pool_id


class Catalog:
    """Typed access to one workspace's `catalog.duckdb`. Holds no open connection between calls."""

    def __init__(self, workspace: Workspace, lock_timeout_s: float | None = None) -> None:
        self.workspace = workspace
        self.path = workspace.catalog_path
        env_timeout = os.environ.get("DSDM_LOCK_TIMEOUT")
        self.lock_timeout_s = float(
            lock_timeout_s if lock_timeout_s is not None else (env_timeout or 60.0)
        )
        self._migrate()

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> Catalog:
        """Open (creating and migrating as needed) the workspace at `path` (see Workspace)."""
        return cls(Workspace.open(path))

    # ---------------------------------------------------------------- connections
    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection; retries with jittered backoff while another process writes."""
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.02
        while True:
            try:
                con = duckdb.connect(
                    str(self.path),
                    config={
                        "memory_limit": os.environ.get("DSDM_DUCKDB_MEMORY", "256MB"),
                        "temp_directory": str(self.workspace.tmp / "duckdb_spill"),
                        "threads": 2,
                    },
                )
                break
            except duckdb.Error as exc:  # lock held by another process
                if not any(m in str(exc) for m in _LOCK_MARKERS):
                    raise CatalogError(f"cannot open catalog {self.path}: {exc}") from exc
                if time.monotonic() > deadline:
                    raise CatalogError(
                        f"catalog {self.path} stayed locked by another process for "
                        f"{self.lock_timeout_s:.0f} s; try again when its job has finished"
                    ) from exc
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside BEGIN/COMMIT; any exception rolls everything back."""
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def _query_df(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        with self.connect() as con:
            return con.execute(sql, list(params)).df()

    def _query_one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        with self.connect() as con:
            return con.execute(sql, list(params)).fetchone()

    # ---------------------------------------------------------------- schema
    def _migrate(self) -> None:
        with self.connect() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER NOT NULL, applied_at TIMESTAMP NOT NULL)"
            )
            row = con.execute("SELECT max(version) FROM schema_version").fetchone()
            current = row[0] or 0
            if current > LATEST_VERSION:
                raise CatalogError(
                    f"workspace {self.workspace.root} has catalog schema version {current}, but "
                    f"this DsDm Studio supports up to version {LATEST_VERSION}: upgrade "
                    "dsdm-studio to open it (nothing was changed)"
                )
            for version in sorted(v for v in MIGRATIONS if v > current):
                con.execute("BEGIN TRANSACTION")
                try:
                    for stmt in MIGRATIONS[version]:
                        con.execute(stmt)
                    con.execute("INSERT INTO schema_version VALUES (?, ?)", [version, _now()])
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")

    def schema_version(self) -> int:
        row = self._query_one("SELECT max(version) FROM schema_version")
        return int(row[0])

    def info(self) -> dict[str, Any]:
        """Counts of everything in the workspace, for `dsdm workspace info` and the app."""
        tables = [
            "pools",
            "documents",
            "target_tasks",
            "runs",
            "scores",
            "selections",
            "evaluations",
            "jobs",
            "exports",
            "lds_results",
        ]
        with self.connect() as con:
            counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
        size = self.path.stat().st_size if self.path.exists() else 0
        return {
            "workspace": str(self.workspace.root),
            "catalog": str(self.path),
            "schema_version": self.schema_version(),
            "catalog_bytes": size,
            "counts": counts,
        }

    # ---------------------------------------------------------------- pools and documents
    def pool_exists(self, pool_id: str) -> bool:
        return self._query_one("SELECT 1 FROM pools WHERE pool_id = ?", [pool_id]) is not None

    def commit_staged_pool(
        self, pool_id: str, staged_parquet_glob: str, params: dict[str, Any], append: bool
    ) -> dict[str, int]:
        """Move staged documents into the catalog in one transaction: all of them or none.

        Rows whose normalised-content id already exists in the pool (or earlier in the staging
        files) are dropped and counted as duplicates.
        """
        validate_pool_id(pool_id)
        with self.transaction() as con:
            exists = con.execute("SELECT 1 FROM pools WHERE pool_id = ?", [pool_id]).fetchone()
            if exists and not append:
                raise InputError(
                    f"pool {pool_id!r} already exists; pass --append to add documents to it"
                )
            if not exists and append:
                raise NotFoundError(f"pool {pool_id!r} does not exist; cannot append to it")
            base = con.execute(
                "SELECT coalesce(max(row_idx) + 1, 0) FROM documents WHERE pool_id = ?", [pool_id]
            ).fetchone()[0]
            staged = con.execute(
                "SELECT count(*) FROM read_parquet(?)", [staged_parquet_glob]
            ).fetchone()[0]
            con.execute(
                """
                INSERT INTO documents
                    (pool_id, doc_id, row_idx, text, source, n_chars, n_words, metadata)
                SELECT ?, s.doc_id, ? + row_number() OVER (ORDER BY s.row_idx) - 1,
                       s.text, s.source, s.n_chars, s.n_words, s.metadata
                FROM read_parquet(?) AS s
                WHERE s.doc_id NOT IN (SELECT doc_id FROM documents WHERE pool_id = ?)
                QUALIFY row_number() OVER (PARTITION BY s.doc_id ORDER BY s.row_idx) = 1
                """,
                [pool_id, base, staged_parquet_glob, pool_id],
            )
            inserted = con.execute(
                "SELECT count(*) FROM documents WHERE pool_id = ? AND row_idx >= ?",
                [pool_id, base],
            ).fetchone()[0]
            dups = staged - inserted
            skipped = int(params.get("n_skipped", 0))
            if exists:
                old = con.execute(
                    "SELECT params FROM pools WHERE pool_id = ?", [pool_id]
                ).fetchone()[0]
                history = json.loads(old).get("ingests", [])
                con.execute(
                    "UPDATE pools SET n_duplicates = n_duplicates + ?, "
                    "n_skipped = n_skipped + ?, params = ? WHERE pool_id = ?",
                    [dups, skipped, _json({"ingests": history + [params]}), pool_id],
                )
            else:
                con.execute(
                    "INSERT INTO pools VALUES (?, ?, 0, 0, 0, ?, ?, '', ?)",
                    [pool_id, _now(), dups, skipped, _json({"ingests": [params]})],
                )
            self._refresh_pool_stats(con, pool_id)
        return {"n_staged": int(staged), "n_inserted": int(inserted), "n_duplicates": int(dups)}

    @staticmethod
    def _refresh_pool_stats(con: duckdb.DuckDBPyConnection, pool_id: str) -> None:
        """Recount a pool and recompute its content hash.

        The content hash is a fingerprint of the *set* of document ids, computed in one
        streaming pass (count, sums and xors of two 60-bit slices of each id) rather than over
        a sorted concatenation, which needed memory proportional to the pool.
        """
        n, c, w, s1, s2, x1, x2 = con.execute(
            """
            SELECT count(*), coalesce(sum(n_chars), 0)::BIGINT,
                   coalesce(sum(n_words), 0)::BIGINT,
                   coalesce(sum(('0x' || substr(doc_id, 1, 15))::UBIGINT), 0)::VARCHAR,
                   coalesce(sum(('0x' || substr(doc_id, 16, 15))::UBIGINT), 0)::VARCHAR,
                   coalesce(bit_xor(('0x' || substr(doc_id, 1, 15))::UBIGINT), 0)::VARCHAR,
                   coalesce(bit_xor(('0x' || substr(doc_id, 16, 15))::UBIGINT), 0)::VARCHAR
            FROM documents WHERE pool_id = ?
            """,
            [pool_id],
        ).fetchone()
        digest = hashlib.sha256(f"dsdm-pool-v1:{n}:{s1}:{s2}:{x1}:{x2}".encode()).hexdigest()
        con.execute(
            "UPDATE pools SET n_docs = ?, n_chars = ?, n_words = ?, content_hash = ? "
            "WHERE pool_id = ?",
            [n, c, w, digest, pool_id],
        )

    def list_pools(self) -> pd.DataFrame:
        return self._query_df(
            "SELECT pool_id, n_docs, n_words, n_chars, n_duplicates, n_skipped, "
            "content_hash, created_at FROM pools ORDER BY created_at"
        )

    def get_pool(self, pool_id: str) -> dict[str, Any]:
        """One pool with its sources, token totals and planted-label counts."""
        df = self._query_df("SELECT * FROM pools WHERE pool_id = ?", [pool_id])
        if df.empty:
            known = ", ".join(self.list_pools()["pool_id"]) or "none yet"
            raise NotFoundError(f"pool {pool_id!r} not found (known pools: {known})")
        pool = df.iloc[0].to_dict()
        pool["params"] = json.loads(pool["params"])
        pool["sources"] = self._query_df(
            "SELECT source, count(*) AS n_docs, sum(n_words)::BIGINT AS n_words, "
            "sum(n_tokens)::BIGINT AS n_tokens FROM documents "
            "WHERE pool_id = ? GROUP BY source ORDER BY n_docs DESC",
            [pool_id],
        )
        pool["planted"] = self._query_df(
            "SELECT metadata->>'planted' AS planted, count(*) AS n_docs FROM documents "
            "WHERE pool_id = ? AND metadata->>'planted' IS NOT NULL "
            "GROUP BY 1 ORDER BY 2 DESC",
            [pool_id],
        )
        tok = self._query_one(
            "SELECT sum(n_tokens), count(n_tokens) FROM documents WHERE pool_id = ?", [pool_id]
        )
        pool["n_tokens"] = int(tok[0]) if tok[1] == pool["n_docs"] and tok[1] else None
        return pool

    def documents(
        self,
        pool_id: str,
        *,
        limit: int = 100,
        offset: int = 0,
        source: str | None = None,
        planted: str | None = None,
        ids: Sequence[str] | None = None,
        with_text: bool = True,
    ) -> pd.DataFrame:
        """A page of documents (at most 1,000 rows) in ingest order, optionally filtered."""
        limit = max(0, min(int(limit), 1000))
        cols = "doc_id, row_idx, source, n_chars, n_words, n_tokens, metadata"
        if with_text:
            cols += ", text"
        where, params = ["pool_id = ?"], [pool_id]
        if source is not None:
            where.append("source = ?")
            params.append(source)
        if planted is not None:
            where.append("metadata->>'planted' = ?")
            params.append(planted)
        if ids is not None:
            where.append("list_contains(?, doc_id)")
            params.append(list(ids))
        sql = (
            f"SELECT {cols} FROM documents WHERE {' AND '.join(where)} "
            "ORDER BY row_idx LIMIT ? OFFSET ?"
        )
        return self._query_df(sql, [*params, limit, int(offset)])

    def iter_documents(
        self, pool_id: str, batch_size: int = 10_000, columns: str = "doc_id, text"
    ) -> Iterator[pd.DataFrame]:
        """All documents of a pool in ingest order, in bounded batches (for the engine).

        Each batch opens its own short connection (keyset paging on row_idx), so a long
        consumer never holds the catalog lock between batches.
        """
        allowed = {"doc_id", "text", "source", "n_chars", "n_words", "n_tokens", "metadata"}
        wanted = [c.strip() for c in columns.split(",")]
        if not set(wanted) <= allowed:
            raise ValueError(f"unknown document columns {set(wanted) - allowed}")
        cols = ", ".join(["row_idx", *wanted])
        last = -1
        while True:
            df = self._query_df(
                f"SELECT {cols} FROM documents WHERE pool_id = ? AND row_idx > ? "
                "ORDER BY row_idx LIMIT ?",
                [pool_id, last, batch_size],
            )
            if df.empty:
                return
            last = int(df["row_idx"].iloc[-1])
            yield df.drop(columns="row_idx")

    def planted_labels(self, pool_id: str) -> dict[str, str]:
        """doc_id → planted label for the pool's documents that carry ground-truth labels."""
        with self.connect() as con:
            rows = con.execute(
                "SELECT doc_id, metadata->>'planted' FROM documents "
                "WHERE pool_id = ? AND metadata->>'planted' IS NOT NULL",
                [pool_id],
            ).fetchall()
        return dict(rows)

    def set_token_counts(self, pool_id: str, doc_ids: Sequence[str], n_tokens: Sequence[int]):
        """Record exact token counts once a tokenizer exists."""
        frame = pd.DataFrame({"doc_id": list(doc_ids), "n_tokens": np.asarray(n_tokens, "int64")})
        with self.transaction() as con:
            con.register("tok_frame", frame)
            con.execute(
                "UPDATE documents SET n_tokens = t.n_tokens FROM tok_frame AS t "
                "WHERE documents.pool_id = ? AND documents.doc_id = t.doc_id",
                [pool_id],
            )

    def doc_ids(self, pool_id: str) -> list[str]:
        with self.connect() as con:
            rows = con.execute(
                "SELECT doc_id FROM documents WHERE pool_id = ? ORDER BY row_idx", [pool_id]
            ).fetchall()
        return [r[0] for r in rows]

    # ---------------------------------------------------------------- target tasks
    def save_target_task(
        self,
        name: str,
        examples: Sequence[tuple[str, str]],
        *,
        origin: str,
        content_hash: str,
        example_ids: Sequence[str],
        splits: Sequence[str],
        split_seed: int,
        heldout_fraction: float,
    ) -> dict[str, Any]:
        """Store a target task version; the same content under the same name is reused."""
        with self.transaction() as con:
            same = con.execute(
                "SELECT task_id FROM target_tasks WHERE name = ? AND content_hash = ? "
                "AND split_seed = ? AND heldout_fraction = ?",
                [name, content_hash, split_seed, heldout_fraction],
            ).fetchone()
            if same:
                task_id, created = same[0], False
            else:
                version = con.execute(
                    "SELECT coalesce(max(version), 0) + 1 FROM target_tasks WHERE name = ?",
                    [name],
                ).fetchone()[0]
                task_id = f"{name}@v{version}"
                n_held = sum(1 for s in splits if s == "heldout")
                con.execute(
                    "INSERT INTO target_tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        task_id,
                        name,
                        version,
                        content_hash,
                        _now(),
                        origin,
                        split_seed,
                        heldout_fraction,
                        len(examples),
                        len(examples) - n_held,
                        n_held,
                    ],
                )
                frame = pd.DataFrame(
                    {
                        "task_id": task_id,
                        "example_id": list(example_ids),
                        "idx": np.arange(len(examples), dtype="int32"),
                        "prompt": [p for p, _ in examples],
                        "completion": [c for _, c in examples],
                        "split": list(splits),
                    }
                )
                con.register("ex_frame", frame)
                con.execute("INSERT INTO target_examples SELECT * FROM ex_frame")
                created = True
        task = self.get_target_task(task_id)
        task["created"] = created
        return task

    def list_target_tasks(self) -> pd.DataFrame:
        return self._query_df(
            "SELECT task_id, name, version, n_examples, n_selection, n_heldout, split_seed, "
            "content_hash, origin, created_at FROM target_tasks ORDER BY name, version"
        )

    def get_target_task(self, ref: str) -> dict[str, Any]:
        """A task by id (`name@vN`) or by name (its latest version)."""
        df = self._query_df(
            "SELECT * FROM target_tasks WHERE task_id = ? OR name = ? "
            "ORDER BY (task_id = ?) DESC, version DESC LIMIT 1",
            [ref, ref, ref],
        )
        if df.empty:
            known = ", ".join(self.list_target_tasks()["task_id"]) or "none yet"
            raise NotFoundError(f"target task {ref!r} not found (known: {known})")
        return df.iloc[0].to_dict()

    def target_examples(self, task_id: str, split: str | None = None) -> list[TargetExample]:
        where, params = "task_id = ?", [task_id]
        if split is not None:
            if split not in ("selection", "heldout"):
                raise InputError(f"split must be 'selection' or 'heldout', not {split!r}")
            where += " AND split = ?"
            params.append(split)
        with self.connect() as con:
            rows = con.execute(
                f"SELECT example_id, prompt, completion, split FROM target_examples "
                f"WHERE {where} ORDER BY idx",
                params,
            ).fetchall()
        return [TargetExample(*r) for r in rows]

    # ---------------------------------------------------------------- runs
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
        df = self._query_df("SELECT * FROM runs WHERE run_id = ?", [run_id])
        if df.empty:
            raise NotFoundError(f"run {run_id!r} not found")
        run = df.iloc[0].to_dict()
        run["config"] = json.loads(run["config"])
        return run

    def list_runs(self, kind: str | None = None) -> pd.DataFrame:
        if kind:
            return self._query_df("SELECT * FROM runs WHERE kind = ? ORDER BY created_at", [kind])
        return self._query_df("SELECT * FROM runs ORDER BY created_at")

    # ---------------------------------------------------------------- scores
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
        return self._query_df(
            "SELECT s.doc_id, s.score, s.zscore, s.percentile FROM scores s "
            "JOIN documents d ON d.pool_id = s.pool_id AND d.doc_id = s.doc_id "
            "WHERE s.run_id = ? AND s.task_id = ? ORDER BY d.row_idx",
            [run_id, task_id],
        )

    # ---------------------------------------------------------------- selections
    def save_selection(
        self,
        pool_id: str,
        selection: Selection,
        *,
        task_id: str | None = None,
        name: str | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> str:
        """Store a selection (ids in rank order) and return its id."""
        self.get_pool(pool_id)
        known = set(self.doc_ids(pool_id)) if selection.ids else set()
        unknown = [i for i in selection.ids if i not in known]
        if unknown:
            raise InputError(
                f"selection has {len(unknown)} ids not in pool {pool_id!r} (first: {unknown[0]})"
            )
        if len(set(selection.ids)) != len(selection.ids):
            raise InputError("selection lists the same document more than once")
        selection_id = f"sel-{uuid.uuid4().hex[:12]}"
        frame = pd.DataFrame(
            {
                "selection_id": selection_id,
                "doc_id": list(selection.ids),
                "rank": np.arange(1, len(selection.ids) + 1, dtype="int32"),
                "score": np.asarray(selection.scores, dtype="float64"),
            }
        )
        with self.transaction() as con:
            con.execute(
                "INSERT INTO selections VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    selection_id,
                    name or f"{selection.method}-{selection_id[4:]}",
                    pool_id,
                    task_id,
                    selection.method,
                    _json(selection.params),
                    int(selection.seed),
                    _json(overrides or {}),
                    len(selection.ids),
                    _now(),
                ],
            )
            con.register("member_frame", frame)
            con.execute("INSERT INTO selection_members SELECT * FROM member_frame")
        return selection_id

    def get_selection(self, ref: str) -> dict[str, Any]:
        """A selection by id or by name (the newest with that name)."""
        df = self._query_df(
            "SELECT * FROM selections WHERE selection_id = ? OR name = ? "
            "ORDER BY created_at DESC LIMIT 1",
            [ref, ref],
        )
        if df.empty:
            raise NotFoundError(f"selection {ref!r} not found")
        sel = df.iloc[0].to_dict()
        sel["params"] = json.loads(sel["params"])
        sel["overrides"] = json.loads(sel["overrides"])
        return sel

    def list_selections(self, pool_id: str | None = None) -> pd.DataFrame:
        if pool_id:
            return self._query_df(
                "SELECT * FROM selections WHERE pool_id = ? ORDER BY created_at", [pool_id]
            )
        return self._query_df("SELECT * FROM selections ORDER BY created_at")

    def selection_members(self, selection_id: str) -> pd.DataFrame:
        return self._query_df(
            "SELECT doc_id, rank, score FROM selection_members WHERE selection_id = ? "
            "ORDER BY rank",
            [selection_id],
        )

    def iter_selection_rows(
        self, selection_id: str, batch_rows: int = 10_000
    ) -> Iterator[pd.DataFrame]:
        """Selected documents with text and metadata in rank order, in bounded batches."""
        last = 0
        while True:
            df = self._query_df(
                "SELECT m.rank, m.doc_id, m.score, d.source, d.text, d.metadata "
                "FROM selection_members m JOIN selections s USING (selection_id) "
                "JOIN documents d ON d.pool_id = s.pool_id AND d.doc_id = m.doc_id "
                "WHERE m.selection_id = ? AND m.rank > ? ORDER BY m.rank LIMIT ?",
                [selection_id, last, batch_rows],
            )
            if df.empty:
                return
            last = int(df["rank"].iloc[-1])
            yield df

    # ---------------------------------------------------------------- evaluations
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
            return self._query_df(sql + " WHERE e.task_id = ? ORDER BY e.created_at", [task_id])
        return self._query_df(sql + " ORDER BY e.created_at")

    # ---------------------------------------------------------------- LDS (dsdm validate)
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
        return self._query_df(sql, [task_id, task_id, run_id, run_id])

    # ---------------------------------------------------------------- jobs
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
        df = self._query_df("SELECT * FROM jobs WHERE job_id = ?", [job_id])
        if df.empty:
            raise NotFoundError(f"job {job_id!r} not found")
        job = df.iloc[0].to_dict()
        job["params"] = json.loads(job["params"])
        return job

    def list_jobs(self, limit: int = 100) -> pd.DataFrame:
        return self._query_df("SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", [limit])

    # ---------------------------------------------------------------- exports
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
        return self._query_df("SELECT * FROM exports ORDER BY created_at DESC")

    # ---------------------------------------------------------------- exclusions
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
