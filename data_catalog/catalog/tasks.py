"""Target tasks: versioned example sets with a stored selection/held-out split."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from data_catalog.catalog.connection import CatalogBase, now
from data_catalog.errors import InputError, NotFoundError
from data_catalog.records import TargetExample


class TasksMixin(CatalogBase):
    """Target tasks and their examples."""

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
                        now(),
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
        return self.query_df(
            "SELECT task_id, name, version, n_examples, n_selection, n_heldout, split_seed, "
            "content_hash, origin, created_at FROM target_tasks ORDER BY name, version"
        )

    def get_target_task(self, ref: str) -> dict[str, Any]:
        """A task by id (`name@vN`) or by name (its latest version)."""
        df = self.query_df(
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
