"""Glue between query results and `dsdm_engine.evaluation.metrics` / `figures` for the Compare page.

Inputs are id lists and small frames already fetched (server-side); outputs are small tables and
plotly figures. The metrics themselves live in the engine; nothing here touches the catalog.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from data_catalog.records import Selection
from dsdm_engine.evaluation import metrics


def as_selections(ranked: Mapping[str, Sequence[str]]) -> dict[str, Selection]:
    """Rank-ordered id lists as `Selection` records (scores unused by the overlap metrics)."""
    return {
        m: Selection(method=m, ids=tuple(ids), scores=(0.0,) * len(ids), params={}, seed=0)
        for m, ids in ranked.items()
    }


def rank_correlations(ranked: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Spearman correlation of the ranks two methods give their shared documents."""
    rows = []
    for a, b in itertools.combinations(ranked, 2):
        pos_b = {doc: i for i, doc in enumerate(ranked[b])}
        shared = [(i, pos_b[doc]) for i, doc in enumerate(ranked[a]) if doc in pos_b]
        rho = math.nan
        if len(shared) >= 2:
            ra, rb = np.array(shared, dtype=float).T
            rho = metrics.spearman(ra, rb)
        rows.append({"method A": a, "method B": b, "shared docs": len(shared), "spearman": rho})
    return pd.DataFrame(rows)


def multipliers(results: pd.DataFrame) -> pd.DataFrame:
    """Compute multiplier of every non-random (method, budget) against the random curve."""
    rand = results[results["method"] == "random"]
    rows = []
    if rand.empty:
        return pd.DataFrame(rows)
    for r in results[results["method"] != "random"].itertuples():
        m = metrics.compute_multiplier(rand["budget"], rand["loss"], r.loss, r.budget)
        rows.append(
            {
                "method": r.method,
                "budget": r.budget,
                "held-out loss": r.loss,
                "compute multiplier": m.value,
                "bound": m.bound,
            }
        )
    return pd.DataFrame(rows)


def score_histograms(scores: Mapping[str, np.ndarray], bins: int = 30) -> go.Figure:
    """Overlaid per-method histograms, binned here so only bin counts reach the browser."""
    fig = go.Figure()
    for label, values in scores.items():
        arr = np.asarray(values, dtype=float)
        arr = arr[np.isfinite(arr)]
        if arr.size == 0:
            continue
        counts, edges = np.histogram(arr, bins=bins)
        fig.add_bar(
            x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges), name=label, opacity=0.6
        )
    fig.update_layout(
        barmode="overlay",
        title="Scores of the selected documents (each method's own scale)",
        xaxis_title="score",
        yaxis_title="documents",
        height=340,
    )
    return fig


def evidence_summary(tasks: Sequence[str], validations: Mapping[str, pd.DataFrame],
                     evaluations: Mapping[str, pd.DataFrame]) -> pd.DataFrame:  # fmt: skip
    """The landing table: per target, what the evidence favours, DsDm's held-out LDS with its
    CI against the best similarity predictor, and DsDm's compute multiplier against random
    (geometric mean over the evaluated budgets). Missing evidence reads "not measured"."""
    from dsdm_engine.evaluation.evidence import verdict

    rows = []
    for task in tasks:
        v = verdict(validations[task]) if not validations[task].empty else None
        mult = multipliers(evaluations[task]) if not evaluations[task].empty else pd.DataFrame()
        vals = mult[mult["method"] == "dsdm"]["compute multiplier"] if not mult.empty else []
        vals = np.asarray([x for x in vals if np.isfinite(x) and x > 0], float)
        if v is None:
            favours = "not validated yet"
        elif v.trusted:
            favours = "DsDm"
        elif v.best_similarity and v.best_similarity_lds > v.lds:
            favours = f"{v.best_similarity} (similarity)"
        else:
            favours = "undecided (DsDm's CI includes 0)"
        rows.append(
            {
                "target": task,
                "evidence favours": favours,
                "DsDm held-out LDS": np.nan if v is None else v.lds,
                "95% CI": "" if v is None else f"[{v.ci[0]:.2f}, {v.ci[1]:.2f}]",
                "best similarity": "" if v is None else (v.best_similarity or ""),
                "its LDS": np.nan if v is None else v.best_similarity_lds,
                "DsDm compute multiplier": float(np.exp(np.log(vals).mean()))
                if vals.size
                else np.nan,
                "subsets": 0 if v is None else v.n_subsets,
            }
        )
    return pd.DataFrame(rows)
