"""Exports (files written under exports/, paths stored workspace-relative) and exclusions."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence

import pandas as pd

from data_catalog.catalog.connection import CatalogBase, now, to_json


class ExportsMixin(CatalogBase):
    """Exports and the per-pool exclusion list."""

    def record_export(
        self,
        selection_id: str,
        fmt: str,
        path: str | os.PathLike[str],
        sha256: str,
        n_rows: int,
        manifest: dict,
    ) -> str:
        """Record an export; `path` (and the manifest's `path`) are stored workspace-relative."""
        export_id = f"exp-{uuid.uuid4().hex[:12]}"
        rel = self.layout.rel(path)
        stored = {**manifest, "path": rel} if "path" in manifest else manifest
        with self.connect() as con:
            con.execute(
                "INSERT INTO exports VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [export_id, selection_id, fmt, rel, sha256, n_rows, to_json(stored), now()],
            )
        return export_id

    def list_exports(self) -> pd.DataFrame:
        """Exports, newest first; `path` is absolute in the current workspace."""
        df = self.query_df("SELECT * FROM exports ORDER BY created_at DESC")
        df["path"] = [str(self.layout.resolve(p)) for p in df["path"]]
        return df

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
                [pool_id, reason, now(), pool_id],
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
