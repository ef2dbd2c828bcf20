"""Ingestion of user data into a pool: read, validate, chunk, hash, dedup, commit all-or-nothing.

Records stream from the readers in bounded batches into staged Parquet files under the
workspace's scratch folder; only when every input has been read does one short transaction move
them into the catalog (dropping exact duplicates by normalised-content id). A failed or killed
ingest therefore leaves the catalog exactly as it was.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from data_catalog.catalog import Catalog, validate_pool_id
from data_catalog.diskfull import disk_full_guard
from data_catalog.errors import InputError
from data_catalog.readers import RawRecord, detect_format, expand_inputs, read_records
from data_catalog.workspace import staging_name

ProgressFn = Callable[[int, int, str], None]

# GPT-2's pre-tokeniser pattern (words, numbers, punctuation runs, whitespace): a tokenizer-free
# length unit that is close to, and never above, a byte-level BPE token count.
PRETOKEN_RE = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?\w+| ?[^\s\w]+|\s+(?!\S)|\s+")
_BATCH_ROWS = 20_000
_MAX_BAD_LISTED = 20


def normalise(text: str) -> str:
    """Normal form for identity: Unicode NFC and whitespace runs collapsed to one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def doc_id_for(text: str) -> str:
    """Stable document id: the first 128 bits of sha256 of the normalised text, in hex."""
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()[:32]


def count_words(text: str) -> int:
    return sum(1 for m in PRETOKEN_RE.finditer(text) if not m.group().isspace())


def check_positive_int(flag: str, value: object, meaning: str = "") -> int:
    """`value` as an int >= 1, else InputError naming `flag` (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        what = f" ({meaning})" if meaning else ""
        raise InputError(f"{flag} must be a positive integer{what}, not {value!r}")
    return value


def chunking_from_flags(chunk_chars: int | None, chunk_tokens: int | None) -> Chunking | None:
    """The Chunking for `--chunk-chars` / `--chunk-tokens` (None when neither is given).

    A given flag is checked even when it is 0: 0 used to fall through a truth test and silently
    mean "no chunking".
    """
    if chunk_chars is not None and chunk_tokens is not None:
        raise InputError("give --chunk-chars or --chunk-tokens, not both")
    if chunk_chars is not None:
        return Chunking("chars", chunk_chars)
    if chunk_tokens is not None:
        return Chunking("tokens", chunk_tokens)
    return None


@dataclass(frozen=True)
class Chunking:
    """Split documents into passages of at most `size` characters or pre-tokens."""

    unit: str  # "chars" | "tokens"
    size: int

    def __post_init__(self) -> None:
        if self.unit not in ("chars", "tokens"):
            raise InputError(f"chunk unit must be 'chars' or 'tokens', not {self.unit!r}")
        check_positive_int(f"--chunk-{self.unit}", self.size, "passage length")

    def split(self, text: str) -> list[str]:
        if self.unit == "tokens":
            spans = [m.span() for m in PRETOKEN_RE.finditer(text) if not m.group().isspace()]
            if len(spans) <= self.size:
                return [text]
            out = []
            for i in range(0, len(spans), self.size):
                part = spans[i : i + self.size]
                out.append(text[part[0][0] : part[-1][1]].strip())
            return [c for c in out if c]
        if len(text) <= self.size:
            return [text]
        out, start = [], 0
        while start < len(text):
            end = min(start + self.size, len(text))
            if end < len(text):
                cut = text.rfind(" ", start + 1, end + 1)  # prefer a word boundary
                end = cut if cut > start else end
            piece = text[start:end].strip()
            if piece:
                out.append(piece)
            start = end
        return out


@dataclass
class IngestReport:
    """What an ingest did: counts and, with skip_bad, where the bad records were."""

    pool_id: str
    n_records: int = 0
    n_staged: int = 0
    n_inserted: int = 0
    n_duplicates: int = 0
    n_skipped: int = 0
    n_decontaminated: int = 0  # built-in sources: dropped for sharing text with a target
    skipped_where: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def summary(self) -> str:
        s = (
            f"pool {self.pool_id}: {self.n_inserted} documents added from {self.n_records} "
            f"records in {len(self.files)} file(s); {self.n_duplicates} exact duplicates dropped"
        )
        if self.n_decontaminated:
            s += f"; {self.n_decontaminated} dropped for sharing a 13-word span with a target"
        if self.n_skipped:
            where = "; ".join(self.skipped_where[:5])
            more = " ..." if self.n_skipped > 5 else ""
            s += f"; {self.n_skipped} bad records skipped ({where}{more})"
        return s


def _validate(rec: RawRecord, text_field: str) -> str:
    """Return the record's text or raise InputError naming file, line/row and field."""
    if rec.error:
        raise InputError(f"{rec.where}: {rec.error}")
    if rec.text is not None:
        if not rec.text.strip():
            raise InputError(f"{rec.where}: empty document")
        return rec.text
    value = rec.fields.get(text_field) if rec.fields is not None else None
    if rec.fields is not None and text_field not in rec.fields:
        found = ", ".join(sorted(map(str, rec.fields))[:10]) or "none"
        raise InputError(
            f"{rec.where}: missing text field {text_field!r} (fields found: {found}); "
            "choose another with --text-field"
        )
    if value is None:
        raise InputError(f"{rec.where}: field {text_field!r} is null, expected a string")
    if not isinstance(value, str):
        raise InputError(
            f"{rec.where}: field {text_field!r} is {type(value).__name__}, expected a string"
        )
    if not value.strip():
        raise InputError(f"{rec.where}: field {text_field!r} is an empty document")
    if "\x00" in value:
        raise InputError(f"{rec.where}: field {text_field!r} contains NUL bytes")
    return value


