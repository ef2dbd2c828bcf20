"""Jobs page: launch a stage as a background `dsdm` process; follow every job's progress (rate,
ETA), log and failure reason; cancel it. Jobs outlive page reloads and run while you browse.
A stage's other settings are widgets generated from its config (defaults, choices, help), so
nothing is typed as free-text flags; only the changed ones are passed."""

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
stage = st.selectbox("Stage", list(launcher.STAGES), index=3)
with st.form("launch"):
    c1, c2, c3 = st.columns(3)
    pool = c1.selectbox("Pool", pools or [None])
    target = c2.selectbox("Target task", [None, *tasks], index=1 if tasks else 0)
    method = c3.selectbox("Method (selection)", methods, index=methods.index("dsdm"))
    c4, c5, c6 = st.columns(3)
    k = c4.number_input("Documents to select (selection)", 1, 10_000_000, 100)
    seed = c5.number_input("seed", 0, 2**31 - 1, 0)
    executor = c6.selectbox(
        "Executor (proxy, featurize, validate, evaluate)",
        ["local", "ray"],
        help="ray: a local Ray on this machine's cores, or $DSDM_RAY_ADDRESS's cluster",
    )
    options = {}
    opts = launcher.stage_options(stage)
    if opts:
        with st.expander(f"Settings of `{stage}` ({len(opts)}; defaults unless changed)"):
            cols = st.columns(3)
            for i, o in enumerate(opts):
                col, key = cols[i % 3], f"opt-{stage}-{o.name}"
                label = o.flag
                if o.kind == "bool":
                    options[o.name] = col.checkbox(label, bool(o.default), key=key, help=o.help)
                elif o.kind == "choice":
                    idx = o.choices.index(o.default) if o.default in o.choices else 0
                    options[o.name] = col.selectbox(label, o.choices, idx, key=key, help=o.help)
                else:
                    shown = "" if o.default is None else str(o.default)
                    options[o.name] = col.text_input(label, shown, key=key, help=o.help)
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
            executor=executor, options=options,
        )  # fmt: skip
        started = launcher.launch_cli(workspace_root(), args, stage)
        st.success(f"Launched `{started.command}`; it keeps running if you leave this page.")

job_board()
