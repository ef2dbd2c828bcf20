"""Select page: one recipe, previewed live. Target mix → method → budget → per-source quotas →
manual include/exclude (the pool's exclusion list always applies) → preview (documents, tokens,
per-source composition, score histogram) → create the selection → export it. The recipe is a
JSON file `dsdm select --recipe FILE` runs to the identical selection; exports record it."""

import json

import streamlit as st

from app import analysis
from app.components import trust_banner
from app.state import catalog, forget, listed_or_stop, pick, query, user_errors
from data_catalog.export import EXPORT_FORMATS, export_selection
from dsdm_engine.evaluation import figures, metrics
from dsdm_engine.selectors import available_selectors
from dsdm_engine.stages import pool_view
from dsdm_engine.stages.recipe import make_recipe, parse_recipe, preview_recipe, run_recipe

FAST = ("dsdm", "random")  # previewed on every change; other methods score the pool first

st.title("Build a selection")
pools = listed_or_stop(
    "catalog.list_pools", "pool_id", "No pools yet: add one on the Workspace page."
)
tasks = list(query("catalog.list_target_tasks")["task_id"])
c1, c2 = st.columns(2)
with c1:
    pool = pick("Pool", pools, "pool")
with c2:  # DsDm first: what the page is for, and previewed live
    methods = ["dsdm", *(m for m in available_selectors() if m != "dsdm")]
    method = pick("Method", methods, "method")

weights: dict[str, float] = {}
if method != "random" and method != "semdedup":
    chosen = st.multiselect(
        "Target tasks (several: a weighted mix of their z-scored DsDm scores)"
        if method == "dsdm"
        else "Target task",
        tasks,
        default=[t for t in [st.query_params.get("target")] if t in tasks] or tasks[:1],
        max_selections=None if method == "dsdm" else 1,
    )
    cols = st.columns(max(1, len(chosen)))
    for col, task in zip(cols, chosen, strict=False):
        weights[task] = col.number_input(f"weight {task}", value=1.0, step=0.5, key=f"w_{task}")
    for task in chosen[:1]:
        trust_banner(task)

b1, b2, b3, b4 = st.columns(4)
unit = b1.radio("Budget", ["documents", "tokens"], horizontal=True)
n_docs = int(query("catalog.get_pool", pool)["n_docs"])
size = b2.number_input(
    "How many", 1, None, max(1, n_docs // 10) if unit == "documents" else 500_000, step=100
)
mode = b3.selectbox("Ranking", ["top_k", "gumbel"], help="gumbel: sample by score (temperature)")
seed = int(b4.number_input("Seed", 0, None, 0))

with st.expander("Per-source quotas, manual include / exclude"):
    sources = query("queries.pool_sources", pool)
    quota_rows = st.data_editor(
        {"source": sources, "max share": [1.0] * len(sources)},
        disabled=["source"],
        key="quotas",
    )
    quotas = {
        s: float(f) for s, f in zip(quota_rows["source"], quota_rows["max share"], strict=True)
        if f is not None and float(f) < 1.0
    }  # fmt: skip
    include = st.text_area("Always include (document ids, one per line)").split()
    exclude = st.text_area("Never include (document ids, one per line)").split()
    excluded = len(query("catalog.exclusions", pool))
    st.caption(f"The pool's exclusion list ({excluded:,} documents) always applies on top.")
name = st.text_input("Selection name", placeholder="my-selection")

rule = {"k": int(size)} if unit == "documents" else {"token_budget": int(size)}
rule.update(mode=mode, source_max_fraction=quotas, include=include, exclude=exclude)
recipe = make_recipe(
    pool, method, rule,
    target=next(iter(weights)) if len(weights) == 1 else None,
    mix=weights if len(weights) > 1 else None,
    seed=seed, name=name.strip() or None,
)  # fmt: skip
text = json.dumps(recipe, indent=1)


@st.cache_data(ttl=300, max_entries=4, show_spinner=False)
def _pool_view(root: str, pool_id: str, content_hash: str):  # hash: a grown pool re-reads
    with catalog().session():  # one connection for all its queries
        return pool_view(catalog(), pool_id, texts=False)


@st.cache_data(ttl=60, max_entries=32, show_spinner="previewing…")
def _preview(recipe_json: str, root: str, content_hash: str):  # one cache per workspace/pool
    recipe, parsed = parse_recipe(json.loads(recipe_json))
    view = _pool_view(root, recipe["pool"], content_hash) if recipe["method"] in FAST else None
    with catalog().session():  # one connection for its few dozen queries
        return preview_recipe(catalog(), recipe, parsed, view=view)


st.subheader("Preview")
go = method in FAST or st.button("Preview (scores the pool with this method)")
if go:
    with user_errors():
        root, chash = str(catalog().workspace.root), query("catalog.get_pool", pool)["content_hash"]
        sel = _preview(text, root, chash)
        view = _pool_view(root, pool, chash)
        comp = metrics.composition(sel, view.ids, view.sources, view.n_tokens)
        m1, m2, m3 = st.columns(3)
        m1.metric("documents", f"{len(sel.ids):,}")
        m2.metric("tokens", f"{int(comp['n_tokens'].sum()):,}")
        m3.metric("sources", f"{int((comp['n_docs'] > 0).sum())} of {len(comp)}")
        left, right = st.columns(2)
        left.plotly_chart(figures.composition_bars({"selection": comp}))
        right.plotly_chart(analysis.score_histograms({method: sel.scores}))

r1, r2 = st.columns(2)
r2.download_button("Download recipe (JSON)", text, file_name="recipe.json", mime="application/json")
with st.expander("Recipe"):
    st.code(text, language="json")
    st.caption("`dsdm select --recipe recipe.json` makes the identical selection.")
if r1.button("Create selection", type="primary"):
    with user_errors():
        parsed_recipe, parsed_rule = parse_recipe(json.loads(text))
        with st.spinner("selecting…"):
            sid = run_recipe(catalog(), parsed_recipe, parsed_rule)
        forget()
        st.session_state["made_selection"] = sid
sid = st.session_state.get("made_selection")
if sid:
    sel_row = query("catalog.get_selection", sid)
    st.success(f"Selection {sel_row['name']} ({sid}): {int(sel_row['n_members']):,} documents.")
    e1, e2 = st.columns(2)
    fmt = e1.radio("Export format", list(EXPORT_FORMATS), horizontal=True)
    if e2.button("Export"):
        with user_errors():
            written = export_selection(catalog(), sid, fmt, f"{sel_row['name']}-{fmt}")
            forget()
            st.success(
                f"Wrote {written['row_count']:,} rows to `{written['path']}` with its manifest"
            )
