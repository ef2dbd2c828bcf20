"""`data_catalog.queries`: bounded pages, bound parameters, filters and aggregates, on a file."""

from __future__ import annotations

import pandas as pd
import pytest

from data_catalog import paging, queries
from data_catalog.catalog import Catalog
from data_catalog.errors import InputError, NotFoundError


def run_of(cat: Catalog, task: str) -> str:
    sets = queries.score_sets(cat, task)
    return sets["run_id"].iloc[0]


def test_search_terms_are_data_not_sql_or_wildcards(tiny_workspace: Catalog):
    page, total = queries.search_documents(tiny_workspace, "tiny", "pasta")
    assert total == 1 and "pasta" in page["snippet"][0]
    for hostile in ("%", "_x_", "' OR 1=1 --", "\\"):
        assert queries.search_documents(tiny_workspace, "tiny", hostile)[1] == 0
    page, total = queries.search_documents(tiny_workspace, "tiny", "_")  # a literal underscore
    assert total == 1 and "parse_config" in page["snippet"][0]


def test_search_filters_page_and_orders_server_side(tiny_workspace: Catalog):
    run = run_of(tiny_workspace, "cooking@v1")
    _, total = queries.search_documents(tiny_workspace, "tiny")
    assert total == 24
    page, total = queries.search_documents(tiny_workspace, "tiny", limit=5, offset=20)
    assert total == 24 and len(page) == 4
    page, total = queries.search_documents(tiny_workspace, "tiny", sources=("junk",))
    assert total == 4 and set(page["planted"]) == {"garbled"}
    page, _ = queries.search_documents(
        tiny_workspace, "tiny", run_id=run, task_id="cooking@v1", order="score_desc", min_score=0.0
    )
    assert (page["score"] >= 0).all() and page["score"].is_monotonic_decreasing
    assert page["source"].iloc[0] == "cooking"
    page, _ = queries.search_documents(tiny_workspace, "tiny", min_words=20, max_words=22)
    assert page["n_words"].between(20, 22).all()
    with pytest.raises(InputError, match="need a target"):
        queries.search_documents(tiny_workspace, "tiny", min_score=0.1)


def test_scored_search_in_pool_order_equals_the_join(tiny_workspace: Catalog, monkeypatch):
    """Without score filters the page's scores are looked up after the documents' page: the
    same rows, scores and total as joining every score; a run that does not cover the pool
    (documents added after it) still takes the join, which leaves unscored documents out."""
    run = run_of(tiny_workspace, "cooking@v1")
    cases = [{}, {"query": "the"}, {"min_words": 20}, {"sources": ("wiki",)}]
    opts = {"run_id": run, "task_id": "cooking@v1", "limit": 7, "offset": 3}
    fast = [queries.search_documents(tiny_workspace, "tiny", **c, **opts) for c in cases]
    assert queries._scores_cover_pool(tiny_workspace, "tiny", run, "cooking@v1")
    monkeypatch.setattr(queries, "_scores_cover_pool", lambda *a: False)
    for c, (page, total) in zip(cases, fast, strict=True):
        want, want_total = queries.search_documents(tiny_workspace, "tiny", **c, **opts)
        assert total == want_total
        pd.testing.assert_frame_equal(page.reset_index(drop=True), want.reset_index(drop=True))
    assert fast[0][0]["score"].notna().all() and fast[0][1] > 7
    monkeypatch.undo()
    with tiny_workspace.connect() as con:  # one document loses its score
        con.execute("DELETE FROM scores WHERE run_id = ? AND doc_id = ?",
                    [run, fast[0][0]["doc_id"].iloc[0]])  # fmt: skip
    assert not queries._scores_cover_pool(tiny_workspace, "tiny", run, "cooking@v1")
    page, total = queries.search_documents(tiny_workspace, "tiny", **opts)
    assert total == fast[0][1] - 1 and page["score"].notna().all()


def test_pages_are_capped_at_a_thousand_rows(tiny_workspace: Catalog):
    run = run_of(tiny_workspace, "cooking@v1")
    assert queries._limit(10**9) == queries.MAX_PAGE
    assert len(queries.top_documents(tiny_workspace, run, "cooking@v1", 10**9)) == 24


# texts by single-row lookups or by one scan; positions by an id list or by a join
@pytest.mark.parametrize(("lookups", "ids"), [(100, 10_000), (2, 1)])
def test_top_documents_equal_one_join_ties_included(
    tiny_workspace: Catalog, monkeypatch, lookups, ids
):
    """Ranked without texts, texts fetched by position: the same rows as one join would give,
    with scores tied across the k-th place ordered by ingest position."""
    run = run_of(tiny_workspace, "cooking@v1")
    scores = tiny_workspace.scores(run, "cooking@v1")
    tied = scores.assign(score=scores["score"].round(0))  # many ties
    tiny_workspace.save_scores(
        run, "cooking@v1", "tiny", list(tied["doc_id"]), tied["score"].to_numpy()
    )
    docs = tiny_workspace.query_df(
        "SELECT doc_id, row_idx, source, n_words, metadata->>'planted' AS planted, "
        "left(text, ?) AS snippet FROM documents WHERE pool_id = 'tiny'",
        [queries.SNIPPET_CHARS],
    )
    monkeypatch.setattr(paging, "_ROW_LOOKUPS", lookups)
    monkeypatch.setattr(queries, "_ID_LOOKUPS", ids)
    full = tiny_workspace.scores(run, "cooking@v1").merge(docs, on="doc_id")
    assert full["score"].duplicated().sum() > 10
    for bottom in (False, True):
        want = full.sort_values(["score", "row_idx"], ascending=[bottom, True], kind="stable")
        for k in (1, 5, 13):
            got = queries.top_documents(tiny_workspace, run, "cooking@v1", k, bottom=bottom)
            exp = want.head(k)
            assert list(got["doc_id"]) == list(exp["doc_id"])
            assert list(got["snippet"]) == list(exp["snippet"])
            assert list(got["source"]) == list(exp["source"])
            assert got["zscore"].tolist() == exp["zscore"].tolist()


