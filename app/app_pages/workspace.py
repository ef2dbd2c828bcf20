"""Workspace page, the landing page: per target, what the evidence says (which method it
favours, DsDm's held-out LDS with its CI, the compute multiplier) with links into Evidence,
Map and Inspect; then pools with counts, sources, token totals and planted labels; add a pool;
the cost and memory estimate before a featurisation; use your own model as a pool's proxy."""

import streamlit as st

from app.analysis import evidence_summary
from app.components import pool_summary
from app.state import catalog, data_roots, forget, query, upload_name, user_errors, workspace_root
from data_catalog.confine import confined_folder, confined_inputs
from data_catalog.ingest import ingest
from dsdm_engine.cli import launch as launcher
from dsdm_engine.compute.configs import PRESET_NAMES
from dsdm_engine.estimate import estimate_featurize

st.title("Workspace")
st.caption(f"Workspace folder: `{workspace_root()}`")
pools = query("catalog.list_pools")
tasks = list(query("catalog.list_target_tasks")["task_id"])
if tasks:
    st.subheader("What the evidence says")
    summary = evidence_summary(
        tasks,
        {t: query("queries.latest_validation", t)[0] for t in tasks},
        {t: query("queries.evaluation_results", t) for t in tasks},
    )
    links = {
        "open": [f"/evidence?target={t}" for t in tasks],
        "map": [f"/map?target={t}" for t in tasks],
        "inspect": [f"/inspect?target={t}" for t in tasks],
    }
    for i, (col, values) in enumerate(links.items(), start=1):  # right after the target
        summary.insert(i, col, values)
    link = st.column_config.LinkColumn
    st.dataframe(
        summary,
        hide_index=True,
        column_config={
            "open": link("evidence", display_text="evidence"),
            "map": link("map", display_text="map"),
            "inspect": link("inspect", display_text="inspect"),
        },
    )
    st.caption(
        "LDS: how well the scores rank models trained on random subsets of the pool by their "
        "held-out target loss (`dsdm validate`); the compute multiplier: how much more random "
        "data reaches DsDm's held-out loss (`dsdm evaluate`). Pools are below."
    )
if pools.empty:
    st.info("No pools yet. Add one below, or build the demo workspace with `dsdm demo`.")
else:
    st.dataframe(pools, hide_index=True)
    for pool_id in pools["pool_id"]:
        with st.expander(f"Pool {pool_id}", expanded=len(pools) == 1):
            pool_summary(query("catalog.get_pool", pool_id))

st.subheader("Add a pool")
with st.form("add_pool"):
    name = st.text_input("Pool name", placeholder="my-pool")
    upload = st.file_uploader("Upload a file (JSONL, Parquet, CSV, TXT)")
    roots = data_roots()
    if roots:
        path = st.text_input(
            "…or a path on the server (file, folder or glob) inside "
            + ", ".join(f"`{r}`" for r in roots)
        )
    else:
        path = ""
        st.caption(
            "Paths on the server are off (upload only); start the app with "
            "`dsdm app --data-root FOLDER` to ingest from a folder on the server."
        )
    skip_bad = st.checkbox("Skip bad records (and list them) instead of stopping")
    submitted = st.form_submit_button("Add pool")
if submitted:
    with user_errors():
        if bool(upload) == bool(path.strip()):
            raise ValueError("upload one file or give one path (not both, not neither)")
        if upload is not None:
            dest = catalog().workspace.tmp / "uploads" / upload_name(upload.name)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(upload.getvalue())
            inputs = [str(dest)]
        else:
            inputs = confined_inputs([path], [workspace_root(), *roots])
        bar = st.progress(0.0, text="ingesting")
        report = ingest(
            catalog(),
            name.strip(),
            inputs,
            skip_bad=skip_bad,
            progress=lambda d, t, m: bar.progress(min(1.0, d / t) if t else 0.0, m),
        )
        forget()
        st.success(report.summary())

st.subheader("Before featurising: cost and memory estimate")
if not pools.empty:
    with st.form("estimate"):
        c1, c2, c3, c4, c5 = st.columns(5)
        pool_id = c1.selectbox("Pool", list(pools["pool_id"]))
        preset = c2.selectbox("Proxy size", PRESET_NAMES, index=1)
        n_models = c3.number_input("Proxy models", 1, 64, 4)
        proj_dim = c4.number_input("Projection dimensions", 16, 16384, 2048, step=512)
        device = c5.selectbox("Device", ["cpu", "cuda"])
        asked = st.form_submit_button("Estimate")
    if asked:
        pool = query("catalog.get_pool", pool_id)
        est = estimate_featurize(
            n_docs=int(pool["n_docs"]),
            n_tokens=pool["n_tokens"],
            k=int(proj_dim),
            n_models=int(n_models),
            preset=preset,
            device=device,
        )
        m1, m2, m3 = st.columns(3)
        m1.metric("time (rough)", f"{est['seconds'] / 60:,.1f} min")
        m2.metric("feature files on disk", f"{est['feature_bytes'] / 1e9:,.2f} GB")
        m3.metric("peak memory", f"{est['peak_ram_bytes'] / 1e9:,.1f} GB")
        st.caption(
            f"{est['n_chunks']:,} chunks of 128 tokens (one per document when tokens are "
            f"not counted yet) · {est['n_params']:,} parameters per proxy · "
            f"{est['bytes_per_doc']:,} feature bytes per document ({est['store']}) · timing "
            "scaled from a 2-core CPU measurement."
        )

st.subheader("Use your own model")
st.caption(
    "A local Hugging Face causal-LM folder (config.json, weights, tokenizer.json: GPT-2, Llama, "
    "Qwen, SmolLM shapes) becomes the pool's proxy: the pool is tokenised with its tokenizer "
    "and `featurize` / `score` use it. It is read in place, never copied or downloaded."
)
roots = data_roots()
if pools.empty:
    st.caption("Add a pool first.")
elif not roots:
    st.caption("Model folders on the server are off: start the app with `--data-root FOLDER`.")
else:
    with st.form("import_model"):
        c1, c2 = st.columns([1, 3])
        pool_id = c1.selectbox("Pool", list(pools["pool_id"]), key="import_pool")
        folder = c2.text_input(
            "Model folder inside " + ", ".join(f"`{r}`" for r in roots), key="import_folder"
        )
        go = st.form_submit_button("Import model")
    if go:
        with user_errors():
            path = confined_folder(folder, [workspace_root(), *roots], "model folder")
            started = launcher.launch_cli(
                workspace_root(), ["proxy", "import", path, "--pool", pool_id], "proxy-import"
            )
            st.success(f"Launched `{started.command}`; follow it on the Jobs page.")
