"""SemDeDup baseline (Abbas et al. 2023): drop semantic near-duplicates, then sample uniformly.

Pool embeddings are clustered with spherical faiss k-means (seeded). Within each cluster the
documents are ordered by cosine to their centroid, least typical first, and a document is dropped
when its cosine to any earlier document of the same cluster exceeds `threshold` (the SemDeDup
reference rule, which compares with earlier documents whether or not those were kept; it keeps
the least prototypical member of each duplicate group). The selection is then a uniform random
k of the kept documents (dropped ones are ineligible). Target-agnostic.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from dsdm_engine.compute.embeddings import EmbedFn, MiniLMEmbedder, cached_embeddings
from dsdm_engine.selectors.base import CatalogInputs, PoolView, Scored, Selector, rng_for


def kmeans_labels(
    emb: np.ndarray, n_clusters: int, seed: int, niter: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster label of each row and the unit-norm centroids (spherical k-means, seeded)."""
    x = np.ascontiguousarray(emb, dtype=np.float32)
    km = faiss.Kmeans(
        x.shape[1],
        n_clusters,
        niter=niter,
        seed=seed,
        spherical=True,
        verbose=False,
        min_points_per_centroid=1,
    )
    km.train(x)
    _, labels = km.index.search(x, 1)
    return labels[:, 0].astype(np.int64), km.centroids.copy()


def dedup_keep_mask(
    emb: np.ndarray,
    labels: np.ndarray,
    centroids: np.ndarray,
    threshold: float,
    block: int = 1024,
) -> np.ndarray:
    """True for the documents SemDeDup keeps (see the module docstring for the rule)."""
    keep = np.ones(emb.shape[0], dtype=bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if members.size < 2:
            continue
        typicality = emb[members] @ centroids[c]
        members = members[np.argsort(typicality, kind="stable")]  # least typical first
        vecs = emb[members]
        for start in range(1, members.size, block):  # column blocks bound memory to m × block
            stop = min(start + block, members.size)
            sims = vecs[:stop] @ vecs[start:stop].T  # (stop, stop - start) cosines
            earlier = np.arange(stop)[:, None] < np.arange(start, stop)[None, :]
            sims = np.where(earlier, sims, -np.inf)  # only earlier documents i < j count
            keep[members[start:stop][sims.max(axis=0) > threshold]] = False
    return keep


class SemDedupSelector(Selector):
    """Random k among the documents that survive semantic deduplication."""

    name = "semdedup"
    needs_target = False
    needs_task = False

    @classmethod
    def from_catalog(cls, inputs: CatalogInputs) -> tuple[Selector, dict[str, Any]]:
        """The pool's MiniLM embeddings are cached in the workspace and shared."""
        return cls(**{"cache_path": str(inputs.embeddings_path), **inputs.options}), {}

    def __init__(
        self,
        threshold: float = 0.95,
        n_clusters: int | None = None,
        niter: int = 20,
        embed_fn: EmbedFn | None = None,
        cache_path: str | Path | None = None,
    ) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise ValueError(f"threshold is a cosine in [-1, 1], got {threshold!r}")
        if n_clusters is not None and (not isinstance(n_clusters, int) or n_clusters < 1):
            raise ValueError(f"n_clusters must be a positive integer or None, got {n_clusters!r}")
        self.threshold = float(threshold)
        self.n_clusters = n_clusters
        self.niter = niter
        self.embed_fn = embed_fn if embed_fn is not None else MiniLMEmbedder()
        self.cache_path = cache_path

    def params(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "n_clusters": self.n_clusters,
            "niter": self.niter,
            "embedder": getattr(self.embed_fn, "name", "custom"),
        }

    def score(self, pool: PoolView, target: Sequence[str], seed: int) -> Scored:
        emb = cached_embeddings(pool.texts, self.embed_fn, self.cache_path, ids=pool.ids)
        n = len(pool)
        n_clusters = self.n_clusters or max(1, round(np.sqrt(n)))
        n_clusters = min(n_clusters, n)
        km_seed = int(rng_for(seed, "semdedup-kmeans").integers(2**31 - 1))
        labels, centroids = kmeans_labels(emb, n_clusters, km_seed, self.niter)
        keep = dedup_keep_mask(emb, labels, centroids, self.threshold)
        n_kept = int(keep.sum())
        info = {"n_clusters_used": n_clusters, "n_kept": n_kept, "n_dropped": n - n_kept}
        return Scored(rng_for(seed, "semdedup-sample").random(n), eligible=keep, info=info)
