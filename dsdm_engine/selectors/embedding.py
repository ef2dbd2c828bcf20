"""Embedding-similarity baseline: cosine similarity of sentence embeddings to the target.

Two variants:
- `centroid`: score = cosine between the document and the normalised mean target embedding;
- `knn`: every target example votes for its `knn_k` nearest pool documents (exact search with a
  faiss `IndexFlatIP` over the unit-norm pool embeddings); score = votes + (1 + c) / 4, where c
  is the document's cosine to its nearest target example, so votes dominate (the fraction is in
  [0, 0.5]) and the nearest-target cosine breaks ties and orders the unvoted documents.
Default rule: deterministic top-k.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from dsdm_engine.compute.embeddings import (
    EmbedFn,
    MiniLMEmbedder,
    cached_embeddings,
    normalize_rows,
)
from dsdm_engine.selectors.base import CatalogInputs, PoolView, Scored, Selector

VARIANTS = ("centroid", "knn")


def centroid_scores(pool_emb: np.ndarray, target_emb: np.ndarray) -> np.ndarray:
    """Cosine of each pool row to the normalised target centroid."""
    centroid = normalize_rows(target_emb.mean(axis=0, keepdims=True))[0]
    return pool_emb @ centroid


def knn_vote_scores(pool_emb: np.ndarray, target_emb: np.ndarray, knn_k: int) -> np.ndarray:
    """Votes from each target's `knn_k` nearest pool rows, plus a nearest-target tie-break."""
    n, d = pool_emb.shape
    pool_index = faiss.IndexFlatIP(d)
    pool_index.add(np.ascontiguousarray(pool_emb, dtype=np.float32))
    _, nbrs = pool_index.search(np.ascontiguousarray(target_emb, dtype=np.float32), min(knn_k, n))
    nbrs = nbrs[nbrs >= 0]
    votes = np.bincount(nbrs, minlength=n).astype(np.float64)
    target_index = faiss.IndexFlatIP(d)
    target_index.add(np.ascontiguousarray(target_emb, dtype=np.float32))
    nearest, _ = target_index.search(np.ascontiguousarray(pool_emb, dtype=np.float32), 1)
    return votes + (1.0 + nearest[:, 0].astype(np.float64)) / 4.0


class EmbeddingSelector(Selector):
    """Top-k by embedding similarity to the target examples."""

    name = "embedding"

    @classmethod
    def from_catalog(cls, inputs: CatalogInputs) -> tuple[Selector, dict[str, Any]]:
        """The pool's MiniLM embeddings are cached in the workspace and shared."""
        return cls(**{"cache_path": str(inputs.embeddings_path), **inputs.options}), {}

    def __init__(
        self,
        variant: str = "centroid",
        knn_k: int = 10,
        embed_fn: EmbedFn | None = None,
        cache_path: str | Path | None = None,
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown embedding variant {variant!r}; known: {', '.join(VARIANTS)}")
        if not isinstance(knn_k, int) or knn_k < 1:
            raise ValueError(f"knn_k must be a positive integer, got {knn_k!r}")
        self.variant = variant
        self.knn_k = knn_k
        self.embed_fn = embed_fn if embed_fn is not None else MiniLMEmbedder()
        self.cache_path = cache_path

    def params(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "knn_k": self.knn_k,
            "embedder": getattr(self.embed_fn, "name", "custom"),
        }

    def score(self, pool: PoolView, target: Sequence[str], seed: int) -> Scored:
        pool_emb = cached_embeddings(pool.texts, self.embed_fn, self.cache_path, ids=pool.ids)
        target_emb = normalize_rows(self.embed_fn(list(target)))
        if self.variant == "centroid":
            return Scored(centroid_scores(pool_emb, target_emb).astype(np.float64))
        return Scored(knn_vote_scores(pool_emb, target_emb, self.knn_k))
