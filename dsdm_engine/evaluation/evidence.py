""" "Should I trust these scores for this target?" — one verdict from a validation's LDS rows.

`dsdm validate` stores, per target, the held-out aggregate LDS (with its 95% CI) of every DsDm
scores run and of every similarity predictor on the same subset models. The verdict compares
them the way the README does: the DsDm scores are *trusted* for a target when their held-out
LDS CI lies above zero and no similarity predictor predicts better; otherwise the message says
which of the two fails, with the numbers, so that every page showing scores can say it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Verdict:
    """The evidence for one target from one validation (held-out split)."""

    task_id: str
    predictor: str  # the DsDm row judged
    lds: float
    ci: tuple[float, float]
    n_subsets: int
    best_similarity: str | None
    best_similarity_lds: float
    trusted: bool
    message: str


def verdict(rows: pd.DataFrame, scores_run_id: str | None = None) -> Verdict | None:
    """The verdict for the task of `rows` (one validation's LDS rows of one task), judging the
    DsDm predictor of `scores_run_id` when it was validated, else the newest DsDm row. None when
    the rows hold no DsDm predictor."""
    held = rows[rows["split"] == "heldout"]
    dsdm = held[held["kind"] == "dsdm"]
    if dsdm.empty:
        return None
    mine = (
        dsdm[dsdm["predictor"].str.contains(scores_run_id, regex=False)] if scores_run_id else dsdm
    )
    row = (mine if not mine.empty else dsdm).iloc[0]
    sim = held[held["kind"] == "similarity"].dropna(subset=["aggregate_lds"])
    best = sim.sort_values("aggregate_lds", ascending=False).iloc[0] if not sim.empty else None
    lds, lo, hi = float(row["aggregate_lds"]), float(row["ci_lo"]), float(row["ci_hi"])
    best_lds = float(best["aggregate_lds"]) if best is not None else math.nan
    n = int(row["n_subsets"])
    above_zero = math.isfinite(lo) and lo > 0
    beats = best is None or (math.isfinite(lds) and lds > best_lds)
    stat = f"held-out LDS {lds:.2f} [95% CI {lo:.2f}, {hi:.2f}] on {n} subset models"
    if above_zero and beats:
        msg = f"The DsDm scores predict held-out loss for this target: {stat}"
        if best is not None:
            msg += f", above every similarity predictor (best: {best['predictor']} {best_lds:.2f})"
    elif not beats:
        msg = (
            f"The scores are not yet better than {best['predictor']} similarity here: "
            f"DsDm {stat}; {best['predictor']} {best_lds:.2f}."
        )
        if not above_zero:
            msg += " The DsDm interval also includes zero."
    else:
        msg = (
            f"The scores are not yet shown to predict this target: DsDm {stat}, an interval "
            "that includes zero."
        )
    return Verdict(
        task_id=str(row["task_id"]),
        predictor=str(row["predictor"]),
        lds=lds,
        ci=(lo, hi),
        n_subsets=n,
        best_similarity=None if best is None else str(best["predictor"]),
        best_similarity_lds=best_lds,
        trusted=above_zero and beats,
        message=msg,
    )


__all__ = ["Verdict", "verdict"]
