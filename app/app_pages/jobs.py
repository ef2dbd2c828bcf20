"""Jobs page: launch a stage as a background `dsdm` process; follow every job's progress (rate,
ETA), log and failure reason; cancel it. Jobs outlive page reloads and run while you browse."""

import streamlit as st

from app.job_board import job_board
from app.state import catalog, query, user_errors, workspace_root
from dsdm_engine.cli import launch as launcher
from dsdm_engine.selectors import SelectionRule, available_selectors
from dsdm_engine.stages.selection import check_selection

st.title("Jobs")
pools = list(query("catalog.list_pools")["pool_id"])
tasks = list(query("catalog.list_target_tasks")["task_id"])
methods = available_selectors()
with st.form("launch"):
    stage = st.selectbox("Stage", list(launcher.STAGES), index=3)
    c1, c2, c3 = st.columns(3)
    pool = c1.selectbox("Pool", pools or [None])
    target = c2.selectbox("Target task", [None, *tasks], index=1 if tasks else 0)
    method = c3.selectbox("Method (selection)", methods, index=methods.index("dsdm"))
    c4, c5, c6, c7 = st.columns(4)
    k = c4.number_input("Documents to select (selection)", 1, 10_000_000, 100)
    seed = c5.number_input("seed", 0, 2**31 - 1, 0)
    executor = c6.selectbox(
        "Executor (proxy, featurize)",
        ["local", "ray"],
        help="ray: a local Ray on this machine's cores, or $DSDM_RAY_ADDRESS's cluster",
    )
    extra = c7.text_input("Other flags", placeholder="--preset tiny")
    go = st.form_submit_button("Launch")
st.caption(
    "Fields a stage does not take are left out: "
    + "; ".join(f"{s}: {', '.join(f) or '—'}" for s, f in launcher.STAGE_FIELDS.items())
)
if go:
    with user_errors():
        if stage == "select":  # the engine's own checks, before anything is launched
            check_selection(catalog(), method, pool, target, SelectionRule(k=int(k)))
        args = launcher.stage_args(
            stage, pool=pool, target=target, method=method, k=int(k), seed=int(seed),
            executor=executor, extra=extra,
        )  # fmt: skip
        started = launcher.launch_cli(workspace_root(), args, stage)
        st.success(f"Launched `{started.command}`; it keeps running if you leave this page.")

job_board()
