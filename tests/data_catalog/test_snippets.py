"""`data_catalog.snippets`: columns in ingest order, snippets for given ids only, and
`matching_ids` agreeing with the paged search it backs ("exclude all N matching")."""

from __future__ import annotations

import numpy as np
import pytest

from data_catalog import queries, snippets
from data_catalog.catalog import Catalog
from data_catalog.errors import InputError
from data_catalog.ingest import ingest

WORDS = ["pasta", "garlic", "bank", "rates", "goal", "match"]


@pytest.fixture
def pool(catalog: Catalog, jsonl_file) -> tuple[Catalog, list[str], str]:
    rng = np.random.default_rng(0)
    records = []
    for i in range(60):
        words = " ".join(rng.choice(WORDS, size=int(rng.integers(3, 12))))
        rec = {"text": f"doc{i}   {words}", "source": f"s{i % 3}"}
        if i % 10 == 0:
            rec["planted"] = "garbled"
        records.append(rec)
    ingest(catalog, "p", [str(jsonl_file(records))])
    ids = catalog.doc_ids("p")
    run = catalog.create_run("scores", {}, "t", pool_id="p", task_id="t@v1")
    catalog.save_scores(run, "t@v1", "p", ids, rng.standard_normal(len(ids)))
    return catalog, ids, run


@pytest.mark.parametrize(
    "text, filters",
    [
        ("pasta", {}),
        ("garlic rates", {"sources": ("s1", "s2")}),
        ("", {"min_words": 6, "max_words": 9}),
        ("bank", {"min_score": 0.0, "order": "score_desc"}),
        ("", {"order": "score_asc"}),
        ("", {"min_score": -0.5, "max_score": 0.5, "sources": ("s0",)}),
    ],
)
def test_matching_ids_are_exactly_the_search_results(pool, text, filters):
    cat, _, run = pool
    scored = {"run_id": run, "task_id": "t@v1"}
    ids = snippets.matching_ids(cat, "p", text, **scored, **filters)
    page, total = queries.search_documents(cat, "p", text, **scored, **filters, limit=1000)
    assert len(ids) == total > 0
    assert ids == list(page["doc_id"])  # same documents, same order


def test_matching_ids_within_a_region_and_bad_input(pool):
    cat, ids, _ = pool
    region = ids[::4]
    inside = snippets.matching_ids(cat, "p", "garlic", within=region)
    everywhere = snippets.matching_ids(cat, "p", "garlic")
    assert inside == [d for d in everywhere if d in set(region)] and inside
    with pytest.raises(InputError, match="order"):
        snippets.matching_ids(cat, "p", order="random")
    with pytest.raises(InputError, match="stored scores"):
        snippets.matching_ids(cat, "p", order="score_desc")


def test_columns_follow_ingest_order(pool):
    cat, ids, run = pool
    cols = snippets.pool_columns_in_order(cat, "p")
    assert list(cols["doc_id"]) == ids
    assert (cols["planted"] == "garbled").sum() == 6
    pct = snippets.percentiles_in_order(cat, "p", run, "t@v1")
    stored = cat.scores(run, "t@v1").set_index("doc_id")["percentile"]
    np.testing.assert_allclose(pct, stored.loc[ids].to_numpy())
    assert np.isnan(snippets.percentiles_in_order(cat, "p", "no-run", "t@v1")).all()
    cat.add_exclusions("p", [ids[3], ids[7]], "test")
    assert np.flatnonzero(snippets.membership_in_order(cat, "p", None)).tolist() == [3, 7]


def test_snippets_only_for_the_ids_asked_and_rows_keep_order(pool):
    cat, ids, run = pool
    found = snippets.snippets(cat, "p", [ids[5], ids[2]], chars=8)
    assert set(found) == {ids[5], ids[2]}  # those two only
    # 8 characters of "doc2   word...", the run of spaces folded into one
    assert found[ids[2]].startswith("doc2 ") and len(found[ids[2]]) == 6
    assert snippets.snippets(cat, "p", []) == {}
    rows = snippets.document_rows(cat, "p", [ids[9], ids[1]], run, "t@v1")
    assert list(rows["doc_id"]) == [ids[9], ids[1]] and rows["score"].notna().all()
    page = queries.top_documents(cat, run, "t@v1", 5).drop(columns="snippet")
    shown = snippets.with_snippets(cat, "p", page)
    assert (
        list(shown.columns[:2]) == ["doc_id", "snippet"] and shown["snippet"].str.len().gt(0).all()
    )