def test_top_bottom_histogram_and_planted_precision(tiny_workspace: Catalog):
    run = run_of(tiny_workspace, "cooking@v1")
    top = queries.top_documents(tiny_workspace, run, "cooking@v1", 3)
    bottom = queries.top_documents(tiny_workspace, run, "cooking@v1", 3, bottom=True)
    assert top["score"].min() > bottom["score"].max()
    hist = queries.score_histogram(tiny_workspace, run, "cooking@v1", bins=10)
    assert hist["n_docs"].sum() == 24 and hist["n_planted"].sum() == 4
    # oracle: bottom-k by score, ties in pool order, against the planted labels
    scores = tiny_workspace.scores(run, "cooking@v1")
    planted = tiny_workspace.planted_labels("tiny")
    order = scores["score"].to_numpy().argsort(kind="stable")
    is_planted = [scores["doc_id"].iloc[i] in planted for i in order]
    for k in (1, 4, 10):
        rep = queries.planted_precision(tiny_workspace, run, "cooking@v1", k)
        assert rep.n_planted_in_bottom_k == sum(is_planted[:k])
        assert rep.precision == pytest.approx(sum(is_planted[:k]) / k)
        assert rep.base_rate == pytest.approx(4 / 24) and rep.n_planted == 4
    # at k = 4 (a k where precision can differ from the base rate) the garbled docs lead
    rep = queries.planted_precision(tiny_workspace, run, "cooking@v1", 4)
    assert rep.precision > 2 * rep.base_rate
    with pytest.raises(InputError, match="between 1 and"):
        queries.planted_precision(tiny_workspace, run, "cooking@v1", 25)


def test_conflicts_help_one_target_and_hurt_the_other(tiny_workspace: Catalog):
    fin, cook = run_of(tiny_workspace, "finance@v1"), run_of(tiny_workspace, "cooking@v1")
    rows = queries.conflicts(tiny_workspace, fin, "finance@v1", cook, "cooking@v1")
    assert not rows.empty
    assert (rows["score_a"] > 0).all() and (rows["score_b"] < 0).all()
    assert "finance" in set(rows["source"])


def test_selections_diffs_and_documents(tiny_workspace: Catalog):
    found = queries.latest_selections(tiny_workspace, "tiny", "cooking@v1", ("dsdm", "random"))
    assert set(found) == {"dsdm", "random"}
    a = queries.selection_top_ids(tiny_workspace, found["dsdm"], 8)
    b = set(queries.selection_top_ids(tiny_workspace, found["random"], 8))
    page, total = queries.picked_by_a_not_b(tiny_workspace, found["dsdm"], found["random"], 8)
    assert list(page["doc_id"]) == [d for d in a if d not in b] and total == len(page)
    held = queries.selections_containing(tiny_workspace, a[0])
    assert found["dsdm"] in set(held["selection_id"])
    doc = queries.get_document(tiny_workspace, "tiny", a[0])
    assert doc["doc_id"] == a[0] and doc["text"]
    with pytest.raises(NotFoundError):
        queries.get_document(tiny_workspace, "tiny", "nope")
    assert queries.find_document_pool(tiny_workspace, a[0]) == "tiny"


def test_latest_selections_fall_back_to_target_free_ones_only(catalog: Catalog, jsonl_file):
    from data_catalog.ingest import ingest
    from data_catalog.records import Selection

    ingest(catalog, "p", [str(jsonl_file([{"text": f"doc {i}"} for i in range(3)]))])
    one = (catalog.doc_ids("p")[0],)

    def save(method: str, task: str | None) -> str:
        return catalog.save_selection("p", Selection(method, one, (1.0,), {}, 0), task_id=task)

    for_t = save("dsdm", "t@v1")
    save("dsdm", None)  # newer, but target-free: the task's own selection wins
    free = save("embedding", None)
    save("random", "u@v1")  # random for another target is not target-free
    save("dsdm", "u@v1")
    methods = ("dsdm", "embedding", "random")
    assert queries.latest_selections(catalog, "p", "t@v1", methods) == {
        "dsdm": for_t,
        "embedding": free,
    }


def test_evaluation_results_average_seeds(tiny_workspace: Catalog):
    res = queries.evaluation_results(tiny_workspace, "cooking@v1")
    assert set(res["method"]) == {"dsdm", "random"} and (res["n_seeds"] == 1).all()


def test_selection_composition_in_sql_matches_the_engine_metric(tiny_workspace: Catalog):
    from app.analysis import as_selections
    from dsdm_engine.evaluation.metrics import composition

    found = queries.latest_selections(tiny_workspace, "tiny", "cooking@v1", ("dsdm",))
    ids = queries.selection_top_ids(tiny_workspace, found["dsdm"], 5)
    cols = queries.pool_columns(tiny_workspace, "tiny")
    oracle = composition(
        as_selections({"d": ids})["d"], cols["doc_id"], cols["source"], cols["n_tokens"]
    )
    got = queries.selection_composition(tiny_workspace, found["dsdm"], 5)
    pd.testing.assert_frame_equal(got, oracle, check_dtype=False)
