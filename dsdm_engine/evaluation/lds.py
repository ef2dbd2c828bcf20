"""LDS of many predictors on one set of subset models, with bootstrap confidence intervals.

A *predictor* is anything that gives each pool document a number, higher = predicted to help
the target: a DsDm score run, a similarity baseline (embedding similarity, DSIR log-ratio,
classifier probability) or a trivial confound (token count). Its prediction for subset `S_j`
is `Σ_{i∈S_j} score_i`; the aggregate LDS is the Spearman correlation of that with the subset
model's mean target log-prob over `j` (method.md §6). Per-example LDS needs per-example scores
(DsDm's drill-down) and is the mean over target examples of the same correlation.

The 95% interval resamples subsets with replacement (seeded), so it says how much the LDS would
move with another draw of subset models of the same size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data_catalog.ranks import spearman
from dsdm_engine.evaluation.metrics import lds

N_BOOTSTRAP = 1000


@dataclass(frozen=True)
class Predictor:
    """Scores of one method for one task: (n,) for the task, and optionally (n, examples)."""

    name: str
    task_id: str
    scores: np.ndarray
    per_example: np.ndarray | None = None
    kind: str = "dsdm"  # dsdm | similarity | trivial


def bootstrap_ci(
    pred: np.ndarray, actual: np.ndarray, n_boot: int = N_BOOTSTRAP, seed: int = 0
) -> tuple[float, float]:
    """95% percentile interval of Spearman(pred, actual) over subsets resampled with replacement."""
    rng = np.random.default_rng([seed, 0xB007])
    m = len(pred)
    vals = []
    for _ in range(n_boot):
        idx = rng.integers(0, m, m)
        v = spearman(pred[idx], actual[idx])
        if np.isfinite(v):
            vals.append(v)
    if not vals:
        return float("nan"), float("nan")
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def lds_table(
    masks: np.ndarray,
    outcomes: dict[str, np.ndarray],
    predictors: list[Predictor],
    seed: int = 0,
    n_boot: int = N_BOOTSTRAP,
) -> pd.DataFrame:
    """One row per (predictor, split): aggregate LDS with its CI, and per-example LDS.

    `outcomes["<task_id>|<split>"]` is (m subsets, examples) mean completion log-probs.
    """
    x = np.asarray(masks, dtype=np.float64)
    rows = []
    for p in predictors:
        pred = x @ np.asarray(p.scores, dtype=np.float64)  # (m,)
        for split in ("selection", "heldout"):
            actual = outcomes[f"{p.task_id}|{split}"]
            agg = actual.mean(axis=1)
            per_ex = float("nan")
            if p.per_example is not None and split == "selection":
                per_ex = lds(x @ p.per_example[:, : actual.shape[1]], actual).mean
            lo, hi = bootstrap_ci(pred, agg, n_boot, seed)
            rows.append(
                {
                    "predictor": p.name,
                    "kind": p.kind,
                    "task_id": p.task_id,
                    "split": split,
                    "aggregate_lds": spearman(pred, agg),
                    "ci_lo": lo,
                    "ci_hi": hi,
                    "per_example_lds": per_ex,
                    "n_subsets": int(x.shape[0]),
                }
            )
    return pd.DataFrame(rows)


def replicate_agreement(by_replicate: np.ndarray) -> float:
    """Mean Spearman, over pairs of replicates, of the subsets' mean outcome: (r, m, examples)
    -> the test-retest agreement of one subset model's outcome (nan with one replicate)."""
    agg = np.asarray(by_replicate, dtype=np.float64).mean(axis=2)
    pairs = [
        spearman(agg[a], agg[b]) for a in range(len(agg)) for b in range(a + 1, len(agg))
    ]  # fmt: skip
    return float(np.mean(pairs)) if pairs else float("nan")


def lds_ceiling(agreement: float, replicates: int) -> float:
    """The LDS a perfect predictor of the expected outcome could reach against outcomes averaged
    over `replicates` models per subset, when one model's outcomes agree with another's at
    `agreement`: sqrt of the Spearman-Brown reliability (classical test theory; approximate
    for rank correlations)."""
    if not np.isfinite(agreement):
        return float("nan")
    rho = max(agreement, 0.0)
    return float(np.sqrt(replicates * rho / (1 + (replicates - 1) * rho)))


def noise_floor(
    outcomes: dict[str, np.ndarray],
    noise: dict[str, np.ndarray],
    replicates: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Seed noise vs subset signal of the mean target log-prob, per task and split.

    `seed_sd`: spread over models trained on subset 0 with different seeds (subset 0's own
    model included); `subset_sd`: spread over the subsets at the common seed. A ratio well
    below 1 means the protocol can see subset effects. With two replicates or more per subset,
    `replicate_spearman` is the agreement of one replicate's outcomes with another's over the
    subsets, and `lds_ceiling_1` / `lds_ceiling` the highest LDS any predictor could reach
    against one replicate / the mean of all of them.
    """
    rows = []
    for key, out in outcomes.items():
        task_id, split = key.split("|")
        agg = out.mean(axis=1)
        same = np.concatenate([[agg[0]], noise[key].mean(axis=1)]) if noise[key].size else agg[:1]
        seed_sd = float(np.std(same, ddof=1)) if len(same) > 1 else float("nan")
        subset_sd = float(np.std(agg, ddof=1))
        reps = (replicates or {}).get(key)
        n_rep = 1 if reps is None else len(reps)
        agree = replicate_agreement(reps) if n_rep > 1 else float("nan")
        rows.append(
            {
                "task_id": task_id,
                "split": split,
                "seed_sd": seed_sd,
                "subset_sd": subset_sd,
                "noise_ratio": seed_sd / subset_sd if subset_sd > 0 else float("nan"),
                "mean_logprob": float(agg.mean()),
                "replicates": n_rep,
                "replicate_spearman": agree,
                "lds_ceiling_1": lds_ceiling(agree, 1),
                "lds_ceiling": lds_ceiling(agree, n_rep),
            }
        )
    return pd.DataFrame(rows)
