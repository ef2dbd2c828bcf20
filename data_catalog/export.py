"""Export a selection as Parquet, JSONL or a sorted id list, with a self-describing manifest.

Files are written into a scratch folder inside `exports/` and renamed into place only when
complete, so an interrupted export never leaves a half-written file under a real name. Scratch
names carry the writer's pid, so the next export removes the scratch of killed runs (and puts
back a previous export a killed overwrite had moved aside); an export killed after placing its
folder but before the catalog recorded it is recorded (or replaced) by the next run. The
manifest records where the subset came from (pool and target hashes, method, parameters, seed,
overrides, code version) and the sha256 of the exported file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from data_catalog.catalog import Catalog
from data_catalog.diskfull import disk_full_guard
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
    request = (sel["overrides"] or {}).get("request")
    recipe = None
    if request:  # `dsdm select --recipe` runs this again (dsdm_engine/stages/recipe.py)
        recipe = {
            "recipe_version": 1, "pool": sel["pool_id"], "name": sel["name"],
            "method": request["method"], "target": request["task_id"], "mix": request["mix"],
            "rule": request["rule"], "seed": request["seed"], "options": request["options"],
        }  # fmt: skip
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
        "recipe": recipe,
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
    """Write the selection and manifest.json to exports/<name>/; returns the manifest.

    An existing folder of that name is refused only when the catalog recorded it (or it is not
    an export at all). An unrecorded export - a run killed after placing its folder - is
    recorded if it is this very export, complete and intact, and replaced otherwise.
    """
    manifest = build_manifest(catalog, selection_ref, fmt)
    ws = catalog.workspace
    final = ws.export_dir(name or f"{manifest['selection_name']}-{fmt}")
    file_name = EXPORT_FORMATS[fmt]
    clean_stale_scratch(ws.exports, time.time())
    if final.exists() and not overwrite:
        if _recorded(catalog, final):
            raise InputError(
                f"export {final.name!r} already exists in {ws.exports}; pick another name"
            )
        adopted = _adopt_unrecorded(catalog, final, manifest)
        if adopted is not None:
            return adopted
        if not (final / "manifest.json").is_file():
            raise InputError(
                f"{final} exists and is not an export (no manifest.json); pick another name"
            )
    stage = ws.exports / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    with disk_full_guard("writing the export", stage, "nothing was exported"):
        stage.mkdir()
        try:
            data_path = stage / file_name
            n_rows = _write(catalog, manifest["selection_id"], fmt, data_path)
            if n_rows != manifest["row_count"]:
                raise RuntimeError(f"wrote {n_rows} rows, expected {manifest['row_count']}")
            manifest["sha256"] = sha256_file(data_path)
            manifest["created_at"] = datetime.now(UTC).isoformat(timespec="seconds")
            (stage / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
            _place(stage, final)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
    return _record(catalog, final, manifest)


def _place(stage: Path, final: Path) -> None:
    """Rename `stage` to `final`, keeping any previous export aside until the new one is in.

    The aside name carries our pid and the export's name, so if we are killed in between,
    `clean_stale_scratch` can put the previous export back.
    """
    old = None
    if final.exists():
        old = final.parent / f".old-{os.getpid()}-{uuid.uuid4().hex[:12]}-{final.name}"
        final.rename(old)
    stage.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _record(catalog: Catalog, final: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    path = final / manifest["file"]
    manifest["path"] = str(path)
    with disk_full_guard(
        "recording the export", catalog.path, "its files are in place: run the export again"
    ):
        catalog.record_export(
            manifest["selection_id"],
            manifest["format"],
            path,
            manifest["sha256"],
            int(manifest["row_count"]),
            manifest,
        )
    return manifest


def _recorded(catalog: Catalog, final: Path) -> bool:
    """Whether the catalog has an export row for a file in `final`."""
    paths = catalog.list_exports()["path"]
    return any(Path(p).parent == final for p in paths)


def _adopt_unrecorded(
    catalog: Catalog, final: Path, manifest: dict[str, Any]
) -> dict[str, Any] | None:
    """Record the export in `final` if it is this export, complete; else None.

    "This export" means its manifest matches the one we would write (same selection, format,
    parameters, hashes, code version) and its data file still has the recorded checksum.
    """
    try:
        found = json.loads((final / "manifest.json").read_text(encoding="utf-8"))
        data = final / manifest["file"]
        want = json.loads(json.dumps(manifest, sort_keys=True, default=str))
        if not isinstance(found, dict) or any(found.get(k) != v for k, v in want.items()):
            return None
        if not data.is_file() or sha256_file(data) != found.get("sha256"):
            return None
    except (OSError, ValueError):
        return None
    return _record(catalog, final, {**found, **manifest, "sha256": found["sha256"]})


_SCRATCH_RE = re.compile(
    r"\.(?P<kind>tmp|old)-(?:(?P<pid>\d+)-[0-9a-f]{12}(?:-(?P<name>.+))?|[0-9a-f]{32})"
)


def clean_stale_scratch(exports: Path, started: float) -> int:
    """Remove scratch folders of exports that died; returns how many were handled.

    A scratch folder is stale when it is older than `started` (this run's start) and the
    process named in it is gone (names written before pids were added count as gone). A stale
    `.old-*` folder whose export is missing is the previous export of a run killed mid-swap:
    it is moved back instead of deleted.
    """
    handled = 0
    for p in exports.iterdir() if exports.exists() else ():
        m = _SCRATCH_RE.fullmatch(p.name)
        if m is None:
            continue
        try:
            if p.stat().st_mtime >= started or (m["pid"] and _alive(int(m["pid"]))):
                continue
            restore = exports / m["name"] if m["kind"] == "old" and m["name"] else None
            if restore is not None and not restore.exists():
                p.rename(restore)
            else:
                shutil.rmtree(p, ignore_errors=True)
            handled += 1
        except FileNotFoundError:  # another process cleaned it first
            continue
    return handled


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another export in this process (the app) may still be writing
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


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
