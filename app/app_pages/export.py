"""Export page: choose a selection (with its overrides) and a format, see the manifest before
writing, write it under exports/, and download it."""

from pathlib import Path

import streamlit as st

from app.components import manifest_view
from app.state import catalog, forget, pick, query, user_errors
from data_catalog.export import EXPORT_FORMATS, build_manifest, export_selection

st.title("Export a subset")
sels = query("catalog.list_selections")
if sels.empty:
    st.info("No selections yet: run one on the Jobs page.")
    st.stop()
labels = {
    r.selection_id: f"{r.name} · {r.method} · {r.task_id or 'no target'} · {r.n_members:,} docs"
    for r in sels.itertuples()
}
sel_id = pick("Selection", list(reversed(list(labels))), "selection", format_func=labels.get)
fmt = st.radio(
    "Format",
    list(EXPORT_FORMATS),
    horizontal=True,
    format_func={"parquet": "Parquet", "jsonl": "JSONL", "ids": "id list"}.get,
)
sel = query("catalog.get_selection", sel_id)
st.markdown("**Manual overrides** stored with this selection")
st.json(sel["overrides"] or {}, expanded=False)
name = st.text_input("Export folder name", value=f"{sel['name']}-{fmt}")
st.markdown("**Manifest preview** (the file checksum is added when written)")
with user_errors():
    manifest_view(build_manifest(catalog(), sel_id, fmt))
overwrite = st.checkbox("Overwrite an export with this name")
if st.button("Write export", type="primary"):
    with user_errors():
        written = export_selection(catalog(), sel_id, fmt, name, overwrite=overwrite)
        forget()
        st.session_state["last_export"] = written
done = st.session_state.get("last_export")
if done and done["selection_id"] == sel_id:
    path = Path(done["path"])
    st.success(f"Wrote {done['row_count']:,} rows to `{path}` (sha256 {done['sha256'][:16]}…)")
    st.download_button(f"Download {path.name}", path.read_bytes(), file_name=path.name)
    st.download_button(
        "Download manifest.json",
        (path.parent / "manifest.json").read_bytes(),
        file_name="manifest.json",
    )
st.subheader("Earlier exports (in exports/)")
st.dataframe(
    query("catalog.list_exports").head(100)[
        ["export_id", "selection_id", "format", "path", "n_rows", "sha256", "created_at"]
    ],
    hide_index=True,
)
