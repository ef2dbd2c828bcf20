"""Compare page: one target, several methods, one budget: overlap@k, rank correlations, source
composition, score histograms, held-out loss vs budget with the compute multiplier, and the
documents picked by one method but not another."""

import streamlit as st

from app import analysis
from app.components import doc_table, open_document
from app.state import PAGE_ROWS, pick, pick_many, query
from dsdm_engine.evaluation import figures, metrics
from dsdm_engine.selectors import available_selectors

st.title("Compare selection methods")
tasks = list(query("catalog.list_target_tasks")["task_id"])
pools = list(query("catalog.list_pools")["pool_id"])
if not tasks or not pools:
    st.info("Add a pool and a target task first (Workspace and Targets pages).")
    st.stop()
c1, c2, c3 = st.columns([2, 2, 1])
with c1:
    target = pick("Target task", tasks, "target")
with c2:
    pool = pick("Pool", pools, "pool")
k = c3.number_input("Documents per method (budget)", 1, 10_000_000, 100, key="cmp_k")
methods = pick_many("Methods", available_selectors(), "method", default=["dsdm", "random"])
found = query("queries.latest_selections", pool, target, tuple(methods))
missing = [m for m in methods if m not in found]
if missing:
    st.info(
        f"No selection yet for {', '.join(missing)} on {pool} / {target}: launch one on "
        "the Jobs page (stage `select`)."
    )
if not found:
    st.stop()
ranked = {m: query("queries.selection_top_ids", sid, int(k)) for m, sid in found.items()}
sels = analysis.as_selections(ranked)
left, right = st.columns(2)
left.plotly_chart(
    figures.overlap_heatmap(metrics.overlap_at_k(sels, int(k)), title=f"Overlap@{k} (Jaccard)")
)
comps = {m: query("queries.selection_composition", sid, int(k)) for m, sid in found.items()}
right.plotly_chart(figures.composition_bars(comps))
if len(ranked) > 1:
    st.markdown("**Rank correlation** on the documents both methods picked")
    st.dataframe(analysis.rank_correlations(ranked), hide_index=True)
st.plotly_chart(
    analysis.score_histograms(
        {m: query("queries.selection_scores", sid) for m, sid in found.items()}
    )
)

results = query("queries.evaluation_results", target)
if results.empty:
    st.caption("No evaluations yet: launch `evaluate` jobs to get held-out loss vs budget.")
else:
    st.plotly_chart(figures.loss_curves(results))
    st.dataframe(analysis.multipliers(results), hide_index=True)

st.subheader("Picked by A but not by B")
a_col, b_col = st.columns(2)
a = a_col.selectbox("A", list(found), key="cmp_a")
b = b_col.selectbox("B", list(found), index=min(1, len(found) - 1), key="cmp_b")
diff, total = query("queries.picked_by_a_not_b", found[a], found[b], int(k), PAGE_ROWS)
st.caption(
    f"{total:,} documents in {a}'s top {k} are not in {b}'s (first {PAGE_ROWS} shown; "
    "click a row to open it)"
)
doc = doc_table(diff, key="cmp_diff", select=True)
if doc:
    open_document(doc, pool)
