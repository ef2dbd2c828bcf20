"""The pool map: a 2-D layout of every pool document, computed once per pool and cached.

`compute_pool_map` embeds the pool with MiniLM (through `cached_embeddings`, sharing the file
`artifacts/embeddings/<pool>-minilm.npy` with the embedding and SemDeDup selectors), projects
the embeddings to 2-D and stores the layout as `artifacts/maps/<pool>-<hash16>-<method>.npy`,
keyed by the pool's content hash, with a `runs` row of kind "map". Row i of the layout is the
i-th document in ingest order (`ORDER BY row_idx`); the content hash ties the two together, so
a layout whose pool changed is never shown.

Projection: UMAP (`umap-learn`, cosine neighbours) when it is installed and the pool is at most
`UMAP_MAX_DOCS` documents; PCA (exact SVD of a seeded subsample, then all rows projected)
otherwise. Measured on one core of the 2-core CPU (384-d, 30 clusters): UMAP 20k docs 36 s,
100k docs 70 s (plus ~10 s of numba compilation on first use); PCA 100k docs 1 s. MiniLM ran
63 docs/s (~26 min for 100k documents), so the job's cost is the embedding.

`region_mask` turns a box/lasso selection (in layout coordinates) into a mask over all
documents, so a region's count never depends on how many points were drawn.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from data_catalog import atomic
from data_catalog.catalog import Catalog
from data_catalog.errors import InputError
from dsdm_engine.compute.embeddings import EmbedFn, MiniLMEmbedder, cached_embeddings
from dsdm_engine.progress import ProgressCallback, no_progress

METHODS = ("auto", "umap", "pca")
UMAP_MAX_DOCS = 200_000  # 100k took 70 s on one core; beyond this, PCA (seconds)
UMAP_MIN_DOCS = 50  # UMAP needs more points than neighbours; tiny pools get PCA
PCA_FIT_ROWS = 20_000
EMBED_BATCH = 512  # documents per progress report while embedding


@dataclass(frozen=True)
class PoolMap:
    """A stored layout: `xy[i]` is the i-th document of the pool in ingest order."""

    run_id: str
    pool_id: str
    content_hash: str
    method: str
    seed: int
    xy: np.ndarray


def umap_available() -> bool:
    return importlib.util.find_spec("umap") is not None


def resolve_method(method: str, n_docs: int) -> str:
    """ "auto" → UMAP for a pool UMAP handles quickly (and when installed), else PCA."""
    if method not in METHODS:
        raise InputError(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
    if method == "auto":
        fits = UMAP_MIN_DOCS <= n_docs <= UMAP_MAX_DOCS
        return "umap" if fits and umap_available() else "pca"
    if method == "umap" and not umap_available():
        raise InputError("--method umap needs the umap-learn package: pip install umap-learn")
    if method == "umap" and n_docs < UMAP_MIN_DOCS:
        raise InputError(f"--method umap needs at least {UMAP_MIN_DOCS} documents, not {n_docs}")
    return method


def layout_path(catalog: Catalog, pool_id: str, content_hash: str, method: str) -> Path:
    return catalog.layout.map_path(pool_id, content_hash, method)


def embeddings_path(catalog: Catalog, pool_id: str) -> Path:
    """The MiniLM cache the embedding selectors use too (see `stages.selection.run_selection`)."""
    return catalog.layout.embeddings_path(pool_id)


class _ReportingEmbedder:
    """Wraps an embedder to embed in batches and report progress; keeps its cache identity
    (`name`, `max_length`), so the cached file stays valid for the selectors and vice versa."""

    def __init__(self, inner: EmbedFn, progress: ProgressCallback) -> None:
        self.inner, self.progress = inner, progress
        self.name = getattr(inner, "name", "custom")
        if hasattr(inner, "max_length"):
            self.max_length = inner.max_length

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        parts = []
        for start in range(0, len(texts), EMBED_BATCH):
            parts.append(np.asarray(self.inner(texts[start : start + EMBED_BATCH]), np.float32))
            self.progress(min(start + EMBED_BATCH, len(texts)), len(texts), "embedding")
        return np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)


def project_2d(emb: np.ndarray, method: str, seed: int) -> np.ndarray:
    """(n, d) unit-norm embeddings → (n, 2) float32 coordinates scaled into [0, 1]²."""
    emb = np.asarray(emb, dtype=np.float32)
    n = len(emb)
    if n == 0:
        return np.zeros((0, 2), np.float32)
    if method == "umap":
        import umap  # imported here: numba start-up costs seconds

        reducer = umap.UMAP(
            n_components=2, n_neighbors=15, metric="cosine", random_state=seed, n_jobs=1
        )
        xy = reducer.fit_transform(emb)
    else:
        centre = emb.mean(axis=0)
        rng = np.random.default_rng(seed)
        fit = emb[rng.choice(n, PCA_FIT_ROWS, replace=False)] if n > PCA_FIT_ROWS else emb
        _, _, vt = np.linalg.svd(fit - centre, full_matrices=False)
        axes = vt[:2] if len(vt) >= 2 else np.vstack([vt, np.zeros_like(vt)])[:2]
        # SVD signs are arbitrary: fix them so the same pool always looks the same.
        axes = axes * np.where(axes[np.arange(2), np.abs(axes).argmax(1)] < 0, -1, 1)[:, None]
        xy = (emb - centre) @ axes.T
    xy = np.asarray(xy, dtype=np.float64)
    lo, span = xy.min(axis=0), np.ptp(xy, axis=0)
    return ((xy - lo) / np.where(span > 0, span, 1.0)).astype(np.float32)


def _config(pool_id: str, content_hash: str, method: str, seed: int, embedder: str) -> dict:
    return {
        "pool": pool_id,
        "content_hash": content_hash,
        "method": method,
        "seed": seed,
        "embedder": embedder,
    }


def compute_pool_map(
    catalog: Catalog,
    pool_id: str,
    *,
    method: str = "auto",
    seed: int = 0,
    embed_fn: EmbedFn | None = None,
    progress: ProgressCallback = no_progress,
    force: bool = False,
) -> PoolMap:
    """Embed (cached), project and store the layout of `pool_id`; a stored layout for the same
    pool content, method and seed is reused unless `force`."""
    pool = catalog.get_pool(pool_id)
    n_docs, content_hash = int(pool["n_docs"]), str(pool["content_hash"])
    method = resolve_method(method, n_docs)
    embed_fn = embed_fn or MiniLMEmbedder()
    config = _config(pool_id, content_hash, method, seed, getattr(embed_fn, "name", "custom"))
    config_hash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
    path = layout_path(catalog, pool_id, content_hash, method)
    run_id = f"map-{pool_id}-{config_hash[:12]}"
    if not force and path.exists():
        found = load_pool_map(catalog, pool_id, method=method, seed=seed)
        if found is not None:
            return found
    catalog.create_run(
        "map", config, config_hash, pool_id=pool_id, artifact_path=str(path), run_id=run_id
    )
    catalog.set_run_status(run_id, "running")
    try:
        ids, texts = [], []
        for batch in catalog.iter_documents(pool_id, columns="doc_id, text"):
            ids += list(batch["doc_id"])
            texts += list(batch["text"])
        emb = cached_embeddings(
            texts,
            _ReportingEmbedder(embed_fn, progress),
            embeddings_path(catalog, pool_id),
            ids=ids,
        )
        progress(0, 1, f"projecting {len(ids):,} documents with {method}")
        xy = project_2d(emb, method, seed)
        atomic.write_npy(path, xy)
        progress(1, 1, f"layout stored: {path.name}")
    except BaseException:
        catalog.set_run_status(run_id, "failed")
        raise
    catalog.set_run_status(run_id, "done")
    return PoolMap(run_id, pool_id, content_hash, method, seed, xy)


def load_pool_map(
    catalog: Catalog, pool_id: str, method: str | None = None, seed: int | None = None
) -> PoolMap | None:
    """The newest finished layout of the pool's current content (None when there is none)."""
    pool = catalog.pool(pool_id).as_dict()  # the record: no aggregates over its documents
    runs = catalog.list_runs("map")
    runs = runs[(runs["pool_id"] == pool_id) & (runs["status"] == "done")]
    for row in runs.iloc[::-1].to_dict("records"):
        config: dict[str, Any] = json.loads(row["config"])
        if config.get("content_hash") != pool["content_hash"]:
            continue
        if (method and config["method"] != method) or (seed is not None and config["seed"] != seed):
            continue
        path = Path(row["artifact_path"] or "")
        if not path.exists():
            continue
        xy = np.load(path)
        if xy.shape != (int(pool["n_docs"]), 2):
            continue
        return PoolMap(
            row["run_id"], pool_id, config["content_hash"], config["method"], config["seed"], xy
        )
    return None


