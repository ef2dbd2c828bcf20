"""Plotly figure builders for comparing selections; each returns a `go.Figure`, renders nothing.

The app (or a notebook, or a report script) decides where a figure goes; nothing here imports
streamlit. Inputs are the outputs of `dsdm_engine.evaluation.metrics` or plain arrays and
frames.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go


def overlap_heatmap(
    overlap: pd.DataFrame, title: str = "Overlap of selections (Jaccard)"
) -> go.Figure:
    """Heatmap of a square overlap matrix (`metrics.overlap_at_k`), values printed in cells."""
    if list(overlap.index) != list(overlap.columns):
        raise ValueError("overlap matrix must be square with the same labels on both axes")
    z = overlap.to_numpy(dtype=float)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(overlap.columns),
            y=list(overlap.index),
            zmin=0.0,
            zmax=1.0,
            colorscale="Blues",
            text=np.round(z, 2),
            texttemplate="%{text}",
            hovertemplate="%{y} vs %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(title=title, yaxis_autorange="reversed")
    return fig


def composition_bars(
    compositions: Mapping[str, pd.DataFrame],
    share: str = "frac_docs",
    include_pool: bool = True,
    title: str = "Per-source composition",
) -> go.Figure:
    """Stacked bars: one bar per selection (plus the pool), stacked by source share.

    `compositions` maps a label to a `metrics.composition` frame; `share` is `frac_docs` or
    `frac_tokens`. The pool bar uses the matching `pool_frac_*` column of the first frame.
    """
    if not compositions:
        raise ValueError("no compositions to plot")
    first = next(iter(compositions.values()))
    if share not in first.columns:
        raise ValueError(f"column {share!r} not in the composition frame: {list(first.columns)}")
    bars: dict[str, pd.Series] = {}
    if include_pool:
        bars["pool"] = first.set_index("source")["pool_" + share]
    for label, frame in compositions.items():
        bars[label] = frame.set_index("source")[share]
    table = pd.DataFrame(bars).fillna(0.0)  # rows = sources, columns = bars
    fig = go.Figure()
    for source, row in table.iterrows():
        fig.add_bar(name=str(source), x=list(table.columns), y=row.to_numpy())
    fig.update_layout(
        barmode="stack", title=title, yaxis_title=share.replace("_", " "), yaxis_range=[0, 1]
    )
    return fig


def score_histogram(
    scores: Mapping[str, np.ndarray] | np.ndarray,
    nbins: int = 50,
    title: str = "Score distribution",
    x_title: str = "score",
) -> go.Figure:
    """Overlaid histograms of one or several score vectors (e.g. all vs planted documents).

    Binned here with shared edges (`nbins` over the finite values of all series), so only bin
    counts reach the browser, never one point per pool document. Non-finite values are dropped.
    """
    series = {"scores": scores} if not isinstance(scores, Mapping) else dict(scores)
    finite = {k: np.asarray(v, dtype=float) for k, v in series.items()}
    finite = {k: v[np.isfinite(v)] for k, v in finite.items()}
    pooled = np.concatenate([*finite.values(), np.zeros(0)])
    edges = np.histogram_bin_edges(pooled if pooled.size else np.zeros(1), bins=nbins)
    fig = go.Figure()
    for label, values in finite.items():
        counts, _ = np.histogram(values, bins=edges)
        centers = (edges[:-1] + edges[1:]) / 2
        fig.add_bar(x=centers, y=counts, width=np.diff(edges), name=str(label), opacity=0.6)
    fig.update_layout(barmode="overlay", title=title, xaxis_title=x_title, yaxis_title="documents")
    return fig


def loss_curves(results: pd.DataFrame, title: str = "Held-out target loss vs budget") -> go.Figure:
    """One line per method of held-out loss against budget, log x axis.

    `results` has columns `method`, `budget`, `loss` and optionally `loss_std` (error bars), one
    row per (method, budget) (average seeds before calling).
    """
    missing = {"method", "budget", "loss"} - set(results.columns)
    if missing:
        raise ValueError(f"results lack columns {sorted(missing)}")
    if (results["budget"] <= 0).any():
        raise ValueError("budgets must be positive for a log axis")
    fig = go.Figure()
    for method, grp in results.sort_values("budget").groupby("method", sort=True):
        err = None
        if "loss_std" in grp:
            err = {"type": "data", "array": grp["loss_std"].to_numpy(), "visible": True}
        fig.add_scatter(
            x=grp["budget"].to_numpy(),
            y=grp["loss"].to_numpy(),
            error_y=err,
            mode="lines+markers",
            name=str(method),
        )
    fig.update_layout(title=title, xaxis_title="budget", yaxis_title="held-out loss")
    fig.update_xaxes(type="log")
    return fig


def lds_intervals(rows: pd.DataFrame, title: str = "Held-out LDS with 95% CI") -> go.Figure:
    """One point per predictor (held-out aggregate LDS) with its bootstrap interval; DsDm rows
    first, zero marked: a predictor whose bar crosses the line has not shown it predicts."""
    held = rows[rows["split"] == "heldout"].copy()
    order = {"dsdm": 0, "peer": 1, "similarity": 2, "trivial": 3}
    held["order"] = held["kind"].map(order).fillna(4)
    held = held.sort_values(["order", "aggregate_lds"], ascending=[True, False])
    fig = go.Figure()
    for kind, grp in held.groupby("kind", sort=False):
        fig.add_scatter(
            x=grp["aggregate_lds"],
            y=grp["predictor"],
            mode="markers",
            name=str(kind),
            error_x={
                "type": "data",
                "symmetric": False,
                "array": grp["ci_hi"] - grp["aggregate_lds"],
                "arrayminus": grp["aggregate_lds"] - grp["ci_lo"],
            },
        )
    fig.add_vline(x=0, line_dash="dot", line_color="grey")
    fig.update_layout(
        title=title,
        xaxis_title="Spearman(predicted, actual) over subset models",
        yaxis={"autorange": "reversed"},
        height=120 + 32 * len(held),
        margin={"l": 10},
    )
    return fig
