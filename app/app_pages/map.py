"""Map page: every pool document on a 2-D map of its MiniLM embedding, coloured by a target's
DsDm percentile, membership in a selection, source or planted label; hover shows its text. A box
or lasso selection becomes the map region, kept for this session: Inspect can search within it,
and every document in it can go to the exclusion list at once."""

import streamlit as st

from app import pool_map_view as pmv
from app.bulk_actions import exclude_all
from app.components import job_progress
from app.state import catalog, listed_or_stop, pick, query, user_errors, workspace_root
from dsdm_engine.cli import launch as launcher
from dsdm_engine.stages.pool_map import region_mask

st.title("Pool map")
pools = listed_or_stop(
    "catalog.list_pools", "pool_id", "No pools yet: add one on the Workspace page."
)
pool = pick("Pool", pools, "pool")


@st.fragment(run_every=2)
def map_job(pool_id: str) -> None:
    """Progress of the newest map job of this pool; the page redraws when it has finished."""
    jobs = catalog().list_jobs(100)
    jobs = jobs[(jobs["kind"] == "map") & jobs["params"].str.contains(f'"pool": "{pool_id}"')]
    if jobs.empty:
        return
    job = jobs.iloc[0].to_dict()
    job_progress(job)
    seen = st.session_state.setdefault("_map_jobs_running", set())
    if job["status"] in ("queued", "running"):
        seen.add(job["job_id"])
    elif job["job_id"] in seen:  # it finished while this page watched: draw the map
        seen.discard(job["job_id"])
        pmv.clear_caches()
        st.rerun(scope="app")


data = pmv.map_data(pool)
if data is None:
    n_docs = int(query("catalog.get_pool", pool)["n_docs"])
    st.info(
        f"No map of pool {pool} yet. Computing it embeds all {n_docs:,} documents with MiniLM "
        "(cached, shared with the embedding selectors) and lays them out in 2-D (UMAP; PCA above "
        "200,000 documents), once per pool content. It runs as a job (also: "
        f"`dsdm map --pool {pool}`)."
    )
    if st.button("Compute the map"):
        with user_errors():
            started = launcher.launch_cli(workspace_root(), ["map", "--pool", pool], "map")
            st.success(f"Launched `{started.command}`; follow it here or on the Jobs page.")
    map_job(pool)
    st.stop()

options = pmv.colour_options(pool)
colour = pick("Colour by", list(options), "colour")
kind, arg = options[colour]
values = pmv.colour_values(data, kind, arg)
region = pmv.current_region(pool)
n_all = len(data.xy)
n_drawn = min(n_all, pmv.DRAW_CAP)
event = st.plotly_chart(
    pmv.map_figure(data, values, f"{pool}: {n_all:,} documents · {data.method}", region),
    on_select="rerun",
    selection_mode=("box", "lasso"),
    key="pool_map",
)
drawn = f"Drawing {n_drawn:,} of {n_all:,} documents (a fixed-seed sample). " * (n_drawn < n_all)
st.caption(
    f"Layout {data.run_id}: {data.method} of {data.embedder} embeddings. {drawn}"
    "Select a region with the box or lasso tool above the map; it counts every document in it."
)

shapes = pmv.region_from_event(event)
if shapes and (region is None or {k: region[k] for k in ("box", "lasso")} != shapes):
    pmv.set_region(data, shapes)
    st.rerun()  # redraw with the region outlined

if region is None:
    st.caption("Draw a box or a lasso on the map to select a region.")
    st.stop()
inside = region_mask(data.xy, region)
st.subheader(f"Region: {int(inside.sum()):,} of {n_all:,} documents")
c1, c2 = st.columns(2)
if c1.button("Inspect the region"):
    st.switch_page("app_pages/inspector.py", query_params={"pool": pool, "region": "1"})
if c2.button("Clear region"):
    del st.session_state[pmv.REGION_KEY]
    st.rerun()
ids = data.columns["doc_id"].to_numpy()[inside]
by_source = data.columns[inside].groupby("source").size().rename("documents")
st.dataframe(by_source.sort_values(ascending=False).reset_index(), hide_index=True)
if exclude_all(pool, len(ids), lambda: ids, "documents in the region", "map", "map region"):
    pmv.clear_caches()
