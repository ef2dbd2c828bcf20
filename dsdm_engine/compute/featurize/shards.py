"""Streaming featurisation of a pool in shards, with per-shard completion markers.

Layout of a featurisation folder (one per model × featuriser config)::

    meta.json                       what was featurised (config, model and data fingerprints)
    shards/00000.features.npy       (rows, k) float32   written to a temp name, fsynced, renamed
    shards/00000.q.npy              (rows,)   float32
    shards/00000.done               marker (JSON: rows, checksums), written last
    features.npy, q.npy, COMPLETE   the assembled (n, k) store (`store.py`: float16 rows with
    row_scale.npy, or float32) and Q (n,), after every shard

A killed run leaves only complete shards (a shard without its marker is redone), so a resumed run
gives a bit-identical result: each shard depends only on its own rows and batches never straddle
shard boundaries. `run_shard` is the unit a distributed executor (e.g. Ray tasks) would call.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from data_catalog import atomic
from dsdm_engine.compute.featurize.base import Batch, Featurizer
from dsdm_engine.compute.featurize.store import FeatureWriter, load_features
from dsdm_engine.progress import ProgressCallback, no_progress


def data_fingerprint(input_ids: np.ndarray) -> str:
    """sha256 of the token array (shape, dtype and bytes), streamed in row blocks."""
    h = hashlib.sha256(f"{input_ids.shape}{np.dtype(input_ids.dtype).str}".encode())
    for s in range(0, input_ids.shape[0], 8192):
        h.update(np.ascontiguousarray(input_ids[s : s + 8192]).tobytes())
    return h.hexdigest()


def _atomic_save_npy(path: Path, arr: np.ndarray) -> str:
    atomic.write_npy(path, arr)
    return hashlib.sha256(arr.tobytes()).hexdigest()


def shard_bounds(n: int, shard_size: int) -> list[tuple[int, int]]:
    return [(s, min(n, s + shard_size)) for s in range(0, n, shard_size)]


def _check_meta(out_dir: Path, meta: dict) -> None:
    path = out_dir / "meta.json"
    if path.exists():
        old = json.loads(path.read_text())
        if old != meta:
            diff = sorted(k for k in set(old) | set(meta) if old.get(k) != meta.get(k))
            raise ValueError(
                f"{out_dir} holds a featurisation with different settings ({', '.join(diff)}); "
                "use a new folder or delete it"
            )
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(path, json.dumps(meta, indent=1, sort_keys=True).encode())


def run_shard(
    featurizer: Featurizer,
    input_ids: np.ndarray,
    out_dir: Path,
    index: int,
    shard_size: int,
    batch_size: int,
) -> bool:
    """Featurise shard `index` unless its marker exists. Returns True when it did work."""
    shards = Path(out_dir) / "shards"
    shards.mkdir(parents=True, exist_ok=True)
    marker = shards / f"{index:05d}.done"
    if marker.exists():
        return False
    start, stop = shard_bounds(input_ids.shape[0], shard_size)[index]
    feats = np.empty((stop - start, featurizer.k), dtype=np.float32)  # (rows, k)
    qs = np.empty(stop - start, dtype=np.float32)
    for b in range(start, stop, batch_size):
        e = min(stop, b + batch_size)
        f, q = featurizer.featurize(Batch.from_arrays(input_ids[b:e], device=featurizer.device))
        feats[b - start : e - start], qs[b - start : e - start] = f, q
    sha_f = _atomic_save_npy(shards / f"{index:05d}.features.npy", feats)
    sha_q = _atomic_save_npy(shards / f"{index:05d}.q.npy", qs)
    atomic.fsync_dir(shards)  # the renames are durable before the marker claims the shard
    info = {
        "index": index,
        "start": start,
        "stop": stop,
        "features_sha256": sha_f,
        "q_sha256": sha_q,
    }
    atomic.write_bytes(marker, json.dumps(info).encode())
    return True


def prepare_shards(
    featurizer: Featurizer,
    input_ids: np.ndarray,
    out_dir: str | Path,
    shard_size: int,
    batch_size: int,
    meta: dict | None = None,
) -> list[int]:
    """Record (or check) what the folder featurises; returns the shards still to do. What a
    distributed executor calls before running `run_shard` on those indices elsewhere."""
    out_dir = Path(out_dir)
    full_meta = {
        "featurizer": featurizer.name,
        "k": featurizer.k,
        "n": int(input_ids.shape[0]),
        "seq_len": int(input_ids.shape[1]),
        "shard_size": shard_size,
        "batch_size": batch_size,
        "data_sha256": data_fingerprint(input_ids),
        **(meta or {}),
    }
    _check_meta(out_dir, full_meta)
    if (out_dir / "COMPLETE").exists():
        return []
    bounds = shard_bounds(int(input_ids.shape[0]), shard_size)
    return [i for i in range(len(bounds)) if not (out_dir / "shards" / f"{i:05d}.done").exists()]


def featurize_pool(
    featurizer: Featurizer,
    input_ids: np.ndarray,
    out_dir: str | Path,
    *,
    shard_size: int = 1024,
    batch_size: int = 16,
    meta: dict | None = None,
    progress: ProgressCallback = no_progress,
    keep_shards: bool = False,
    store: str = "float32",
) -> tuple[np.ndarray, np.ndarray]:
    """Featurise pool chunks (n, T) into `out_dir`, resuming from completed shards.

    `meta` (e.g. model checkpoint hash, featuriser config) is stored and must match on resume.
    Shards are float32; the assembled features are stored as `store` (float16 halves the bytes)
    and read back as float32 rows: returns features (n, k) and Q (n,) float32.
    The progress callback gets (rows done, n, message) after every shard and may raise
    `Cancelled`; completed shards stay on disk.
    """
    out_dir = Path(out_dir)
    n = int(input_ids.shape[0])
    prepare_shards(featurizer, input_ids, out_dir, shard_size, batch_size, meta)
    if (out_dir / "COMPLETE").exists():
        return load_pool_features(out_dir)
    bounds = shard_bounds(n, shard_size)
    done_rows = sum(
        e - s for i, (s, e) in enumerate(bounds) if (out_dir / "shards" / f"{i:05d}.done").exists()
    )
    skipped = done_rows
    t0, worked = time.monotonic(), 0
    progress(done_rows, n, f"resuming: {skipped} of {n} rows already featurised" if skipped else "")
    for i, (s, e) in enumerate(bounds):
        if run_shard(featurizer, input_ids, out_dir, i, shard_size, batch_size):
            done_rows += e - s
            worked += e - s
            rate = worked / max(time.monotonic() - t0, 1e-9)
            progress(done_rows, n, f"shard {i + 1}/{len(bounds)}, {rate:.1f} seq/s")
    return _assemble(out_dir, bounds, featurizer.k, keep_shards, store)


def _assemble(
    out_dir: Path, bounds: list[tuple[int, int]], k: int, keep_shards: bool, store: str
) -> tuple[np.ndarray, np.ndarray]:
    n = bounds[-1][1] if bounds else 0
    shards = out_dir / "shards"
    qs = np.empty(n, dtype=np.float32)
    # Plain appends rather than a writable memmap: mapped dirty pages would count toward RSS and
    # grow with n; this way memory stays at one shard however large the pool.
    with FeatureWriter(out_dir, n, k, store) as writer:
        for i, (s, e) in enumerate(bounds):
            arr = np.load(shards / f"{i:05d}.features.npy")
            if arr.shape != (e - s, k):
                raise ValueError(f"shard {i} has shape {arr.shape}, expected {(e - s, k)}")
            writer.write(arr)
            qs[s:e] = np.load(shards / f"{i:05d}.q.npy")
    _atomic_save_npy(out_dir / "q.npy", qs)
    atomic.fsync_dir(out_dir)
    atomic.write_bytes(out_dir / "COMPLETE", b"ok\n")
    if not keep_shards:  # the features are complete: leftovers must not fail the run
        shutil.rmtree(shards, ignore_errors=True)
    return load_pool_features(out_dir)


def load_pool_features(out_dir: str | Path) -> tuple[Any, np.ndarray]:
    """Features (n, k) as float32 rows (a read-only memmap, or `RowScaled` over a float16
    store), and Q (n,), of a completed featurisation."""
    out_dir = Path(out_dir)
    if not (out_dir / "COMPLETE").exists():
        raise FileNotFoundError(f"{out_dir} has no completed featurisation (no COMPLETE marker)")
    return load_features(out_dir), np.load(out_dir / "q.npy")


def featurize_targets(
    featurizer: Featurizer,
    input_ids: np.ndarray,
    loss_mask: np.ndarray,
    attention_mask: np.ndarray | None = None,
    *,
    batch_size: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """Features (m, k) and Q (m,) of target examples (padded arrays; loss on completions only)."""
    m = int(input_ids.shape[0])
    feats = np.empty((m, featurizer.k), dtype=np.float32)
    qs = np.empty(m, dtype=np.float32)
    for b in range(0, m, batch_size):
        e = min(m, b + batch_size)
        att = None if attention_mask is None else attention_mask[b:e]
        batch = Batch.from_arrays(input_ids[b:e], loss_mask[b:e], att, device=featurizer.device)
        feats[b:e], qs[b:e] = featurizer.featurize(batch)
    return feats, qs
