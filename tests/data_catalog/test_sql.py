"""The pure SQL builders, as strings: filters, order, paging, escaping; plus one round trip."""

from __future__ import annotations

import pytest

from data_catalog import sql
from data_catalog.catalog.runs import runs_filter_sql
from data_catalog.errors import InputError
from data_catalog.ingest import ingest
from data_catalog.sql import DocFilter


def test_plain_pool_filter():
    text, params = sql.document_filter(DocFilter("p"))
    assert text == "FROM documents d WHERE d.pool_id = ?"
    assert params == ["p"]


def test_every_filter_in_parameter_order():
    f = DocFilter("p", "a_b 50%", ("s1", "s2"), 3, 9, "r", "t@v1", -1, 2.5, within=True)
    text, params = sql.document_filter(f)
    assert text == (
        "FROM documents d "
        "JOIN scores s ON s.pool_id = d.pool_id AND s.doc_id = d.doc_id "
        "AND s.run_id = ? AND s.task_id = ? "
        "JOIN region_ids r ON r.doc_id = d.doc_id "
        "WHERE d.pool_id = ? AND d.text ILIKE ? ESCAPE '\\' AND d.text ILIKE ? ESCAPE '\\' "
        "AND list_contains(?, d.source) AND d.n_words >= ? AND d.n_words <= ? "
        "AND s.score >= ? AND s.score <= ?"
    )
    assert params == ["r", "t@v1", "p", "%a\\_b%", "%50\\%%", ["s1", "s2"], 3, 9, -1.0, 2.5]
    assert text.count("?") == len(params)


def test_user_text_never_reaches_the_sql():
    hostile = "'; DROP TABLE documents; --"
    text, params = sql.document_filter(DocFilter("p", hostile))
    assert "DROP" not in text and any("DROP" in str(p) for p in params)


def test_score_filters_and_orders_need_scores():
    with pytest.raises(InputError, match="need a target"):
        sql.document_filter(DocFilter("p", max_score=1.0))
    with pytest.raises(InputError, match="need a target"):
        sql.order_by("score_desc", scored=False)
    with pytest.raises(InputError, match="order must be one of pool, score_desc, score_asc"):
        sql.order_by("random", scored=True)
    assert sql.order_by("score_asc", scored=True) == "s.score ASC, d.row_idx"
    assert sql.order_by("pool", scored=False) == "d.row_idx"


def test_paging_and_where():
    assert sql.page(10**9, -5) == ("LIMIT ? OFFSET ?", [sql.MAX_PAGE, 0])
    assert sql.page(0, 7) == ("LIMIT ? OFFSET ?", [1, 7])
    assert sql.where([("a = ?", None), ("b = ?", 0)]) == ("WHERE b = ?", [0])
    assert sql.where([("a = ?", None)]) == ("", [])
    assert runs_filter_sql("map", status="done") == (
        "WHERE kind = ? AND status = ?",
        ["map", "done"],
    )
    assert runs_filter_sql() == ("", [])


def test_built_filter_runs_on_a_real_catalog(catalog, jsonl_file):
    texts = ["pasta with garlic", "garlic bread", "100% rye", "bank rates"]
    ingest(catalog, "p", [str(jsonl_file([{"text": t} for t in texts]))])
    ids = catalog.doc_ids("p")
    catalog.save_scores("r", "t", "p", ids, [4.0, 3.0, 2.0, 1.0])
    for f, want in [
        (DocFilter("p", "GARLIC"), [0, 1]),
        (DocFilter("p", "%"), [2]),
        (DocFilter("p", "", run_id="r", task_id="t", min_score=1.5, max_score=3.5), [1, 2]),
    ]:
        text, params = sql.document_filter(f)
        rows = catalog.query_all(f"SELECT d.doc_id {text} ORDER BY d.row_idx", params)
        assert [r[0] for r in rows] == [ids[i] for i in want]
