"""The on-disk feature store: per-document rows as float16 with a float32 scale per row.

A pool's features are the largest thing a workspace holds (k values per document per ensemble
member). They are stored as ``features.npy`` (n, k) float16 holding ``φ_i / s_i`` and
``row_scale.npy`` (n,) float32 holding ``s_i = max_j |φ_ij| / 2¹⁴``, so every row uses the full
float16 range whatever its norm (whole-document features grow with document length) and keeps
about three significant digits per value: half the bytes of float32. Readers get float32 rows
back (`load_features`: a read-only memmap for float32 stores, `RowScaled` for float16 ones) and
accumulate in float32/float64 as before; stores written before this module (plain float32, no
``row_scale.npy``) read unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from data_catalog import atomic

STORES = ("float16", "float32")
_TOP = 2.0**14  # the largest |value| of a stored float16 row (float16 holds up to 65,504)
# Rows per step of the streamed mat-vec: at k = 2,040 the float16 and float32 copies of a block
# (2 + 4 MB) stay in the 32 MB L3 cache. 8,192-row blocks (33 + 67 MB) made both copies round
# trips through RAM: one member of 1M × 2,040 took 3.8 s against 1.7 s at 512 rows (measured
# with a validation beside it; 256 rows was as fast, 64 slower: Python per block).
MATMUL_ROWS = 512


def stream_threads() -> int:
    """Threads that stream a feature store side by side: at least 4, the machine's cores up to
    8. A store that is not in the page cache is read from disk, and parallel readers matter
    there: one member of 1M documents (4.2 GB) read at 1.3 GB/s with one reader, 1.9 with two,
    3.1 with four. Scoring 1M documents × 4 members from disk took 20.0 s with two threads
    and 11.1 s with four; from the page cache 2.8 s and 3.7 s (the 2-core machine). Python
    threads, not OpenMP ones: on a busy core they wait rather than spin."""
    import os

    return max(4, min(8, os.cpu_count() or 1))


def bytes_per_row(k: int, store: str) -> int:
    """Feature bytes per document per member, Q included."""
    return k * (2 if store == "float16" else 4) + (4 if store == "float16" else 0) + 4


class FeatureWriter:
    """Writes ``features.npy`` block by block (memory stays at one block), and for float16 its
    ``row_scale.npy``; use as a context manager: nothing is renamed into place on an error."""

    def __init__(self, out_dir: Path, n: int, k: int, store: str = "float16") -> None:
        if store not in STORES:
            raise ValueError(f"unknown feature store {store!r}; known: {', '.join(STORES)}")
        self.out_dir, self.n, self.k, self.store = Path(out_dir), n, k, store
        self.scales: list[np.ndarray] = []
        self.rows = 0

    def __enter__(self) -> FeatureWriter:
        self._ctx = atomic.atomic_path(self.out_dir / "features.npy")
        tmp = self._ctx.__enter__()
        self._fh: BinaryIO = open(tmp, "wb")
        dtype = np.float16 if self.store == "float16" else np.float32
        np.lib.format.write_array_header_1_0(
            self._fh,
            {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": (self.n, self.k)},
        )
        return self

    def write(self, rows: np.ndarray) -> None:
        """Append (b, k) rows (any float dtype)."""
        rows = np.asarray(rows, dtype=np.float64)
        if self.store == "float32":
            self._fh.write(rows.astype(np.float32).tobytes())
        else:
            peak = np.abs(rows).max(axis=1) if rows.size else np.zeros(len(rows))
            scale = np.where(peak > 0, peak / _TOP, 1.0).astype(np.float32)
            self._fh.write((rows / scale[:, None]).astype(np.float16).tobytes())
            self.scales.append(scale)
        self.rows += len(rows)

    def __exit__(self, et: Any, ev: Any, tb: Any) -> bool | None:
        self._fh.close()
        if et is None and self.rows != self.n:
            err = ValueError(f"wrote {self.rows} rows, expected {self.n}")
            self._ctx.__exit__(ValueError, err, None)  # the temp file is discarded
            raise err
        if et is None and self.store == "float16":
            scales = np.concatenate(self.scales) if self.scales else np.zeros(0, np.float32)
            atomic.write_npy(self.out_dir / "row_scale.npy", scales)
        return self._ctx.__exit__(et, ev, tb)


class RowScaled:
    """A float16 store read as float32 rows: ``store[a:b]`` -> (b − a, k) float32 = φ rows."""

    def __init__(self, values: np.ndarray, scale: np.ndarray) -> None:
        self.values, self.scale = values, np.asarray(scale, np.float32)
        self.shape: tuple[int, int] = tuple(values.shape)  # type: ignore[assignment]
        self.dtype = np.dtype(np.float32)
        self.ndim = 2

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        rows, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        out = _as_float32(self._read(rows))
        out *= np.asarray(self.scale[rows], np.float32)[..., None]
        if not rest:
            return out
        return out[rest] if out.ndim == 1 else out[(slice(None), *rest)]

    def matmul(
        self, w: np.ndarray, block: int = MATMUL_ROWS, threads: int | None = None
    ) -> np.ndarray:
        """Φ @ w for float32 w of shape (k,) or (k, c), streamed: blocks of rows are read from
        the file into a reused float16 buffer, cast into a reused float32 buffer, multiplied,
        and each row's scale is applied to the product (not to the rows).

        Blocks are small enough that both buffers stay in the CPU cache (`MATMUL_ROWS`), and
        `threads` (default `stream_threads()`) Python threads stream contiguous row ranges
        side by side: reads and torch kernels release the GIL. The thread count does not change
        the result."""
        import torch

        n, k = self.shape
        wt = torch.from_numpy(np.ascontiguousarray(w, np.float32))
        out = np.empty((n, *w.shape[1:]), np.float32)
        ot = torch.from_numpy(out)
        b = max(1, min(block, n))
        path = getattr(self.values, "filename", None)

        def rows(lo: int, hi: int) -> None:
            b16 = np.empty((b, k), np.float16)
            t16, t32 = torch.from_numpy(b16), torch.empty((b, k), dtype=torch.float32)
            with open(path, "rb", buffering=0) if path else _nothing() as f:
                if f is not None:
                    f.seek(int(self.values.offset) + lo * k * 2)
                for s in range(lo, hi, b):
                    m = min(b, hi - s)
                    if f is None:
                        b16[:m] = self.values[s : s + m]
                    else:
                        _read_into(f, b16[:m])
                    t32[:m].copy_(t16[:m])
                    torch.matmul(t32[:m], wt, out=ot[s : s + m])

        blocks = -(-n // b)
        parts = max(1, min(threads or stream_threads(), blocks))
        # Cut on block boundaries: every block holds the same rows whatever the thread count,
        # so the kernels see the same shapes and the result is bit-identical.
        cuts = [min(n, b * (blocks * i // parts)) for i in range(parts + 1)]
        if parts == 1:
            rows(0, n)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(parts) as ex:
                list(ex.map(rows, cuts[:-1], cuts[1:]))  # re-raises a part's error
        scale = np.asarray(self.scale, np.float32)
        out *= scale if out.ndim == 1 else scale[:, None]
        return out

    def _read(self, rows: Any) -> np.ndarray:
        """The stored float16 rows. A block of consecutive rows is read from the file rather
        than through the memmap: pages a process maps count in its RSS, so streaming a large
        store through the map made RSS grow with the pool (the page cache keeps them anyway)."""
        path = getattr(self.values, "filename", None)
        if not (isinstance(rows, slice) and rows.step in (None, 1) and path):
            return np.asarray(self.values[rows])
        start, stop, _ = rows.indices(self.shape[0])
        k = self.shape[1]
        with open(path, "rb") as f:
            f.seek(int(self.values.offset) + start * k * 2)
            got = np.fromfile(f, np.float16, count=max(stop - start, 0) * k)
        return got.reshape(-1, k)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def _read_into(f: BinaryIO, buf: np.ndarray) -> None:
    """Fill `buf` from the file's current position (raw reads may come back short)."""
    view, got = memoryview(buf.reshape(-1)).cast("B"), 0
    while got < len(view):
        n = f.readinto(view[got:])
        if not n:
            raise OSError(f"feature store ended early ({got} of {len(view)} bytes read)")
        got += n


def _as_float32(values: np.ndarray) -> np.ndarray:
    """float16 -> float32 (exact): torch's vectorised cast, ~4x numpy's on this CPU."""
    import torch

    if values.dtype != np.float16 or values.ndim == 0:
        return np.asarray(values, np.float32)
    values = np.ascontiguousarray(values)
    if not values.flags.writeable:  # a view of the read-only memmap (torch wants to own it)
        values = values.copy()
    return torch.from_numpy(values).float().numpy()


def load_features(out_dir: str | Path) -> np.ndarray | RowScaled:
    """A completed store's features as float32 rows (memmapped; float16 stores rescaled)."""
    out_dir = Path(out_dir)
    values = np.load(out_dir / "features.npy", mmap_mode="r")
    scale_path = out_dir / "row_scale.npy"
    if values.dtype == np.float16:
        return RowScaled(values, np.load(scale_path))
    return values


__all__ = ["STORES", "FeatureWriter", "RowScaled", "bytes_per_row", "load_features"]
