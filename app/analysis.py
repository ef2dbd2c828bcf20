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
