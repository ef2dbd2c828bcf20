"""Targets page: create a target task (paste, upload JSONL, built-in), see its examples, its
selection/held-out split and its versions by content hash."""

import pandas as pd
import streamlit as st

from app.components import parse_pasted
from app.state import catalog, forget, pick, query, user_errors
from data_catalog.sources.builtin_targets import ALL_TARGETS, builtin_target_examples
from data_catalog.targets import add_target_task, parse_examples_jsonl

st.title("Target tasks")
with st.form("new_target"):
    st.markdown("**New target task** — what you want the selected data to be good for.")
    name = st.text_input("Name", placeholder="my-task")
    how = st.radio("Examples from", ["Paste", "Upload JSONL", "Built-in"], horizontal=True)
    pasted = st.text_area("Pasted examples: one per paragraph, or JSONL prompt/completion")
    upload = st.file_uploader("JSONL file", type=["jsonl", "ndjson"])
    builtin = st.selectbox("Built-in task", ALL_TARGETS)
    c1, c2, c3 = st.columns(3)
    heldout = c1.slider("held-out fraction", 0.1, 0.9, 0.5, 0.05)
    seed = c2.number_input("split seed", 0, 2**31 - 1, 0)
    cap = c3.number_input("max examples (built-in)", 2, 100_000, 200)
    create = st.form_submit_button("Create target task")
if create:
    with user_errors():
        if how == "Paste":
            examples, origin = parse_pasted(pasted), "pasted"
        elif how == "Upload JSONL":
            if upload is None:
                raise ValueError("choose a JSONL file to upload first")
            lines = upload.getvalue().decode("utf-8").splitlines()
            examples, origin = parse_examples_jsonl(lines, upload.name), f"upload:{upload.name}"
        else:
            recs = builtin_target_examples(builtin, max_examples=int(cap), seed=int(seed))
            examples = [(r["prompt"], r["completion"]) for r in recs]
            origin, name = f"builtin:{builtin}", name.strip() or builtin
        task = add_target_task(
            catalog(),
            name.strip(),
            examples,
            origin=origin,
            seed=int(seed),
            heldout_fraction=float(heldout),
        )
        forget()
        st.query_params["target"] = task["task_id"]
        state = "created" if task["created"] else "already stored (same content): reused"
        st.success(
            f"Target {task['task_id']} {state}: {task['n_selection']} selection / "
            f"{task['n_heldout']} held-out examples."
            + (
                f" {task['n_duplicates']} duplicate examples dropped."
                if task.get("n_duplicates")
                else ""
            )
        )

tasks = query("catalog.list_target_tasks")
if tasks.empty:
    st.info("No target tasks yet.")
    st.stop()
task_id = pick("Target task", list(tasks["task_id"]), "target")
task = tasks.set_index("task_id").loc[task_id]
c1, c2, c3 = st.columns(3)
c1.metric("examples", int(task["n_examples"]))
c2.metric("selection split", int(task["n_selection"]))
c3.metric("held out", int(task["n_heldout"]))
st.caption(
    f"origin {task['origin']} · split seed {task['split_seed']} · "
    f"content hash `{task['content_hash'][:16]}`"
)
st.markdown("**Versions of this name** (a new version whenever the examples change)")
st.dataframe(
    tasks[tasks["name"] == task["name"]][
        ["task_id", "version", "n_examples", "content_hash", "created_at"]
    ],
    hide_index=True,
)
split = st.radio("Show", ["all", "selection", "heldout"], horizontal=True)
examples = query("catalog.target_examples", task_id, None if split == "all" else split)
st.dataframe(pd.DataFrame([e.__dict__ for e in examples[:1000]]), hide_index=True)
