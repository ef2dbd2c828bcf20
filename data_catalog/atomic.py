"""Atomic file writes: the one helper family every artifact and export goes through.

A write lands in a temporary file next to its destination (same folder, so `os.replace` is a
rename on one filesystem), is flushed and fsynced, renamed over the final name, and the folder is
fsynced so the rename itself survives a crash. The temporary name carries the process id and a
random uuid, so two processes writing the same destination never share (or clobber) a tmp file;
readers see either the old complete file or the new complete file, never a torn one.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

TMP_MARKER = ".tmp-"


def tmp_name(dest: str | os.PathLike[str]) -> Path:
    """A unique sibling of `dest` for staging: `.<name>.tmp-<pid>-<uuid>` (hidden, same dir)."""
    dest = Path(dest)
    return dest.with_name(f".{dest.name}{TMP_MARKER}{os.getpid()}-{uuid.uuid4().hex[:12]}")


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Persist a folder's entries (a rename) where the platform allows opening folders."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open a folder; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def replace_into(tmp: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Rename a complete `tmp` over `dest` and fsync the folder; returns `dest`."""
    dest = Path(dest)
    os.replace(tmp, dest)
    fsync_dir(dest.parent)
    return dest


@contextmanager
def atomic_path(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a unique tmp path beside `dest` for a writer that wants a path (pyarrow, np.save
    to a name); on normal exit the file is fsynced and renamed over `dest`, on error removed."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(dest)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        replace_into(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_with(dest: str | os.PathLike[str], fill: Callable[[BinaryIO], Any]) -> Path:
    with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
        fill(fh)  # atomic_path fsyncs once the handle is closed
    return Path(dest)


def write_bytes(dest: str | os.PathLike[str], data: bytes) -> Path:
    """Write `data` to `dest` atomically."""
    return _write_with(dest, lambda fh: fh.write(data))


def write_text(dest: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `dest` atomically."""
    return write_bytes(dest, text.encode(encoding))


def write_json(dest: str | os.PathLike[str], obj: Any, *, indent: int | None = 2) -> Path:
    """Write `obj` as sorted-key JSON to `dest` atomically."""
    return write_text(dest, json.dumps(obj, indent=indent, sort_keys=True, default=str))


def write_npy(dest: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write `array` as a `.npy` file to `dest` atomically (the exact name, no suffix added)."""

    return _write_with(dest, lambda fh: np.save(fh, np.asarray(array), allow_pickle=False))


NPY_HEADER = 128  # bytes reserved for a streamed .npy's header (a 2-d shape fits many times)


class NpyRows:
    """Rows appended to an open `.npy` file: memory holds one block, not the array."""

    def __init__(self, fh: BinaryIO, width: int, dtype: Any) -> None:
        self.fh, self.width, self.dtype, self.rows = fh, int(width), np.dtype(dtype), 0
        fh.write(b"\0" * NPY_HEADER)

    def append(self, block: np.ndarray) -> None:
        """Append (r, width) rows (cast to the file's dtype)."""
        block = np.ascontiguousarray(block, dtype=self.dtype).reshape(-1, self.width)
        self.fh.write(block.tobytes())
        self.rows += block.shape[0]

    def finish(self) -> None:
        """Write the header with the final shape into the reserved bytes."""
        desc = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                "shape": (self.rows, self.width)}  # fmt: skip
        text = repr(desc).encode("latin1")
        pad = NPY_HEADER - 10 - len(text) - 1
        if pad < 0:
            raise ValueError(f"npy header of {desc} exceeds {NPY_HEADER} bytes")
        self.fh.seek(0)
        self.fh.write(b"\x93NUMPY\x01\x00" + (NPY_HEADER - 10).to_bytes(2, "little"))
        self.fh.write(text + b" " * pad + b"\n")
        self.fh.seek(0, os.SEEK_END)


@contextmanager
def npy_rows(dest: str | os.PathLike[str], width: int, dtype: Any) -> Iterator[NpyRows]:
    """Stream rows into a `.npy` at `dest` atomically: `with npy_rows(p, 128, np.int32) as w:
    w.append(block)`; readable by `np.load` (memory-mapped too) once the block exits."""
    with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
        writer = NpyRows(fh, width, dtype)
        yield writer
        writer.finish()
