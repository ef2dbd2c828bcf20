"""Built-in sources into a pool through the same ingest path as user files.

`ingest_builtin` streams the records of the named sources (in the order given, at most
``limit`` documents in all) into one staging JSONL file under the workspace's ``tmp/``, never
holding them in memory, then hands that file to `data_catalog.ingest.ingest`: the same
validation, de-duplication, all-or-nothing commit and report as `dsdm pool add FILE`. Each
document keeps its source, licence and metadata; documents that share a 13-word span with a
built-in target's evaluation text are dropped (counted) unless ``decontaminate`` is off.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from data_catalog.catalog import Catalog
from data_catalog.errors import InputError
from data_catalog.ingest import IngestReport, check_positive_int, doc_id_for, ingest
from data_catalog.sources import SOURCES, get_source
from data_catalog.sources.cache import cache_dir
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


def protected_texts(cache: Path) -> Iterator[str]:
    """Every built-in target's evaluation text (prompt + answer)."""
    from data_catalog.sources.builtin_targets import ALL_TARGETS, all_target_examples

    for name in ALL_TARGETS:
        for ex in all_target_examples(name, cache):
            yield ex["prompt"] + ex["completion"]


def builtin_records(
    names: Sequence[str], limit: int | None = None, cache: Path | None = None
) -> Iterator[dict[str, Any]]:
    """The sources' records one after another, at most ``limit`` in all (streamed)."""
    cache = Path(cache) if cache is not None else cache_dir()
    given = 0
    for name in names:
        for rec in SOURCES[name].iter_records(cache):
            if limit is not None and given >= limit:
                return
            given += 1
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
    guard = None
    if decontaminate:
        from data_catalog.sources.decontam import CompactDecontaminator

        guard = CompactDecontaminator(protected_texts(cache))
    dropped = written = 0
    seen: set[int] = set()  # ingest's own document ids (hashed): --limit counts distinct ones
    with open(stage, "w", encoding="utf-8") as fh:
        for rec in builtin_records(names, None, cache):
            if limit is not None and written >= limit:
                break
            key = hash(doc_id_for(rec["text"]))
            if key in seen:
                continue  # an exact duplicate the ingest would drop anyway
            if guard is not None and guard.overlaps(rec["text"]):
                dropped += 1
                continue
            seen.add(key)
            row = {**rec.get("metadata", {}), "text": rec["text"], "source": rec["source"]}
            row["license"] = rec.get("license", "")
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            written += 1
            if progress is not None and written % 10_000 == 0:
                progress(written, limit or 0, f"reading {rec['source']}")
    return dropped


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
