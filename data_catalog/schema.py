"""The catalog schema as an ordered list of forward migrations.

Each migration is a list of steps applied in one transaction (a DDL string, or a function of
(connection, `ArtifactLayout`) for data rewrites that need the workspace); `schema_version` records
which have run. Opening an older workspace applies the missing ones; a workspace written by a newer
DsDm Studio (a version above `LATEST_VERSION`) is refused rather than guessed at.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

# The large tables (documents, scores, selection_members) carry no PRIMARY KEY on purpose: DuckDB
# keeps such indexes in memory, which made peak RSS grow with pool size (bench/ingest.py). Their
# uniqueness is enforced where rows are written (dedup on insert, replace-all for scores).


def _relative_paths(con: Any, layout: Any) -> None:
    """v3: stored paths become workspace-relative (legacy absolute paths, also of a workspace
    since moved, are mapped through their artifacts/ or exports/ component; see
    `ArtifactLayout.rel`). Runs and exports are small tables, so row-wise updates are fine."""
    for table, key, col in (("runs", "run_id", "artifact_path"), ("exports", "export_id", "path")):
        rows = con.execute(f"SELECT {key}, {col} FROM {table} WHERE {col} IS NOT NULL").fetchall()
        for row_id, path in rows:
            rel = layout.rel(path)
            if rel != path:
                con.execute(f"UPDATE {table} SET {col} = ? WHERE {key} = ?", [rel, row_id])
    for export_id, manifest in con.execute("SELECT export_id, manifest FROM exports").fetchall():
        data = json.loads(manifest)
        if isinstance(data, dict) and isinstance(data.get("path"), str):
            data["path"] = layout.rel(data["path"])
            con.execute(
                "UPDATE exports SET manifest = ? WHERE export_id = ?",
                [json.dumps(data, sort_keys=True, default=str), export_id],
            )


MIGRATIONS: dict[int, list[str | Callable[[Any, Any], None]]] = {
    1: [
        """CREATE TABLE pools (
            pool_id VARCHAR PRIMARY KEY,
            created_at TIMESTAMP NOT NULL,
            n_docs BIGINT NOT NULL,
            n_chars BIGINT NOT NULL,
            n_words BIGINT NOT NULL,
            n_duplicates BIGINT NOT NULL,
            n_skipped BIGINT NOT NULL,
            content_hash VARCHAR NOT NULL,
            params JSON NOT NULL
        )""",
        """CREATE TABLE documents (
            pool_id VARCHAR NOT NULL,
            doc_id VARCHAR NOT NULL,
            row_idx BIGINT NOT NULL,
            text VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            n_chars INTEGER NOT NULL,
            n_words INTEGER NOT NULL,
            metadata JSON
        )""",
        """CREATE TABLE target_tasks (
            task_id VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            content_hash VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            origin VARCHAR NOT NULL,
            split_seed BIGINT NOT NULL,
            heldout_fraction DOUBLE NOT NULL,
            n_examples INTEGER NOT NULL,
            n_selection INTEGER NOT NULL,
            n_heldout INTEGER NOT NULL
        )""",
        """CREATE TABLE target_examples (
            task_id VARCHAR NOT NULL,
            example_id VARCHAR NOT NULL,
            idx INTEGER NOT NULL,
            prompt VARCHAR NOT NULL,
            completion VARCHAR NOT NULL,
            split VARCHAR NOT NULL,
            PRIMARY KEY (task_id, idx)
        )""",
        """CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,
            pool_id VARCHAR,
            task_id VARCHAR,
            config JSON NOT NULL,
            config_hash VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            artifact_path VARCHAR,
            created_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP
        )""",
        """CREATE TABLE scores (
            run_id VARCHAR NOT NULL,
            task_id VARCHAR NOT NULL,
            pool_id VARCHAR NOT NULL,
            doc_id VARCHAR NOT NULL,
            score DOUBLE NOT NULL,
            zscore DOUBLE NOT NULL,
            percentile DOUBLE NOT NULL
        )""",
        """CREATE TABLE selections (
            selection_id VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            pool_id VARCHAR NOT NULL,
            task_id VARCHAR,
            method VARCHAR NOT NULL,
            params JSON NOT NULL,
            seed BIGINT NOT NULL,
            overrides JSON NOT NULL,
            n_members BIGINT NOT NULL,
            created_at TIMESTAMP NOT NULL
        )""",
        """CREATE TABLE selection_members (
            selection_id VARCHAR NOT NULL,
            doc_id VARCHAR NOT NULL,
            rank INTEGER NOT NULL,
            score DOUBLE
        )""",
        """CREATE TABLE evaluations (
            eval_id VARCHAR PRIMARY KEY,
            selection_id VARCHAR NOT NULL,
            task_id VARCHAR NOT NULL,
            budget_tokens BIGINT NOT NULL,
            seed BIGINT NOT NULL,
            heldout_loss DOUBLE NOT NULL,
            config JSON NOT NULL,
            created_at TIMESTAMP NOT NULL
        )""",
        """CREATE TABLE jobs (
            job_id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            done BIGINT NOT NULL DEFAULT 0,
            total BIGINT NOT NULL DEFAULT 0,
            rate DOUBLE,
            eta_s DOUBLE,
            message VARCHAR NOT NULL DEFAULT '',
            params JSON NOT NULL,
            error VARCHAR,
            pid INTEGER,
            cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP
        )""",
        """CREATE TABLE exports (
            export_id VARCHAR PRIMARY KEY,
            selection_id VARCHAR NOT NULL,
            format VARCHAR NOT NULL,
            path VARCHAR NOT NULL,
            sha256 VARCHAR NOT NULL,
            n_rows BIGINT NOT NULL,
            manifest JSON NOT NULL,
            created_at TIMESTAMP NOT NULL
        )""",
    ],
    # v2: token counts from the trained tokenizer, and a per-pool exclusion list that later
    # selections honour (the harmful-data workflow).
    2: [
        "ALTER TABLE documents ADD COLUMN n_tokens INTEGER",
        """CREATE TABLE exclusions (
            pool_id VARCHAR NOT NULL,
            doc_id VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            PRIMARY KEY (pool_id, doc_id)
        )""",
    ],
    # v3: no absolute paths in the catalog, so a workspace can be moved or copied.
    3: [_relative_paths],
    # v4: LDS of every predictor on one validation's subset models (`dsdm validate`): the
    # engine's correctness number, per (validation run, predictor, task, split).
    4: [
        """CREATE TABLE lds_results (
            run_id VARCHAR NOT NULL,
            predictor VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            task_id VARCHAR NOT NULL,
            split VARCHAR NOT NULL,
            aggregate_lds DOUBLE,
            ci_lo DOUBLE,
            ci_hi DOUBLE,
            per_example_lds DOUBLE,
            n_subsets INTEGER NOT NULL,
            created_at TIMESTAMP NOT NULL
        )""",
    ],
    # v5: job liveness. A job row names its process (pid, its start time, host) and carries a
    # heartbeat, so a killed job reads as `died` instead of `running` forever.
    5: [
        "ALTER TABLE jobs ADD COLUMN pid_start BIGINT",
        "ALTER TABLE jobs ADD COLUMN host VARCHAR",
        "ALTER TABLE jobs ADD COLUMN heartbeat_at TIMESTAMP",
    ],
}

LATEST_VERSION = max(MIGRATIONS)
