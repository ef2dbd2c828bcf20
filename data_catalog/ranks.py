"""Rank statistics, defined once: average ranks, percentiles, z-scores and Spearman correlation.

They live at the bottom layer because the catalog stores a percentile and a z-score with every
score, and the engine (scoring, LDS, seed agreement) must mean exactly the same thing by them.
Percentile: 100 · (average rank − 1) / (n − 1), so the lowest score is 0 and the highest 100.
"""

from __future__ import annotations

import math

import numpy as np


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n; ties get the average of the ranks they span (scipy's 'average')."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"rankdata needs a vector, got shape {x.shape}")
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.flatnonzero(np.concatenate([[True], xs[1:] != xs[:-1]]))  # groups of equal values
    ends = np.concatenate([starts[1:], [x.size]])
    ranks = np.empty(x.size)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def percentiles(scores: np.ndarray) -> np.ndarray:
    """Percentile rank in [0, 100] of each score (ties share their mean rank)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.size <= 1:
        return np.full(s.shape, 100.0)
    return 100.0 * (rankdata(s) - 1.0) / (s.size - 1)


def zscores(scores: np.ndarray) -> np.ndarray:
    """(s − mean) / std (all zeros when constant): the per-task scale before mixing tasks."""
    s = np.asarray(scores, dtype=np.float64)
    sd = s.std()
    return (s - s.mean()) / sd if sd > 0 else np.zeros_like(s)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (Pearson on average ranks); NaN when either side is constant."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"spearman needs two vectors of equal length, got {a.shape}, {b.shape}")
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValueError("spearman inputs contain NaN")
    if a.size < 2:
        return math.nan
    ra, rb = rankdata(a) - (a.size + 1) / 2, rankdata(b) - (b.size + 1) / 2
    denom = math.sqrt(float(ra @ ra) * float(rb @ rb))
    return float(ra @ rb) / denom if denom > 0 else math.nan
