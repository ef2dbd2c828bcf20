"""The Map page and the bulk actions it feeds, with AppTest on the tiny workspace (whose pool
map is a PCA of a stand-in embedding, see `tiny_ws.py`).

A plotly selection cannot be drawn in AppTest, so these tests put a region in session state as
the page stores one, after checking (below) that a selection event becomes that region; the
browser test draws a real box.
"""

from __future__ import annotations

import numpy as np
from streamlit.testing.v1 import AppTest
from test_pages import MAIN, ok, open_page, texts

from app.pool_map_view import REGION_KEY, drawn_index, region_from_event
from data_catalog.catalog import Catalog
from dsdm_engine.stages.pool_map import load_pool_map, region_mask


def left_half_region(cat: Catalog) -> tuple[dict, np.ndarray]:
    """A box over the left half of the tiny pool's layout, as the Map page stores it."""
    layout = load_pool_map(cat, "tiny")
    cut = float(np.median(layout.xy[:, 0]))
    shapes = {"box": [(-0.1, cut, -0.1, 1.1)], "lasso": []}
    inside = region_mask(layout.xy, shapes)
    pool = cat.get_pool("tiny")
    region = {"pool": "tiny", "hash": pool["content_hash"], **shapes, "n": int(inside.sum())}
    return region, np.asarray(cat.doc_ids("tiny"))[inside]


def with_region(page: str, shapes: dict, **params: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.query_params.update(params)
    at.run()
    at.session_state[REGION_KEY] = shapes
    return ok(at.switch_page(f"app_pages/{page}.py").run())


def test_selection_event_becomes_a_region_over_all_documents():
    event = {
        "selection": {
            "points": [],
            "box": [{"xref": "x", "yref": "y", "x": [0.6, 0.1], "y": [0.0, 0.5]}],
            "lasso": [{"x": [0.7, 1.0, 1.0], "y": [0.9, 0.9, 0.6]}],
        }
    }
    shapes = region_from_event(event)
    xy = np.array([[0.3, 0.2], [0.3, 0.7], [0.95, 0.85], [0.75, 0.65], [0.05, 0.2]])
    # in the box; above it; inside the lasso triangle; below its diagonal; left of the box
    assert region_mask(xy, shapes).tolist() == [True, False, True, False, False]
    assert region_from_event({"selection": {"box": [], "lasso": []}}) is None
    assert region_from_event(None) is None


def test_drawing_is_capped_but_deterministic():
    assert len(drawn_index(100, cap=1000)) == 100
    a, b = drawn_index(50_000, cap=1000), drawn_index(50_000, cap=1000)
    assert len(a) == 1000 and (a == b).all() and len(set(a)) == 1000


def test_map_page_draws_every_document_and_colours_by_percentile(tiny_workspace: Catalog):
    at = open_page("map")
    assert texts(at.title) == ["Pool map"]
    [chart] = at.get("plotly_chart")
    colour = next(s for s in at.selectbox if s.label == "Colour by")
    assert {"source", "planted label", "on the exclusion list"} <= set(colour.options)
    assert any(o.startswith("in selection · dsdm") for o in colour.options)
    pct = next(o for o in colour.options if o.startswith("DsDm percentile · cooking@v1"))
    colour.set_value(pct).run()
    fig = ok(at).get("plotly_chart")[0].proto.spec
    assert '"percentile"' in fig and '"colorscale"' in fig
    assert at.query_params["colour"] == pct
    assert any("Draw a box or a lasso" in c for c in texts(at.caption))


def test_map_page_without_a_layout_offers_the_job(tiny_workspace: Catalog, tmp_path):
    src = tmp_path / "other.jsonl"
    src.write_text('{"text": "one document"}\n{"text": "another document"}\n')
    from data_catalog.ingest import ingest

    ingest(tiny_workspace, "other", [str(src)])
    at = open_page("map", pool="other")
    assert "No map of pool other yet" in " ".join(texts(at.info))
    assert any(b.label == "Compute the map" for b in at.button)
    assert not at.get("plotly_chart")


def test_region_to_exclusion_counts_every_document_and_asks_first(tiny_workspace: Catalog):
    region, expected = left_half_region(tiny_workspace)
    assert 0 < len(expected) < 24
    at = with_region("map", region)
    assert f"Region: {len(expected)} of 24 documents" in texts(at.subheader)
    go = next(b for b in at.button if b.label.startswith("Exclude all"))
    assert go.label == f"Exclude all {len(expected)} documents in the region"
    assert go.disabled  # not before the confirmation
    at.checkbox[0].check().run()
    next(b for b in ok(at).button if b.label.startswith("Exclude all")).click().run()
    assert f"{len(expected)} documents added" in " ".join(texts(ok(at).success))
    assert sorted(tiny_workspace.exclusions("tiny")) == sorted(expected)


def test_a_region_of_a_changed_pool_is_ignored(tiny_workspace: Catalog):
    region, _ = left_half_region(tiny_workspace)
    at = with_region("map", {**region, "hash": "stale"})
    assert not any(s.startswith("Region:") for s in texts(at.subheader))


def test_inspect_searches_the_region_and_excludes_all_matches(tiny_workspace: Catalog):
    region, expected = left_half_region(tiny_workspace)
    at = with_region("inspector", region, target="cooking@v1", region="1")
    box = next(c for c in at.checkbox if c.label.startswith("Only documents in the map region"))
    assert box.value and f"({len(expected)})" in box.label
    caption = next(c for c in texts(at.caption) if "matching documents" in c)
    assert caption.startswith(f"{len(expected)} matching documents in the map region")
    search = at.dataframe[-1].value  # the search results (after the top and bottom tables)
    assert set(search["doc_id"]) <= set(expected) and search["snippet"].str.len().gt(0).all()
    at.checkbox(key="search_confirm").check().run()
    next(b for b in ok(at).button if b.label.startswith("Exclude all")).click().run()
    assert sorted(tiny_workspace.exclusions("tiny")) == sorted(expected)


def test_inspect_excludes_all_search_matches_not_only_the_page(tiny_workspace: Catalog):
    at = open_page("inspector", target="cooking@v1")
    at.text_input[0].set_value("the")
    at.button[0].click().run()  # the search form's submit
    caption = next(c for c in texts(ok(at).caption) if "matching documents" in c)
    total = int(caption.split()[0])
    assert total > 0
    go = next(b for b in at.button if b.label.startswith("Exclude all"))
    assert go.label == f"Exclude all {total} matching documents"
    at.checkbox(key="search_confirm").check().run()
    next(b for b in ok(at).button if b.label.startswith("Exclude all")).click().run()
    assert len(tiny_workspace.exclusions("tiny")) == total


def test_inspect_tables_show_text(tiny_workspace: Catalog):
    at = open_page("inspector", target="cooking@v1")
    frames = [d.value for d in at.dataframe]
    assert len(frames) >= 3  # most helpful, most harmful, search results
    for frame in frames:
        assert list(frame.columns[:2]) == ["doc_id", "snippet"]
        assert frame["snippet"].str.len().gt(0).all()
