"""Figure builders return plotly figures with the expected traces and axes."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from data_catalog.records import Selection
from dsdm_engine.evaluation.figures import (
    composition_bars,
    loss_curves,
    overlap_heatmap,
    score_histogram,
)
from dsdm_engine.evaluation.metrics import composition, overlap_at_k


def selection(method: str, ids: tuple[str, ...]) -> Selection:
    return Selection(method, ids, tuple(0.0 for _ in ids), {}, 0)


def test_overlap_heatmap_shows_the_matrix():
    m = overlap_at_k([selection("dsdm", ("a", "b")), selection("random", ("b", "c"))])
    fig = overlap_heatmap(m)
    assert isinstance(fig, go.Figure)
    heat = fig.data[0]
    assert list(heat.x) == ["dsdm", "random"] and np.allclose(heat.z, [[1, 1 / 3], [1 / 3, 1]])
    with pytest.raises(ValueError, match="square"):
        overlap_heatmap(pd.DataFrame([[1.0, 0.5]], index=["a"], columns=["a", "b"]))


def test_composition_bars_stack_one_trace_per_source():
    ids, sources = ["a", "b", "c"], ["web", "web", "books"]
    comps = {
        "dsdm": composition(selection("dsdm", ("a", "b")), ids, sources),
        "dsir": composition(selection("dsir", ("c",)), ids, sources),
    }
    fig = composition_bars(comps)
    assert fig.layout.barmode == "stack"
    by_source = {t.name: list(t.y) for t in fig.data}
    assert list(fig.data[0].x) == ["pool", "dsdm", "dsir"]
    assert by_source["web"] == pytest.approx([2 / 3, 1.0, 0.0])
    assert by_source["books"] == pytest.approx([1 / 3, 0.0, 1.0])
    with pytest.raises(ValueError, match="frac_tokens"):
        composition_bars(comps, share="frac_tokens")  # no token counts were given


def test_score_histogram_bins_server_side_with_shared_edges():
    fig = score_histogram(
        {"all": np.array([0.0, 0.1, 0.9, 1.0, np.inf]), "planted": np.array([0.05])}, nbins=2
    )
    assert [t.name for t in fig.data] == ["all", "planted"] and fig.layout.barmode == "overlay"
    assert list(fig.data[0].x) == pytest.approx([0.25, 0.75])  # edges 0, 0.5, 1 for both series
    assert list(fig.data[0].y) == [2, 2]  # inf dropped
    assert list(fig.data[1].y) == [1, 0]
    assert len(score_histogram(np.zeros(3)).data) == 1


def test_loss_curves_use_a_log_budget_axis_and_error_bars():
    results = pd.DataFrame(
        {
            "method": ["random", "random", "dsdm", "dsdm"],
            "budget": [2000, 1000, 1000, 2000],
            "loss": [3.5, 4.0, 3.6, 3.2],
            "loss_std": [0.1, 0.1, 0.05, 0.05],
        }
    )
    fig = loss_curves(results)
    assert fig.layout.xaxis.type == "log"
    traces = {t.name: t for t in fig.data}
    assert list(traces["random"].x) == [1000, 2000] and list(traces["random"].y) == [4.0, 3.5]
    assert list(traces["dsdm"].error_y.array) == [0.05, 0.05]
    with pytest.raises(ValueError, match="lack columns"):
        loss_curves(results.drop(columns=["loss"]))