_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("row_idx", pa.int64()),
        ("text", pa.string()),
        ("source", pa.string()),
        ("n_chars", pa.int32()),
        ("n_words", pa.int32()),
        ("metadata", pa.string()),
    ]
)


def ingest(
    catalog: Catalog,
    pool_id: str,
    inputs: list[str],
    *,
    text_field: str = "text",
    fmt: str | None = None,
    source: str | None = None,
    chunking: Chunking | None = None,
    skip_bad: bool = False,
    append: bool = False,
    progress: ProgressFn | None = None,
) -> IngestReport:
    """Ingest files, folders or globs into pool `pool_id`, all-or-nothing.

    Raises InputError (naming file, line/row and field) on the first bad record unless
    `skip_bad`, in which case bad records are skipped and listed in the report. A full disk
    (while staging or at commit) raises CatalogError; in every failure the catalog is unchanged.
    """
    validate_pool_id(pool_id)
    _check_name("--text-field", text_field)
    if source is not None:
        _check_name("--source", source)
    if fmt is not None:
        detect_format(Path(f"x.{fmt}"), fmt)  # reject unknown formats up front
    if chunking is not None and not isinstance(chunking, Chunking):
        raise InputError(f"chunking must be a Chunking, not {type(chunking).__name__}")
    if catalog.pool_exists(pool_id) and not append:
        raise InputError(f"pool {pool_id!r} already exists; pass --append to add documents to it")
    files = expand_inputs(inputs, fmt)
    report = IngestReport(pool_id=pool_id, files=[str(f) for f, _ in files])
    ws = catalog.workspace
    unchanged = "nothing was added and the catalog is unchanged"
    with disk_full_guard("staging the ingest", ws.tmp, unchanged):
        ws.clean_stale_tmp()
        stage = ws.tmp / staging_name("ingest")
        stage.mkdir(parents=True)
    try:
        with disk_full_guard("staging the ingest", stage, unchanged):
            _stage(files, stage, report, text_field, source, chunking, skip_bad, progress)
        if report.n_staged == 0:
            raise InputError(
                f"no valid documents in {', '.join(report.files)} "
                f"({report.n_skipped} bad records skipped)"
            )
        params = {
            "inputs": [str(i) for i in inputs],
            "files": report.files,
            "text_field": text_field,
            "format": fmt,
            "source": source,
            "chunking": None if chunking is None else vars(chunking),
            "skip_bad": skip_bad,
            "n_records": report.n_records,
            "n_skipped": report.n_skipped,
        }
        with disk_full_guard("committing the ingest", catalog.path, unchanged):
            res = catalog.commit_staged_pool(pool_id, str(stage / "*.parquet"), params, append)
        report.n_inserted = res["n_inserted"]
        report.n_duplicates = res["n_duplicates"]
        return report
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _size(path: Path) -> int:
    """A listed file's size; one that vanished since it was listed is named, not a traceback."""
    try:
        return path.stat().st_size
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc} (was it moved or deleted?)") from exc


def _check_name(flag: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise InputError(f"{flag} must be a non-empty name, not {value!r}")


def _stage(
    files: list[tuple[Path, str]],
    stage: Path,
    report: IngestReport,
    text_field: str,
    source: str | None,
    chunking: Chunking | None,
    skip_bad: bool,
    progress: ProgressFn | None,
) -> None:
    """Read, validate and chunk every record into Parquet parts under `stage`."""
    total_bytes = sum(_size(f) for f, _ in files)
    rows: dict[str, list[Any]] = {k: [] for k in _SCHEMA.names}
    part = 0
    row_idx = 0
    done_bytes = 0

    def flush() -> None:
        nonlocal part, rows
        if not rows["doc_id"]:
            return
        table = pa.Table.from_pydict(rows, schema=_SCHEMA)
        pq.write_table(table, stage / f"part-{part:06d}.parquet")
        part += 1
        rows = {k: [] for k in _SCHEMA.names}

    for path, kind in files:
        n_in_file = 0
        for rec in read_records(path, kind):
            n_in_file += 1
            report.n_records += 1
            try:
                text = _validate(rec, text_field)
            except InputError as exc:
                if not skip_bad:
                    raise
                report.n_skipped += 1
                if len(report.skipped_where) < _MAX_BAD_LISTED:
                    report.skipped_where.append(str(exc))
                continue
            meta = {k: v for k, v in (rec.fields or {}).items() if k not in (text_field,)}
            rec_source = source or meta.pop("source", None) or rec.default_source
            if not isinstance(rec_source, str):
                rec_source = str(rec_source)
            pieces = chunking.split(text.strip()) if chunking else [text.strip()]
            for ci, piece in enumerate(pieces):
                m = dict(meta)
                if len(pieces) > 1:
                    m["chunk_index"] = ci
                    m["parent_id"] = doc_id_for(text)
                rows["doc_id"].append(doc_id_for(piece))
                rows["row_idx"].append(row_idx)
                rows["text"].append(piece)
                rows["source"].append(rec_source)
                rows["n_chars"].append(len(piece))
                rows["n_words"].append(count_words(piece))
                rows["metadata"].append(json.dumps(m, default=str) if m else None)
                row_idx += 1
            if len(rows["doc_id"]) >= _BATCH_ROWS:
                flush()
                if progress:
                    progress(done_bytes + rec.bytes_read, total_bytes, path.name)
        if n_in_file == 0:
            msg = f"{path}: file is empty (no records found)"
            if not skip_bad:
                raise InputError(msg)
            report.n_skipped += 1
            report.skipped_where.append(msg)
        done_bytes += _size(path)
        if progress:
            progress(done_bytes, total_bytes, path.name)
    flush()
    report.n_staged = row_idx
