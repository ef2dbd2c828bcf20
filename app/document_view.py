"""The document panel of the Inspect page: text, metadata, scores for every target, the
selections that include it, and (on demand) the target examples it helps and hurts most."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.components import sign_legend
from app.state import catalog, query, user_errors, workspace_root


@st.cache_data(ttl=600, max_entries=64, show_spinner="Computing per-example scores…")
def _drilldown(root: str, run_id: str, doc_id: str) -> dict:
    from dsdm_engine.stages import example_drilldown  # engine code: loaded only when asked

    return example_drilldown(catalog(), run_id, doc_id, top=5)


def document_panel(pool: str, doc_id: str, run_id: str | None) -> None:
    """Render one document; `run_id` is the target's score run, if any."""
    with st.container(border=True), user_errors():
        doc = query("queries.get_document", pool, doc_id)
        st.subheader(f"Document {doc_id}")
        st.caption(
            f"pool {pool} · source {doc['source']} · {doc['n_words']:,} words · "
            f"metadata {doc['metadata'] or '{}'}"
        )
        st.text(doc["text"][:20_000])
        st.markdown("**Scores for every target**")
        sign_legend()
        st.dataframe(query("queries.document_scores", pool, doc_id), hide_index=True)
        st.markdown("**Selections that include it**")
        st.dataframe(query("queries.selections_containing", doc_id), hide_index=True)
        config = query("catalog.get_run", run_id)["config"] if run_id else {}
        if "features_run_id" not in config:
            st.caption(
                "Per-example explanations need DsDm scores from `dsdm score` (proxy "
                "features); this target's scores have none."
            )
        elif st.button("Which target examples does it help and hurt most?"):
            found = _drilldown(workspace_root(), run_id, doc_id)
            helps, hurts = st.columns(2)
            helps.markdown("**Helps most**")
            helps.dataframe(pd.DataFrame(found["helps"]), hide_index=True)
            hurts.markdown("**Hurts most**")
            hurts.dataframe(pd.DataFrame(found["hurts"]), hide_index=True)
        if st.button("Close document"):
            del st.query_params["doc"]
            st.rerun()
