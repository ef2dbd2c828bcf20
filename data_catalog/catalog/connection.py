"""The catalog's one connection provider: short-lived DuckDB connections with lock retry,
transactions, query helpers, and schema migrations (run once per process per catalog file).

Connections are short-lived (open, work, close) and retried with backoff while another process
holds the file lock, so the app can read while a CLI job writes. Every SQL value is a bound
parameter; bulk rows go in from DataFrames or staged Parquet, never row by row.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Self

import duckdb
import pandas as pd

from data_catalog.errors import CatalogError, InputError
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


# catalog files migrated by this process: migrations run once per process, not per Catalog
_MIGRATED: set[str] = set()


class CatalogBase:
    """Typed access to one workspace's `catalog.duckdb`. Holds no open connection between calls."""

    def __init__(self, workspace: Workspace, lock_timeout_s: float | None = None) -> None:
        self.workspace = workspace
        self.path = workspace.catalog_path
        env_timeout = os.environ.get("DSDM_LOCK_TIMEOUT")
        self.lock_timeout_s = float(
            lock_timeout_s if lock_timeout_s is not None else (env_timeout or 60.0)
        )
        key = str(self.path.resolve())
        if key not in _MIGRATED or not self.path.exists():
            self._migrate()
            _MIGRATED.add(key)

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> Self:
        """Open (creating and migrating as needed) the workspace at `path` (see Workspace)."""
        return cls(Workspace.open(path))

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

    def query_df(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        with self.connect() as con:
            return con.execute(sql, list(params)).df()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        with self.connect() as con:
            return con.execute(sql, list(params)).fetchone()

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
        row = self.query_one("SELECT max(version) FROM schema_version")
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
