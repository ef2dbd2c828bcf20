"""Pure metrics for comparing selections and judging scores (numpy/pandas only, no I/O).

- `overlap_at_k`: Jaccard overlap of the top-k ids of several selections;
- `rankdata`, `spearman`: rank correlation with average ranks for ties (no scipy needed);
- `composition`: per-source share of a selection, next to the pool's;
- `compute_multiplier`: how much more random data reaches the same held-out loss (§5);
- `lds`, `subset_predictions`, `aggregate_lds`: linear datamodeling score (§6);
- `auroc`, `precision_at_k`: how well the lowest scores find planted harmful documents (§7).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from data_catalog.ranks import rankdata, spearman
from data_catalog.records import Selection


def _labelled(selections: Mapping[str, Selection] | Sequence[Selection]) -> dict[str, Selection]:
    if isinstance(selections, Mapping):
        return dict(selections)
    out: dict[str, Selection] = {}
    for sel in selections:
        label, i = sel.method, 2
        while label in out:  # two selections of one method: method, method#2, ...
            label, i = f"{sel.method}#{i}", i + 1
        out[label] = sel
    return out


def overlap_at_k(
    selections: Mapping[str, Selection] | Sequence[Selection], k: int | None = None
) -> pd.DataFrame:
    """Jaccard |A∩B| / |A∪B| between the first `k` ids of every pair of selections.

    `k=None` uses every id of each selection; a selection shorter than `k` contributes all its
    ids. Labels are the mapping keys, or the method names (`method#2` for repeats).
    """
    if k is not None and k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    labelled = _labelled(selections)
    sets = {name: set(sel.ids[:k]) for name, sel in labelled.items()}
    names = list(sets)
    mat = np.ones((len(names), len(names)))
    for a, na in enumerate(names):
        for b, nb in enumerate(names):
            union = sets[na] | sets[nb]
            mat[a, b] = len(sets[na] & sets[nb]) / len(union) if union else 1.0
    return pd.DataFrame(mat, index=names, columns=names)


def composition(
    selection: Selection | Sequence[str],
    ids: Sequence[str],
    sources: Sequence[str],
    n_tokens: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per-source counts and shares of a selection, next to the pool's shares.

    `ids`, `sources`, `n_tokens` describe the pool (a `PoolView`'s columns). Columns: source,
    n_docs, frac_docs, pool_frac_docs and, with `n_tokens`, n_tokens, frac_tokens,
    pool_frac_tokens. One row per pool source (zeros where the selection has none), sorted.
    """
    sel_ids = selection.ids if isinstance(selection, Selection) else tuple(selection)
    index = {doc_id: i for i, doc_id in enumerate(ids)}
    missing = [i for i in sel_ids if i not in index]
    if missing:
        raise ValueError(f"{len(missing)} selected ids are not in the pool, e.g. {missing[:5]}")
    rows = np.array([index[i] for i in sel_ids], dtype=np.int64)
    src = np.asarray(sources, dtype=object)
    pool = pd.DataFrame({"source": src, "n_docs": 1})
    chosen = pd.DataFrame({"source": src[rows], "n_docs": 1})
    if n_tokens is not None:
        tok = np.asarray(n_tokens, dtype=np.int64)
        pool["n_tokens"] = tok
        chosen["n_tokens"] = tok[rows]
    pool_tot = pool.groupby("source").sum()
    sel_tot = chosen.groupby("source").sum().reindex(pool_tot.index, fill_value=0)
    out = pd.DataFrame(index=pool_tot.index)
    for col in [c for c in ("n_docs", "n_tokens") if c in pool_tot]:
        out[col] = sel_tot[col].astype(np.int64)
        total = sel_tot[col].sum()
        out["frac_" + col[2:]] = sel_tot[col] / total if total else 0.0
        out["pool_frac_" + col[2:]] = pool_tot[col] / pool_tot[col].sum()
    return out.reset_index().sort_values("source", ignore_index=True)


@dataclass(frozen=True)
class Multiplier:
    """Compute multiplier of a method against random.

    `value`: budget random needs to match the method's loss, divided by the method's budget.
    `bound`: "exact" when the loss lies on random's measured curve; "at_least" when the method
    beats random's largest budget (value = largest budget / method budget, a lower bound);
    "at_most" when it is worse than random's smallest budget (an upper bound).
    """

    value: float
    bound: str
    matched_budget: float


def compute_multiplier(
    random_budgets: Sequence[float],
    random_losses: Sequence[float],
    method_loss: float,
    method_budget: float,
    outside: str = "bound",
) -> Multiplier:
    """How many times more random data reaches `method_loss`, interpolating in log budget.

    Random's curve is made monotone first (running minimum of the loss over increasing budget:
    more data never counts as worse), then the smallest budget reaching `method_loss` is found
    by linear interpolation of log(budget) against loss between the two bracketing points.
    Outside the curve, `outside="bound"` returns the curve's end as a bound with a flag
    (see `Multiplier`); `outside="nan"` returns NaN there. No extrapolation past the curve.
    """
    if outside not in ("bound", "nan"):
        raise ValueError(f"outside must be 'bound' or 'nan', got {outside!r}")
    b = np.asarray(random_budgets, dtype=np.float64)
    loss = np.asarray(random_losses, dtype=np.float64)
    if b.shape != loss.shape or b.ndim != 1 or b.size < 1:
        raise ValueError("random_budgets and random_losses must be equal-length, non-empty vectors")
    if (b <= 0).any() or method_budget <= 0:
        raise ValueError("budgets must be positive (the curve is interpolated in log budget)")
    if not np.isfinite(loss).all() or not math.isfinite(method_loss):
        raise ValueError("losses must be finite")
    order = np.argsort(b)
    b, loss = b[order], np.minimum.accumulate(loss[order])
    if method_loss < loss[-1]:
        if outside == "nan":
            return Multiplier(math.nan, "at_least", math.nan)
        return Multiplier(b[-1] / method_budget, "at_least", float(b[-1]))
    if method_loss > loss[0]:
        if outside == "nan":
            return Multiplier(math.nan, "at_most", math.nan)
        return Multiplier(b[0] / method_budget, "at_most", float(b[0]))
    j = int(np.flatnonzero(loss <= method_loss)[0])  # first budget reaching the loss
    if j == 0 or loss[j] == method_loss:
        matched = b[j]
    else:
        frac = (loss[j - 1] - method_loss) / (loss[j - 1] - loss[j])
        matched = math.exp(math.log(b[j - 1]) + frac * (math.log(b[j]) - math.log(b[j - 1])))
    return Multiplier(float(matched / method_budget), "exact", float(matched))


