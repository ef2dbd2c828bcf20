"""The pool map's pieces for the app: cached layout and colour columns, the scattergl figure,
and the map region kept in session state for the Map and Inspect pages.

The layout (`dsdm_engine.stages.pool_map`) holds every document; at most `DRAW_CAP` of them
are drawn
(a fixed-seed uniform sample above the cap), with text snippets fetched for the drawn points
only. A box or lasso selection is stored as its shapes, in layout coordinates, and turned into
a mask over all documents with `region_mask`, so a region's count never depends on drawing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.state import catalog, query, workspace_root
from data_catalog import snippets
from dsdm_engine.stages.pool_map import load_pool_map, region_mask

DRAW_CAP = 20_000
DRAW_SEED = 0  # the drawn sample only: counts and actions always use every document
HOVER_CHARS = 100
MAX_CATEGORIES = 10
REGION_KEY = "map_region"
GREY = "#c8c8c8"


@dataclass(frozen=True)
class MapData:
    """A pool's layout and per-document columns, all in ingest order."""

    pool_id: str
    content_hash: str
    run_id: str
    method: str
    embedder: str
    xy: np.ndarray
    columns: pd.DataFrame  # doc_id, source, planted


def pool_hash(pool_id: str) -> str | None:
    pools = query("catalog.list_pools")
    row = pools[pools["pool_id"] == pool_id]
    return None if row.empty else str(row["content_hash"].iloc[0])


@st.cache_data(ttl=5, max_entries=16, show_spinner=False)
def _find_layout(root: str, pool_id: str, content_hash: str) -> tuple[str, ...] | None:
    found = load_pool_map(catalog(), pool_id)
    if found is None:
        return None
    run = catalog().get_run(found.run_id)
    embedder = str(run["config"].get("embedder", "?")).rsplit("/", 1)[-1]
    return found.run_id, found.method, embedder, str(run["artifact_path"])


@st.cache_resource(max_entries=4, show_spinner=False)
def _load_xy(path: str, mtime: float) -> np.ndarray:
    return np.load(path)


@st.cache_data(max_entries=4, show_spinner=False)
def _columns(root: str, pool_id: str, content_hash: str) -> pd.DataFrame:
    return snippets.pool_columns_in_order(catalog(), pool_id)


def map_data(pool_id: str) -> MapData | None:
    """The pool's stored layout for its current content, or None when there is none yet."""
    content_hash = pool_hash(pool_id)
    found = _find_layout(workspace_root(), pool_id, content_hash) if content_hash else None
    if found is None or not Path(found[3]).exists():
        return None
    run_id, method, embedder, path = found
    xy = _load_xy(path, Path(path).stat().st_mtime)
    cols = _columns(workspace_root(), pool_id, content_hash)
    if len(cols) != len(xy):
        return None
    return MapData(pool_id, content_hash, run_id, method, embedder, xy, cols)


def drawn_index(n: int, cap: int = DRAW_CAP) -> np.ndarray:
    """Which points to draw: all of them up to `cap`, else a fixed-seed uniform sample."""
    if n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(DRAW_SEED).choice(n, cap, replace=False))


# ------------------------------------------------------------------ colours
@st.cache_data(ttl=30, max_entries=16, show_spinner=False)
def _percentiles(root: str, pool_id: str, h: str, run_id: str, task_id: str) -> np.ndarray:
    return snippets.percentiles_in_order(catalog(), pool_id, run_id, task_id)


@st.cache_data(ttl=5, max_entries=16, show_spinner=False)
def _membership(root: str, pool_id: str, h: str, selection_id: str | None) -> np.ndarray:
    return snippets.membership_in_order(catalog(), pool_id, selection_id)


def colour_options(pool_id: str) -> dict[str, tuple[str, Any]]:
    """Label → (kind, argument) for every way the map can be coloured on this pool."""
    opts: dict[str, tuple[str, Any]] = {"source": ("source", None)}
    opts["planted label"] = ("planted", None)
    sets = query("queries.score_sets")
    for row in sets[sets["pool_id"] == pool_id].to_dict("records"):
        opts[f"DsDm percentile · {row['task_id']} ({row['run_id']})"] = (
            "percentile",
            (row["run_id"], row["task_id"]),
        )
    sels = query("catalog.list_selections", pool_id)
    for row in sels.to_dict("records"):
        label = f"in selection · {row['method']} · {row['name'] or row['selection_id']}"
        opts[label] = ("member", row["selection_id"])
    opts["on the exclusion list"] = ("member", None)
    return opts


def colour_values(data: MapData, kind: str, arg: Any) -> pd.Series | np.ndarray:
    """One colour value per document (ingest order): a category label or a percentile."""
    root = workspace_root()
    if kind == "source":
        return data.columns["source"].astype(str)
    if kind == "planted":
        return data.columns["planted"].fillna("none").astype(str)
    if kind == "percentile":
        return _percentiles(root, data.pool_id, data.content_hash, *arg)
    hit = _membership(root, data.pool_id, data.content_hash, arg)
    return pd.Series(np.where(hit, "yes", "no"))


