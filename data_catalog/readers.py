"""Streaming readers for the input formats: JSONL (plain, .gz, .zst), Parquet, CSV, text files.

Each reader yields `RawRecord`s one at a time with a human location ("file line N" or
"file row N") so that validation errors can say exactly where the problem is. Nothing here holds
more than one batch of a file in memory.
"""

from __future__ import annotations

import csv
import glob as globmod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_catalog.errors import DsdmError, InputError
from data_catalog.jsontext import JsonProblem, parse_json
from data_catalog.streams import READ_ERRORS, describe_read_error, open_binary

FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".csv": "csv",
    ".txt": "text",
    ".md": "text",
}
COMPRESSIONS = (".gz", ".zst")
KNOWN = ", ".join([*FORMATS, ".jsonl.gz", ".jsonl.zst", ".csv.gz"])


@dataclass
class RawRecord:
    """One input record before validation. `text` is set for plain-text files only."""

    where: str
    fields: dict[str, Any] | None = None
    text: str | None = None
    error: str | None = None
    default_source: str = ""
    bytes_read: int = 0


def detect_format(path: Path, fmt: str | None = None) -> str:
    """The reader kind for `path` (or the explicit `fmt`); unknown formats are refused."""
    if fmt:
        if fmt not in set(FORMATS.values()):
            raise InputError(
                f"unknown format {fmt!r} (known: {', '.join(sorted(set(FORMATS.values())))})"
            )
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    if ext not in FORMATS:
        raise InputError(f"{path}: unknown format {ext or '(no extension)'!r} (known: {KNOWN})")
    return FORMATS[ext]


def expand_inputs(inputs: list[str], fmt: str | None = None) -> list[tuple[Path, str]]:
    """Files, folders (searched recursively) and globs → sorted (path, kind) pairs."""
    if not inputs:
        raise InputError("no input files given")
    out: list[tuple[Path, str]] = []
    for raw in inputs:
        p = Path(raw).expanduser()
        if p.is_dir():
            found = [
                f
                for f in sorted(p.rglob("*"))
                if f.is_file() and not f.name.startswith(".") and _known(f, fmt)
            ]
            if not found:
                raise InputError(f"folder {p}: no files with a known extension ({KNOWN})")
            out += [(f, detect_format(f, fmt)) for f in found]
        elif p.is_file():
            out.append((p, detect_format(p, fmt)))
        elif any(ch in raw for ch in "*?["):
            found = [Path(f) for f in sorted(globmod.glob(raw, recursive=True))]
            found = [f for f in found if f.is_file()]
            if not found:
                raise InputError(f"pattern {raw!r} matches no files")
            out += [(f, detect_format(f, fmt)) for f in found]
        else:
            raise InputError(f"{p}: no such file or folder")
    return out


def _known(path: Path, fmt: str | None) -> bool:
    try:
        detect_format(path, fmt)
        return True
    except InputError:
        return False


def read_records(path: Path, kind: str) -> Iterator[RawRecord]:
    """Yield the records of one file, located for error messages.

    A damaged file (corrupt or truncated compression, broken Parquet pages, unreadable bytes)
    ends the stream with one InputError naming the file and the last record read before it.
    """
    reader = _READERS.get(kind)
    if reader is None:  # pragma: no cover - detect_format guards this
        raise InputError(f"{path}: unknown format {kind!r}")
    last = None
    try:
        for rec in reader(path):
            last = rec.where
            yield rec
    except DsdmError:
        raise
    except READ_ERRORS as exc:
        after = f" (after {last.removeprefix(str(path)).strip()})" if last else ""
        raise InputError(f"{path}: {describe_read_error(exc, kind)}{after}") from exc


def _read_jsonl(path: Path) -> Iterator[RawRecord]:
    raw, stream = open_binary(path)
    src = path.name.split(".")[0]
    pos = 0
    with raw:
        for lineno, line in enumerate(stream, start=1):
            if lineno % 1024 == 0:
                pos = raw.tell()
            where = f"{path} line {lineno}"
            if not line.strip():
                continue
            try:
                decoded = line.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield RawRecord(where, error=f"invalid UTF-8 at byte {exc.start} of the line")
                continue
            try:
                obj = parse_json(decoded)
            except JsonProblem as exc:
                msg = str(exc).replace(", line 1 column", ", column")
                if msg.startswith("malformed") and not line.endswith(b"\n"):  # only the last
                    msg += "; it is the last line and has no line break: the file looks truncated"
                yield RawRecord(where, error=msg)
                continue
            if not isinstance(obj, dict):
                yield RawRecord(where, error=f"expected a JSON object, found {type(obj).__name__}")
                continue
            yield RawRecord(where, fields=obj, default_source=src, bytes_read=pos)


def _read_parquet(path: Path) -> Iterator[RawRecord]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a non-Parquet file
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from exc
    src = path.name.split(".")[0]
    row = 0
    for batch in pf.iter_batches(batch_size=8192):
        for obj in batch.to_pylist():
            row += 1
            yield RawRecord(f"{path} row {row}", fields=obj, default_source=src)


def _read_csv(path: Path) -> Iterator[RawRecord]:
    raw, stream = open_binary(path)
    src = path.name.split(".")[0]

    def lines() -> Iterator[str]:  # decoded one physical line at a time: exact line numbers
        for n, line in enumerate(stream, start=1):
            try:
                yield line.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{path} line {n}: invalid UTF-8 at byte {exc.start} of the line"
                ) from exc

    with raw:
        csv.field_size_limit(2**31 - 1)  # the default 131,072 chars rejects long documents
        reader = csv.DictReader(lines(), strict=True)
        start = 1
        try:
            for obj in reader:
                where = f"{path} line {start + 1}"
                start = reader.line_num
                if None in obj:
                    yield RawRecord(where, error="more cells than header columns")
                    continue
                if None in obj.values():
                    yield RawRecord(where, error="fewer cells than header columns")
                    continue
                yield RawRecord(where, fields=dict(obj), default_source=src)
        except csv.Error as exc:
            why = str(exc)
            if "unexpected end of data" in why:
                why = f"a quote opened on line {start + 1} is never closed"
            raise InputError(f"{path} line {start + 1}: malformed CSV ({why})") from exc


def _read_text(path: Path) -> Iterator[RawRecord]:
    data = path.read_bytes()
    where = str(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield RawRecord(where, error=f"invalid UTF-8 at byte {exc.start}")
        return
    if not data:
        return  # reported as an empty file by the caller
    yield RawRecord(
        where,
        fields={"path": path.name},
        text=text,
        default_source=path.parent.name or "text",
        bytes_read=len(data),
    )


_READERS: dict[str, Callable[[Path], Iterator[RawRecord]]] = {
    "jsonl": _read_jsonl,
    "parquet": _read_parquet,
    "csv": _read_csv,
    "text": _read_text,
}
