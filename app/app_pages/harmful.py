"""Harmful-data page: the lowest-scored documents per target, documents that help one target and
hurt another, precision of the bottom-k against planted labels, and the exclusion list."""

import streamlit as st

from app.components import DOC_COLUMNS, binned_histogram, doc_table, sign_legend, trust_banner
from app.state import catalog, choose_scores, forget, listed_or_stop, pick, query, user_errors

st.title("Harmful data")
tasks = listed_or_stop(
    "catalog.list_target_tasks", "task_id", "No target tasks yet: add one on the Targets page."
)
target = pick("Target task", tasks, "target")
scores = choose_scores(target)
if not scores:
    st.stop()
run, pool = scores["run_id"], scores["pool_id"]
trust_banner(target, run)
sign_legend()
k = st.number_input("Bottom documents (lowest scores)", 1, 1000, 20)
bottom = query("queries.top_documents", run, target, int(k), bottom=True)
st.plotly_chart(
    binned_histogram(
        query("queries.score_histogram", run, target),
        f"Scores for {target} (planted documents overlaid)",
    )
)
event = st.dataframe(
    bottom,
    hide_index=True,
    column_config=DOC_COLUMNS,
    on_select="rerun",
    selection_mode="multi-row",
    key="bottom_rows",
)
chosen = [bottom.iloc[i]["doc_id"] for i in (event.selection.rows if event else [])]
reason = st.text_input("Reason", value=f"harmful for {target}")
c1, c2 = st.columns(2)
if c1.button(f"Exclude {len(chosen)} selected", disabled=not chosen):
    n = catalog().add_exclusions(pool, chosen, reason)
    forget()
    st.success(f"{n} documents added to {pool}'s exclusion list.")
if c2.button(f"Exclude all {len(bottom)} shown"):
    n = catalog().add_exclusions(pool, list(bottom["doc_id"]), reason)
    forget()
    st.success(f"{n} documents added to {pool}'s exclusion list.")
st.caption(
    f"{len(query('catalog.exclusions', pool)):,} documents excluded from later selections "
    f"on {pool}."
)

if not query("catalog.get_pool", pool)["planted"].empty:
    st.subheader(f"Do the bottom {k} documents find the planted bad ones?")
    with user_errors():
        rep = query("queries.planted_precision", run, target, int(k))
        m1, m2, m3 = st.columns(3)
        m1.metric(f"precision@{k}", f"{rep.precision:.0%}")
        m2.metric(f"planted in the bottom {k}", f"{rep.n_planted_in_bottom_k} / {rep.k}")
        m3.metric("base rate (random pick)", f"{rep.base_rate:.1%}")

st.subheader("Helps one target, hurts another")
others = query("queries.score_sets")
others = others[(others["pool_id"] == pool) & (others["task_id"] != target)]
if others.empty:
    st.caption("Score a second target on this pool to see conflicts.")
else:
    other = st.selectbox("Hurts which target", list(others["task_id"].unique()))
    run_b = others[others["task_id"] == other]["run_id"].iloc[0]
    doc_table(query("queries.conflicts", run, target, run_b, other, 50))
