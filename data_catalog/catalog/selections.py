"""Selections: ranked document ids with the method, parameters and seed that chose them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from data_catalog.catalog.connection import CatalogBase, now, to_json
from data_catalog.errors import InputError, NotFoundError
from data_catalog.records import Selection


class SelectionsMixin(CatalogBase):
    """Selections and their ranked members."""

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
        self.pool(pool_id)  # NotFoundError naming the known pools
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
                    to_json(selection.params),
                    int(selection.seed),
                    to_json(overrides or {}),
                    len(selection.ids),
                    now(),
                ],
            )
            con.register("member_frame", frame)
            # ids are checked in DuckDB (an anti-join), so the pool never loads into Python
            n_unknown, first = con.execute(
                "SELECT count(*), arg_min(f.doc_id, f.rank) FROM member_frame f "
                "ANTI JOIN (SELECT doc_id FROM documents WHERE pool_id = ?) d USING (doc_id)",
                [pool_id],
            ).fetchone()
            if n_unknown:
                raise InputError(
                    f"selection has {n_unknown} ids not in pool {pool_id!r} (first: {first})"
                )
            con.execute("INSERT INTO selection_members SELECT * FROM member_frame")
        return selection_id

    def get_selection(self, ref: str) -> dict[str, Any]:
        """A selection by id or by name (the newest with that name)."""
        df = self.query_df(
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
            return self.query_df(
                "SELECT * FROM selections WHERE pool_id = ? ORDER BY created_at", [pool_id]
            )
        return self.query_df("SELECT * FROM selections ORDER BY created_at")

    def selection_members(self, selection_id: str) -> pd.DataFrame:
        return self.query_df(
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
            df = self.query_df(
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
