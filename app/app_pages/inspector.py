"""Inspect page: top and bottom documents for a target (text, score, percentile, sign legend),
search and filters over the whole pool or the map region with server-side paging, excluding every
match at once, and a document view."""

import streamlit as st

from app import pool_map_view
from app.bulk_actions import exclude_all
from app.components import doc_table, open_document, sign_legend, trust_banner
from app.document_view import document_panel
from app.state import PAGE_ROWS, catalog, choose_scores, listed_or_stop, pick, query, user_errors
from data_catalog import snippets

st.title("Inspect documents")
pools = listed_or_stop(
    "catalog.list_pools", "pool_id", "No pools yet: add one on the Workspace page."
)
tasks = list(query("catalog.list_target_tasks")["task_id"])
c1, c2 = st.columns(2)
with c1:
    pool = pick("Pool", pools, "pool")
with c2:
    target = pick("Target task", tasks, "target") if tasks else None
scores = choose_scores(target)
run = scores["run_id"] if scores and scores["pool_id"] == pool else None
if scores and not run:
    st.info(f"The chosen scores are for pool {scores['pool_id']}, not {pool}.")
if run:
    trust_banner(target, run)


def with_text(rows):
    """The rows with their text snippets (fetched for these rows only, if they lack them)."""
    return snippets.with_snippets(catalog(), pool, rows)


doc_id = st.query_params.get("doc")
if doc_id:
    document_panel(pool, doc_id, run)

if run:
    st.subheader(f"Top and bottom documents for {target}")
    sign_legend()
    n = st.slider("Documents per table", 5, 100, 10)
    top, bottom = st.columns(2)
    with top:
        st.markdown("**Most helpful**")
        rows = query("queries.top_documents", run, target, n)
        picked = doc_table(with_text(rows), "top", select=True)
    with bottom:
        st.markdown("**Most harmful**")
        rows = query("queries.top_documents", run, target, n, bottom=True)
        picked = doc_table(with_text(rows), "bottom", select=True) or picked
    if picked:
        open_document(picked, pool)

st.subheader("Search the whole pool")
region = pool_map_view.region_ids(pool)
in_region = region is not None and st.checkbox(
    f"Only documents in the map region ({len(region):,})",
    value=st.query_params.get("region") == "1",
)
with st.form("search"):
    text = st.text_input("Words (all must occur)")
    f1, f2, f3 = st.columns(3)
    sources = f1.multiselect("Sources", query("queries.pool_sources", pool))
    lo, hi = f2.number_input("min words", 0, value=0), f3.number_input("max words", 0, value=0)
    s1, s2, s3 = st.columns(3)
    min_score = s1.number_input("min score", value=None, disabled=not run)
    order = s2.selectbox("Order", ["pool", "score_desc", "score_asc"] if run else ["pool"])
    page = s3.number_input("page", 1, value=1)
    st.form_submit_button("Search")
with user_errors():
    filters = {
        "sources": tuple(sources),
        "min_words": lo or None,
        "max_words": hi or None,
        "run_id": run,
        "task_id": target if run else None,
        "min_score": min_score,
        "order": order,
    }
    offset = (page - 1) * PAGE_ROWS
    if in_region:  # ids of every match in the region, then rows for this page only
        ids = snippets.matching_ids(catalog(), pool, text, within=region, **filters)
        total = len(ids)
        shown = ids[offset : offset + PAGE_ROWS]
        hits = snippets.document_rows(catalog(), pool, shown, run, target)
    else:
        hits, total = query(
            "queries.search_documents", pool, text, **filters, limit=PAGE_ROWS, offset=offset
        )
    where = "in the map region" if in_region else "in the pool"
    st.caption(
        f"{total:,} matching documents {where} · page {page} of {max(1, -(-total // PAGE_ROWS))}"
    )
    picked = doc_table(with_text(hits), "search", select=True)
    if picked:
        open_document(picked, pool)
    exclude_all(
        pool,
        total,
        lambda: snippets.matching_ids(
            catalog(), pool, text, within=region if in_region else None, **filters
        ),
        "matching documents",
        "search",
        f"search: {text}" if text else "search",
    )
