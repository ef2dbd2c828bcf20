"""How well the lowest DsDm scores find planted bad documents (method.md §7): AUROC, precision@k.

Positives are documents whose metadata has ``planted`` (one label or all); for one label,
documents planted with *other* labels are left out (neither positive nor clean). precision@k
uses k = number of positives unless given (R-precision).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from data_catalog.catalog import Catalog
from data_catalog.errors import InputError, NotFoundError


def planted_labels(catalog: Catalog, pool_id: str) -> np.ndarray:
    """``metadata.planted`` of every pool document in pool order (None where not planted)."""
    return _labels_and_sources(catalog, pool_id)[0]


def _labels_and_sources(catalog: Catalog, pool_id: str) -> tuple[np.ndarray, np.ndarray]:
    labels: list[Any] = []
    sources: list[str] = []
    for df in catalog.iter_documents(pool_id, columns="doc_id, source, metadata"):
        sources += list(df["source"])
        for meta in df["metadata"]:
            d = json.loads(meta) if isinstance(meta, str) and meta else {}
            labels.append(d.get("planted") if isinstance(d, dict) else None)
    return np.asarray(labels, dtype=object), np.asarray(sources, dtype=object)


def _run_scores(catalog: Catalog, scores_run_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    run = catalog.get_run(scores_run_id)
    scores = catalog.scores(scores_run_id, run["task_id"])["score"].to_numpy()
    labels, sources = _labels_and_sources(catalog, run["pool_id"])
    if labels.size != scores.size:
        raise InputError(f"scores run {scores_run_id} does not cover pool {run['pool_id']}")
    return scores, labels, sources


def planted_metrics(
    catalog: Catalog, scores_run_id: str, label: str | None = None, k: int | None = None
) -> dict[str, Any]:
    """AUROC and precision@k with which the lowest DsDm scores find planted documents.

    `label` None = every planted label against the clean documents; a label = that label's
    documents against the clean ones (other planted labels left out). Also
    ``auroc_same_source``: against clean documents of the planted ones' own sources only (e.g.
    wrong-answer QA documents against correct QA documents of the same format), or NaN when
    no clean document shares a source with them.
    """
    scores, labels, sources = _run_scores(catalog, scores_run_id)
    return _planted(scores, labels, sources, label, k)


def _planted(
    scores: np.ndarray, labels: np.ndarray, sources: np.ndarray, label: str | None, k: int | None
) -> dict[str, Any]:
    from dsdm_engine.evaluation.metrics import auroc, precision_at_k

    is_planted = np.array([lab is not None for lab in labels])
    pos = is_planted if label is None else np.array([lab == label for lab in labels])
    keep = pos | ~is_planted
    s, y = scores[keep], pos[keep]
    n_pos = int(y.sum())
    if n_pos == 0:
        known = sorted({str(lab) for lab in labels if lab is not None})
        raise NotFoundError(f"no documents planted as {label or 'anything'} (labels: {known})")
    kk = min(int(k or n_pos), s.size)
    same = keep & np.isin(sources, np.unique(sources[pos]))
    return {
        "label": label or "all",
        "n_planted": n_pos,
        "n_clean": int((~y).sum()),
        "auroc": auroc(s, y),
        "k": kk,
        "precision_at_k": precision_at_k(s, y, kk),
        "base_rate": n_pos / s.size,
        "auroc_same_source": auroc(scores[same], pos[same]),
        "n_clean_same_source": int((same & ~pos).sum()),
    }


def planted_table(catalog: Catalog, scores_run_id: str) -> pd.DataFrame:
    """`planted_metrics` for all planted documents together and for each label."""
    scores, labels, sources = _run_scores(catalog, scores_run_id)
    names = sorted({str(lab) for lab in labels if lab is not None})
    if not names:
        return pd.DataFrame(columns=["label", "n_planted", "auroc", "precision_at_k"])
    return pd.DataFrame([_planted(scores, labels, sources, lab, None) for lab in [None, *names]])


def planted_effect(
    masks: np.ndarray,
    outcome: np.ndarray,
    labels: np.ndarray,
    n_tokens: np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Does a planted label hurt at this scale? Per label, the least-squares slope of the subset
    models' target loss on the label's token share of their training subset, with a 95%
    bootstrap CI over subsets (seeded).

    ``masks`` (m, n) marks each subset's documents, ``outcome`` (m,) is each subset model's
    mean target loss (lower = better), ``labels`` (n,) each document's planted label (None when
    clean), ``n_tokens`` (n,) each document's length. The effect is the loss change per unit of
    share (0 → 100% of the tokens): positive = the label raises the target loss.
    """
    masks = np.asarray(masks, dtype=bool)
    y = np.asarray(outcome, dtype=np.float64)
    tokens = np.asarray(n_tokens, dtype=np.float64)
    total = masks.astype(np.float64) @ tokens
    rng = np.random.default_rng(seed)
    boot = rng.integers(0, len(y), size=(n_boot, len(y)))
    out: dict[str, dict[str, Any]] = {}
    for label in sorted({str(v) for v in labels if v}):
        share = (masks.astype(np.float64) @ (tokens * (labels == label))) / total
        slope = _slope(share, y)
        draws = np.array([_slope(share[b], y[b]) for b in boot])
        draws = draws[np.isfinite(draws)]
        lo, hi = np.quantile(draws, [0.025, 0.975]) if draws.size else (np.nan, np.nan)
        out[label] = {
            "effect": float(slope),
            "ci": [float(lo), float(hi)],
            "mean_share": float(share.mean()),
            "share_sd": float(share.std()),
        }
    return out


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    dx = x - x.mean()
    denom = float(dx @ dx)
    return float(dx @ (y - y.mean()) / denom) if denom > 0 else float("nan")
