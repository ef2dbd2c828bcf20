"""Built-in sources into a pool through the same ingest path as user files.

`ingest_builtin` streams the records of the named sources (in the order given, at most
``limit`` documents in all) into one staging JSONL file under the workspace's ``tmp/``, never
holding them in memory, then hands that file to `data_catalog.ingest.ingest`: the same
validation, de-duplication, all-or-nothing commit and report as `dsdm pool add FILE`. Each
document keeps its source, licence and metadata; documents that share a 13-word span with a
built-in target's evaluation text are dropped (counted) unless ``decontaminate`` is off.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from data_catalog.catalog import Catalog
from data_catalog.errors import InputError
from data_catalog.ingest import IngestReport, check_positive_int, doc_id_for, ingest
from data_catalog.sources import SOURCES, get_source
from data_catalog.sources.builtin_targets import evaluation_texts
from data_catalog.sources.cache import cache_dir
from data_catalog.sources.decontam import (
    CompactDecontaminator,
    DecontaminationCount,
    decontaminated,
)
from data_catalog.workspace import staging_name

ProgressFn = Callable[[int, int, str], None]


def check_pool_sources(names: Sequence[str]) -> None:
    """Every name a built-in pool source (targets are added with `dsdm target add`)."""
    for name in names:
        source = get_source(name)
        if source.kind == "target":
            raise InputError(
                f"--builtin {name}: a target task, not a pool source; add it with "
                f"`dsdm target add --builtin {name}`"
            )
    if len(set(names)) != len(names):
        raise InputError(f"--builtin names a source twice: {' '.join(names)}")


def builtin_records(names: Sequence[str], cache: Path | None = None) -> Iterator[dict[str, Any]]:
    """The sources' records one after another (streamed)."""
    cache = Path(cache) if cache is not None else cache_dir()
    for name in names:
        yield from SOURCES[name].iter_records(cache)


def _distinct(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Records minus exact duplicates by the ingest's own document id (hashed), so that
    `--limit` counts documents the ingest keeps."""
    seen: set[int] = set()
    for rec in records:
        key = hash(doc_id_for(rec["text"]))
        if key not in seen:
            seen.add(key)
            yield rec


def _stage_records(
    stage: Path,
    names: Sequence[str],
    limit: int | None,
    cache: Path,
    decontaminate: bool,
    progress: ProgressFn | None,
) -> int:
    """Write the records to the staging JSONL; returns how many decontamination dropped. The
    n-gram screen lives only here, so its memory is free again before the commit."""
    records = _distinct(builtin_records(names, cache=cache))
    counts = DecontaminationCount()
    if decontaminate:
        screen = CompactDecontaminator(evaluation_texts(cache))
        records = decontaminated(records, screen, counts)
    with open(stage, "w", encoding="utf-8") as fh:
        for written, rec in enumerate(itertools.islice(records, limit), start=1):
            row = {**rec.get("metadata", {}), "text": rec["text"], "source": rec["source"]}
            row["license"] = rec.get("license", "")
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            if progress is not None and written % 10_000 == 0:
                progress(written, limit or 0, f"reading {rec['source']}")
    return counts.dropped


def ingest_builtin(
    catalog: Catalog,
    pool_id: str,
    names: Sequence[str],
    *,
    limit: int | None = None,
    append: bool = False,
    decontaminate: bool = True,
    cache: Path | None = None,
    progress: ProgressFn | None = None,
) -> IngestReport:
    """Ingest built-in sources into pool ``pool_id`` (all-or-nothing, like any ingest)."""
    check_pool_sources(names)
    if limit is not None:
        check_positive_int("--limit", limit)
    if catalog.pool_exists(pool_id) and not append:
        raise InputError(f"pool {pool_id!r} already exists; pass --append to add documents to it")
    cache = Path(cache) if cache is not None else cache_dir()
    stage = catalog.workspace.tmp / (staging_name("builtin") + ".jsonl")
    stage.parent.mkdir(parents=True, exist_ok=True)
    try:
        dropped = _stage_records(stage, names, limit, cache, decontaminate, progress)
        report = ingest(catalog, pool_id, [str(stage)], append=append, progress=progress)
        report.n_decontaminated = dropped
        return report
    finally:
        stage.unlink(missing_ok=True)
