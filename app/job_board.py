"""The live job board of the Jobs page: every launch with its job rows, progress, log, cancel.

Re-rendered every two seconds as a fragment (the rest of the page stays put). Job rows come
straight from the catalog (uncached: progress is the point); launches from their files under
`artifacts/logs/`. A job whose process is gone without finishing reads `died` from the catalog
(with its last progress and message) and has no Cancel button.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from app.components import job_progress, launch_log
from app.state import catalog, forget, workspace_root
from dsdm_engine.cli import launch as launcher


def job_card(job: dict[str, Any]) -> None:
    job_progress(job)
    if job["status"] in ("queued", "running") and not job["cancel_requested"]:
        if st.button("Cancel", key=f"cancel-{job['job_id']}"):
            state = catalog().request_cancel(job["job_id"])
            if state in ("queued", "running"):
                st.toast(f"cancel requested for {job['job_id']}")
            else:
                st.toast(f"job {job['job_id']} is already {state}; nothing to cancel")
    elif job["cancel_requested"] and job["status"] == "running":
        st.caption("cancel requested; it stops at its next progress report")


@st.fragment(run_every=2)
def job_board() -> None:
    jobs = catalog().list_jobs(200)
    launches = launcher.list_launches(workspace_root())
    finished = {launch.launch_id for launch in launches if launch.state != "running"}
    if finished - st.session_state.get("_finished_launches", set()):
        forget()  # a job finished since the last look: it may have stored new results
    st.session_state["_finished_launches"] = finished
    claimed: set[str] = set()
    for launch in launches:
        rows = launcher.jobs_of(launch, jobs)
        claimed |= set(rows["job_id"])
        with st.container(border=True):
            code = "" if launch.returncode is None else f" (exit {launch.returncode})"
            st.markdown(f"`{launch.command}` — **{launch.state}{code}** · {launch.started_at}")
            for job in rows.to_dict("records"):
                job_card(job)
            if rows.empty and launch.state == "running":
                st.caption("starting…")
                if st.button("Stop", key=f"stop-{launch.launch_id}"):
                    launcher.stop(launch)
            elif rows.empty and launch.returncode != 0:
                st.error("The command failed before it started a job; see its log.")
            launch_log(launch)
    others = jobs[~jobs["job_id"].isin(claimed)]
    if not others.empty:
        st.subheader("Other jobs (started from the CLI)")
        for job in others.head(50).to_dict("records"):
            with st.container(border=True):
                job_card(job)
