"""Small rendering pieces shared by pages: document tables, the sign legend, charts, job cards.

Everything here renders what it is given (a page of rows, a small aggregate); nothing queries
the catalog or computes over the pool.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from data_catalog.errors import InputError
from data_catalog.targets import parse_examples_jsonl
from dsdm_engine.cli.launch import Launch, log_tail

SIGN_LEGEND = "Score sign: **positive = predicted to lower target loss** (helps the target); "
SIGN_LEGEND += "negative = predicted to raise it (hurts). Percentile 100 = most helpful."

DOC_COLUMNS = {
    "doc_id": st.column_config.TextColumn("id", width="small"),
    "score": st.column_config.NumberColumn("score", format="%.4g"),
    "zscore": st.column_config.NumberColumn("z", format="%.2f"),
    "percentile": st.column_config.ProgressColumn(
        "percentile", min_value=0, max_value=100, format="%.0f"
    ),
    "snippet": st.column_config.TextColumn("text", width="large"),
}


def pool_summary(pool: dict[str, Any]) -> None:
    """Counts, per-source document/word/token totals and planted labels of one pool."""
    c1, c2, c3 = st.columns(3)
    c1.metric("documents", f"{pool['n_docs']:,}")
    c2.metric("words (pre-tokens)", f"{pool['n_words']:,}")
    c3.metric("tokens", f"{pool['n_tokens']:,}" if pool["n_tokens"] else "not counted")
    st.markdown("**Sources**")
    st.dataframe(pool["sources"], hide_index=True)
    if not pool["planted"].empty:
        st.markdown("**Planted labels** (known-bad documents, for the harmful-data view)")
        st.dataframe(pool["planted"], hide_index=True)


def sign_legend() -> None:
    st.caption(SIGN_LEGEND)


def trust_banner(task_id: str | None, scores_run_id: str | None = None) -> None:
    """What `dsdm validate` says about these scores for this target (Evidence page)."""
    from app.state import query
    from dsdm_engine.evaluation.evidence import verdict

    if not task_id:
        return
    rows, _ = query("queries.latest_validation", task_id)
    v = verdict(rows, scores_run_id) if not rows.empty else None
    link = f"[Evidence](/evidence?target={task_id})"
    if v is None:
        st.caption(
            f"No validation of these scores for {task_id} yet: whether they predict anything "
            f"is unknown (run `dsdm validate`; {link})."
        )
    elif v.trusted:
        st.success(f"{v.message}. {link}")
    else:
        st.warning(f"{v.message} {link}")


def doc_table(df: pd.DataFrame, key: str | None = None, select: bool = False) -> str | None:
    """A page of documents; with `select`, clicking a row returns its doc_id."""
    if df.empty:
        st.caption("No documents.")
        return None
    shown = df.head(1000)
    # The text right after the id: last, it sat past the right edge of half-width tables.
    order = [c for c in ("doc_id", "snippet") if c in shown] + [
        c for c in shown.columns if c not in ("doc_id", "snippet")
    ]
    if not select:
        st.dataframe(shown, hide_index=True, column_config=DOC_COLUMNS, column_order=order)
        return None
    event = st.dataframe(
        shown,
        hide_index=True,
        column_config=DOC_COLUMNS,
        column_order=order,
        key=key,
        on_select="rerun",
        selection_mode="single-row",
    )
    rows = event.selection.rows if event is not None else []
    return str(shown.iloc[rows[0]]["doc_id"]) if rows else None


def open_document(doc_id: str, pool_id: str) -> None:
    """Go to the Inspect page's document view for `doc_id` (no-op if it is already open)."""
    if st.query_params.get("doc") == doc_id:
        return
    params = {k: st.query_params[k] for k in ("target", "run") if k in st.query_params}
    st.switch_page(
        "app_pages/inspector.py",
        query_params={**params, "doc": doc_id, "pool": pool_id, "page": "inspect"},
    )


def parse_pasted(text: str) -> list[tuple[str, str]]:
    """Pasted target examples: JSONL lines ({"prompt","completion"} or {"text"}), or plain-text
    examples separated by blank lines (each one carries loss on all of its text)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InputError("the pasted text is empty: paste one example per paragraph, or JSONL")
    if all(line.lstrip().startswith("{") for line in lines):
        return parse_examples_jsonl(text.splitlines(), "pasted text")
    blocks = [b.strip() for b in text.replace("\r\n", "\n").split("\n\n")]
    return [("", b) for b in blocks if b]


def binned_histogram(bins: pd.DataFrame, title: str) -> go.Figure:
    """Bar chart of server-side binned counts (all documents, planted ones overlaid)."""
    mid = (bins["bin_left"] + bins["bin_right"]) / 2
    width = float((bins["bin_right"] - bins["bin_left"]).iloc[0]) if len(bins) else 1.0
    fig = go.Figure(go.Bar(x=mid, y=bins["n_docs"], width=width, name="all documents"))
    if "n_planted" in bins and bins["n_planted"].sum() > 0:
        fig.add_bar(x=mid, y=bins["n_planted"], width=width, name="planted")
    fig.update_layout(
        title=title, barmode="overlay", xaxis_title="score", yaxis_title="documents", height=320
    )
    return fig


def progress_text(job: dict[str, Any]) -> str:
    """ "kind · status · done/total · rate · ETA" of one job (slow units read per minute)."""
    done, total = int(job.get("done") or 0), int(job.get("total") or 0)
    rate = job.get("rate")
    eta = job.get("eta_s")
    bits = [f"{done:,}/{total:,}" if total else ""]
    if rate is not None and rate == rate and rate > 0:
        bits.append(f"{rate:,.1f}/s" if rate >= 1 else f"{rate * 60:,.1f}/min")
    if eta is not None and eta == eta and job["status"] == "running":
        bits.append(f"ETA {eta:,.0f} s")
    return " · ".join([job["kind"], job["status"], *(b for b in bits if b)])


def job_progress(job: dict[str, Any]) -> None:
    """One jobs-table row: status, progress bar with rate and ETA, message or error."""
    done, total = int(job.get("done") or 0), int(job.get("total") or 0)
    frac = min(1.0, done / total) if total else (1.0 if job["status"] == "done" else 0.0)
    st.progress(frac, text=progress_text(job))
    if job["status"] == "failed":
        st.error(f"Failed: {job.get('message') or ''}")
        if job.get("error") and job["error"] != job.get("message"):
            st.code(job["error"], language=None)
    elif job["status"] == "died":
        last = f" Last message: {job['message']}" if job.get("message") else ""
        st.warning(f"Died ({job.get('error') or 'its process is gone'}).{last}")
    elif job.get("message"):
        st.caption(str(job["message"]))


def launch_log(launch: Launch) -> None:
    with st.expander("log", expanded=launch.state != "running" and launch.returncode not in (0,)):
        st.code(log_tail(launch) or "(empty)", language=None)


def manifest_view(manifest: dict[str, Any]) -> None:
    st.code(json.dumps(manifest, indent=2, sort_keys=True, default=str), language="json")