def clear_caches() -> None:
    """Forget cached layouts and memberships (after a map job or an exclusion)."""
    _find_layout.clear()
    _membership.clear()


# ------------------------------------------------------------------ the figure
def _hover(data: MapData, idx: np.ndarray) -> np.ndarray:
    ids = data.columns["doc_id"].to_numpy()[idx]
    found = _hover_snippets(workspace_root(), data.pool_id, data.content_hash)
    return np.stack([ids, np.array([found.get(d, "") for d in ids], dtype=object)], axis=1)


@st.cache_data(max_entries=4, show_spinner=False)
def _hover_snippets(root: str, pool_id: str, h: str) -> dict[str, str]:
    cols = _columns(root, pool_id, h)
    idx = drawn_index(len(cols))
    return snippets.snippets(catalog(), pool_id, list(cols["doc_id"].iloc[idx]), HOVER_CHARS)


def _trace(xy: np.ndarray, hover: np.ndarray, name: str, **marker: Any) -> go.Scattergl:
    return go.Scattergl(
        x=xy[:, 0],
        y=xy[:, 1],
        mode="markers",
        name=name,
        marker={"size": 4 if len(xy) > 2_000 else 8, "opacity": 0.75, **marker},
        customdata=hover,
        hovertemplate="%{customdata[1]}<br><i>%{customdata[0]}</i><extra>%{fullData.name}</extra>",
    )


def map_figure(data: MapData, values: Any, title: str, region: dict | None) -> go.Figure:
    """Scattergl of the drawn points coloured by `values` (percentiles: a colour scale,
    labels: one trace per category), with the stored region outlined."""
    idx = drawn_index(len(data.xy))
    xy, hover = data.xy[idx], _hover(data, idx)
    fig = go.Figure()
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        vals = values[idx]
        known = ~np.isnan(vals)
        if (~known).any():
            fig.add_trace(_trace(xy[~known], hover[~known], "unscored", color=GREY))
        fig.add_trace(
            _trace(
                xy[known],
                hover[known],
                "percentile",
                color=vals[known],
                colorscale="RdBu",
                cmin=0,
                cmax=100,
                colorbar={"title": "percentile"},
            )
        )
    else:
        labels = pd.Series(np.asarray(values)[idx])
        top = list(labels.value_counts().index[:MAX_CATEGORIES])
        labels = labels.where(labels.isin(top), "other")
        for label in sorted(labels.unique(), key=lambda v: (v in ("no", "none"), v), reverse=True):
            on = (labels == label).to_numpy()
            extra = {"color": GREY} if label in ("no", "none", "other") else {}
            fig.add_trace(_trace(xy[on], hover[on], str(label), **extra))
    for x0, x1, y0, y1 in (region or {}).get("box", []):
        fig.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line={"dash": "dot"})
    for xs, ys in (region or {}).get("lasso", []):
        path = "M" + "L".join(f"{a},{b}" for a, b in zip(xs, ys, strict=False)) + "Z"
        fig.add_shape(type="path", path=path, line={"dash": "dot"})
    fig.update_layout(
        title=title,
        height=640,
        dragmode="lasso",
        xaxis={"visible": False},
        yaxis={"visible": False, "scaleanchor": "x"},
        legend={"itemsizing": "constant"},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return fig


# ------------------------------------------------------------------ the region
def region_from_event(event: Any) -> dict[str, list] | None:
    """The box/lasso shapes of a plotly selection event (None when nothing was drawn)."""
    sel = (event or {}).get("selection") or {}
    boxes = [(*b["x"][:2], *b["y"][:2]) for b in sel.get("box", []) if len(b.get("x", [])) >= 2]
    lassos = [(list(s["x"]), list(s["y"])) for s in sel.get("lasso", []) if len(s["x"]) >= 3]
    return {"box": boxes, "lasso": lassos} if boxes or lassos else None


def set_region(data: MapData, shapes: dict[str, list]) -> None:
    st.session_state[REGION_KEY] = {
        "pool": data.pool_id,
        "hash": data.content_hash,
        **shapes,
        "n": int(region_mask(data.xy, shapes).sum()),
    }


def current_region(pool_id: str) -> dict | None:
    """The region stored for this pool's current content (a region of another pool, or of
    this pool before it changed, does not apply)."""
    region = st.session_state.get(REGION_KEY)
    if not region or region["pool"] != pool_id or region["hash"] != pool_hash(pool_id):
        return None
    return region


def region_ids(pool_id: str) -> list[str] | None:
    """Every document id inside the stored region of this pool (None without a region)."""
    region = current_region(pool_id)
    data = map_data(pool_id) if region is not None else None
    if region is None or data is None:
        return None
    return list(data.columns["doc_id"].to_numpy()[region_mask(data.xy, region)])