# ------------------------------------------------------------------ regions
def region_mask(xy: np.ndarray, region: Mapping[str, Any]) -> np.ndarray:
    """Documents inside any of the region's shapes: `box` [(x0, x1, y0, y1), ...] and `lasso`
    [([x...], [y...]), ...] in layout coordinates (what a plotly selection event reports)."""
    x, y = xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64)
    inside = np.zeros(len(xy), dtype=bool)
    for x0, x1, y0, y1 in region.get("box", []):
        inside |= (x >= min(x0, x1)) & (x <= max(x0, x1)) & (y >= min(y0, y1)) & (y <= max(y0, y1))
    for xs, ys in region.get("lasso", []):
        inside |= _in_polygon(x, y, np.asarray(xs, np.float64), np.asarray(ys, np.float64))
    return inside


def _in_polygon(x: np.ndarray, y: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Even-odd rule, one vectorised pass per polygon edge."""
    inside = np.zeros(len(x), dtype=bool)
    if len(px) < 3:
        return inside
    # Only points inside the polygon's bounding box can be inside it: test those.
    near = (x >= px.min()) & (x <= px.max()) & (y >= py.min()) & (y <= py.max())
    xs, ys = x[near], y[near]
    hit = np.zeros(len(xs), dtype=bool)
    for i in range(len(px)):
        xi, yi, xj, yj = px[i], py[i], px[i - 1], py[i - 1]
        crosses = (yi > ys) != (yj > ys)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = (xj - xi) * (ys - yi) / (yj - yi) + xi
        hit ^= crosses & (xs < at)
    inside[near] = hit
    return inside
