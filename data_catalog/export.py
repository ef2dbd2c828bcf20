"""Export a selection as Parquet, JSONL or a sorted id list, with a self-describing manifest.

Files are written into a scratch folder inside `exports/` and renamed into place only when
complete, so an interrupted export never leaves a half-written file under a real name. The
manifest records where the subset came from (pool and target hashes, method, parameters, seed,
overrides, code version) and the sha256 of the exported file.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from data_catalog import atomic
from data_catalog.catalog import Catalog
from data_catalog.errors import InputError
from data_catalog.sources.cache import sha256_file
from data_catalog.version import code_version

EXPORT_FORMATS = {"parquet": "data.parquet", "jsonl": "data.jsonl", "ids": "ids.txt"}
SIGN_CONVENTION = "score: higher = predicted to lower target loss (more helpful)"


def build_manifest(catalog: Catalog, selection_ref: str, fmt: str) -> dict[str, Any]:
    """The manifest for exporting `selection_ref` as `fmt`, without the file checksum yet."""
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"unknown export format {fmt!r} (known: {', '.join(EXPORT_FORMATS)})")
    sel = catalog.get_selection(selection_ref)
    pool = catalog.get_pool(sel["pool_id"])
    task = catalog.get_target_task(sel["task_id"]) if sel["task_id"] else None
    return {
        "selection_id": sel["selection_id"],
        "selection_name": sel["name"],
        "pool_id": sel["pool_id"],
        "pool_content_hash": pool["content_hash"],
        "pool_n_docs": int(pool["n_docs"]),
        "target_task_id": sel["task_id"],
        "target_task_hash": task["content_hash"] if task else None,
        "method": sel["method"],
        "parameters": sel["params"],
        "seed": int(sel["seed"]),
        "manual_overrides": sel["overrides"],
        "row_count": int(sel["n_members"]),
        "format": fmt,
        "file": EXPORT_FORMATS[fmt],
        "sign_convention": SIGN_CONVENTION,
        "code_version": code_version(),
    }


def export_selection(
    catalog: Catalog,
    selection_ref: str,
    fmt: str = "parquet",
    name: str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the selection and manifest.json to exports/<name>/; returns the manifest."""
    manifest = build_manifest(catalog, selection_ref, fmt)
    ws = catalog.workspace
    final = ws.export_dir(name or f"{manifest['selection_name']}-{fmt}")
    if final.exists() and not overwrite:
        raise InputError(f"export {final.name!r} already exists in {ws.exports}; pick another name")
    stage = atomic.tmp_name(final)  # pid + uuid: concurrent exports never share a stage
    stage.mkdir()
    try:
        data_path = stage / EXPORT_FORMATS[fmt]
        with atomic.atomic_path(data_path) as tmp:
            n_rows = _write(catalog, manifest["selection_id"], fmt, tmp)
        if n_rows != manifest["row_count"]:
            raise RuntimeError(f"wrote {n_rows} rows, expected {manifest['row_count']}")
        manifest["sha256"] = sha256_file(data_path)
        manifest["created_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        atomic.write_json(stage / "manifest.json", manifest)
        old = None
        if final.exists():  # keep the previous export until the new one is in place
            old = atomic.tmp_name(final).with_suffix(".old")
            final.rename(old)
        atomic.replace_into(stage, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    manifest["path"] = str(final / EXPORT_FORMATS[fmt])
    catalog.record_export(
        manifest["selection_id"],
        fmt,
        final / EXPORT_FORMATS[fmt],
        manifest["sha256"],
        n_rows,
        manifest,
    )
    return manifest


_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("rank", pa.int32()),
        ("score", pa.float64()),
        ("source", pa.string()),
        ("text", pa.string()),
        ("metadata", pa.string()),
    ]
)


def _write(catalog: Catalog, selection_id: str, fmt: str, path: Path) -> int:
    n = 0
    if fmt == "ids":
        ids = sorted(catalog.selection_members(selection_id)["doc_id"])
        path.write_text("".join(f"{i}\n" for i in ids))
        return len(ids)
    writer = pq.ParquetWriter(path, _SCHEMA) if fmt == "parquet" else None
    out = open(path, "w", encoding="utf-8") if fmt == "jsonl" else None  # noqa: SIM115
    try:
        for df in catalog.iter_selection_rows(selection_id):
            df = df.rename(columns={"doc_id": "id"})[_SCHEMA.names]
            n += len(df)
            if writer is not None:
                writer.write_table(pa.Table.from_pandas(df, schema=_SCHEMA, preserve_index=False))
            else:
                for row in df.itertuples(index=False):
                    rec = {
                        "id": row.id,
                        "rank": int(row.rank),
                        "score": None if row.score != row.score else float(row.score),
                        "source": row.source,
                        "text": row.text,
                        "metadata": row.metadata,
                    }
                    out.write(json.dumps(rec, ensure_ascii=False) + "\n")
    finally:
        if writer is not None:
            writer.close()
        if out is not None:
            out.close()
    return n
