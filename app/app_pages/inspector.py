"""Inspect page: top and bottom documents for a target (score, percentile, sign legend), search
and filters over the whole pool with server-side paging, and a document view."""

import streamlit as st

from app.components import doc_table, open_document, sign_legend
from app.document_view import document_panel
from app.state import PAGE_ROWS, choose_scores, pick, query, user_errors

st.title("Inspect documents")
pools = list(query("catalog.list_pools")["pool_id"])
if not pools:
    st.info("No pools yet: add one on the Workspace page.")
    st.stop()
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

doc_id = st.query_params.get("doc")
if doc_id:
    document_panel(pool, doc_id, run)

if run:
    st.subheader(f"Top and bottom documents for {target}")
    sign_legend()
    n = st.slider("How many", 5, 100, 10)
    top, bottom = st.columns(2)
    with top:
        st.markdown("**Most helpful**")
        picked = doc_table(query("queries.top_documents", run, target, n), "top", select=True)
    with bottom:
        st.markdown("**Most harmful**")
        picked = (
            doc_table(
                query("queries.top_documents", run, target, n, bottom=True), "bottom", select=True
            )
            or picked
        )
    if picked:
        open_document(picked, pool)

st.subheader("Search the whole pool")
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
    hits, total = query(
        "queries.search_documents",
        pool,
        text,
        sources=tuple(sources),
        min_words=lo or None,
        max_words=hi or None,
        run_id=run,
        task_id=target if run else None,
        min_score=min_score,
        order=order,
        limit=PAGE_ROWS,
        offset=(page - 1) * PAGE_ROWS,
    )
    st.caption(f"{total:,} matching documents · page {page} of {max(1, -(-total // PAGE_ROWS))}")
    picked = doc_table(hits, "search", select=True)
    if picked:
        open_document(picked, pool)