def subset_predictions(masks: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Datamodel predictions `g_j = Σ_{i∈S_j} τ_i`: (m subsets × n) @ (n [× targets])."""
    masks = np.asarray(masks, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if masks.ndim != 2 or masks.shape[1] != scores.shape[0]:
        raise ValueError(f"masks {masks.shape} and scores {scores.shape} do not align")
    return masks @ scores


@dataclass(frozen=True)
class LdsResult:
    """LDS averaged over targets (NaN-skipping), the per-target values, and how many counted."""

    mean: float
    per_target: np.ndarray
    n_valid: int


def lds(predicted: np.ndarray, actual: np.ndarray) -> LdsResult:
    """Linear datamodeling score: per target, Spearman over subsets of predicted vs actual.

    Both are (m subsets × n targets) and must measure the same "goodness" (e.g. predicted
    helpfulness and actual log-prob, both higher = better), or the sign flips. A target whose
    actual or predicted values are constant over subsets gets NaN and is left out of the mean.
    """
    p, a = np.asarray(predicted, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    if p.ndim == 1:
        p, a = p[:, None], a[:, None]
    if p.shape != a.shape:
        raise ValueError(f"predicted {p.shape} and actual {a.shape} must have the same shape")
    per = np.array([spearman(p[:, t], a[:, t]) for t in range(p.shape[1])])
    valid = ~np.isnan(per)
    mean = float(per[valid].mean()) if valid.any() else math.nan
    return LdsResult(mean, per, int(valid.sum()))


def aggregate_lds(masks: np.ndarray, task_scores: np.ndarray, actual_mean: np.ndarray) -> float:
    """DsDm's aggregate LDS: Spearman of `1_{S_j}ᵀ score_task` vs the true mean target log-prob."""
    return spearman(subset_predictions(masks, task_scores), np.asarray(actual_mean, dtype=float))


def _check_labels(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores {s.shape} and labels {y.shape} must be equal-length vectors")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    return s, y.astype(bool)


def auroc(scores: np.ndarray, planted: np.ndarray, lowest_first: bool = True) -> float:
    """AUROC of finding `planted` documents by score (rank-based, ties count one half).

    With `lowest_first=True` (harmful-data search) a lower score means "more likely planted".
    Equals P(score of a random planted doc ranks before a random clean one). NaN if one class
    is empty.
    """
    s, y = _check_labels(scores, planted)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    r = rankdata(-s if lowest_first else s)  # higher rank = more suspicious
    return float((r[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def precision_at_k(
    scores: np.ndarray, planted: np.ndarray, k: int, lowest_first: bool = True
) -> float:
    """Fraction of planted documents among the k lowest (or highest) scores.

    Ties at the cut-off are broken by pool order (stable sort), so the value is deterministic.
    """
    s, y = _check_labels(scores, planted)
    if not 0 < k <= s.size:
        raise ValueError(f"k must be in 1..{s.size}, got {k}")
    order = np.argsort(s if lowest_first else -s, kind="stable")
    return float(y[order[:k]].mean())


def compute_multipliers(
    summary: pd.DataFrame, baseline: str = "random", by: str = "method"
) -> pd.DataFrame:
    """Compute multiplier of every method (at each budget) against the baseline's curve per task.

    Columns: task_id, method, budget_tokens, loss, multiplier, bound, matched_budget
    (see `metrics.compute_multiplier`; bound "at_least"/"at_most" when off random's curve).
    """
    rows = []
    for task, grp in summary.groupby("task_id", sort=True):
        base = grp[grp[by] == baseline].sort_values("budget_tokens")
        if base.empty:
            continue
        for r in grp[grp[by] != baseline].itertuples():
            m = compute_multiplier(
                base["budget_tokens"].to_numpy(), base["loss"].to_numpy(), r.loss, r.budget_tokens
            )
            rows.append(
                {
                    "task_id": task,
                    "method": getattr(r, by),
                    "budget_tokens": r.budget_tokens,
                    "loss": r.loss,
                    "multiplier": m.value,
                    "bound": m.bound,
                    "matched_budget": m.matched_budget,
                }
            )
    cols = ["task_id", "method", "budget_tokens", "loss", "multiplier", "bound", "matched_budget"]
    return pd.DataFrame(rows, columns=cols)


def headline_multipliers(mult: pd.DataFrame) -> dict[str, dict[str, float]]:
    """One number per (task, method): the geometric mean of its per-budget multipliers."""
    out: dict[str, dict[str, float]] = {}
    for (task, method), grp in mult.groupby(["task_id", "method"], sort=True):
        vals = grp["multiplier"].to_numpy(dtype=float)
        vals = vals[np.isfinite(vals) & (vals > 0)]
        out.setdefault(str(task), {})[str(method)] = (
            float(np.exp(np.log(vals).mean())) if vals.size else math.nan
        )
    return out
