"""DsDm Studio's Streamlit entry point: page config, navigation, and the shareable URL.

Run with `dsdm app` (or `streamlit run app/main.py`). The workspace comes from $DSDM_WORKSPACE
(default ./dsdm_workspace). Every page opens by its URL path (`/workspace`, `/map`, ...);
the current page is also mirrored in `?page=`, and a URL naming another page
(`/?page=compare&target=...`) opens that page with its target and method.
"""

from __future__ import annotations

import plotly.io as pio
import streamlit as st

# Load what the pages need once, when the server first runs this script, rather than on the
# first visit to each page (plotly, its default template, the engine's metrics and selectors):
# this keeps a page's first render to its own queries.
import app.analysis  # noqa: E402, F401
import app.components  # noqa: E402, F401
import dsdm_engine.evaluation.figures  # noqa: E402, F401
import dsdm_engine.selectors  # noqa: E402, F401
from app.auth import require_token
from app.state import remember_url_choices

_template = pio.templates[pio.templates.default]  # loads the template JSON now (assigned: no magic)

st.set_page_config(page_title="DsDm Studio", layout="wide")
require_token()  # before anything of the workspace is read or shown

PAGES = {
    "workspace": st.Page("app_pages/workspace.py", title="Workspace", url_path="workspace"),
    "targets": st.Page("app_pages/targets.py", title="Targets", url_path="targets"),
    "jobs": st.Page("app_pages/jobs.py", title="Jobs", url_path="jobs"),
    "map": st.Page("app_pages/map.py", title="Map", url_path="map"),
    "compare": st.Page("app_pages/compare.py", title="Compare", url_path="compare"),
    "evidence": st.Page("app_pages/evidence.py", title="Evidence", url_path="evidence"),
    "inspect": st.Page("app_pages/inspector.py", title="Inspect", url_path="inspect"),
    "harmful": st.Page("app_pages/harmful.py", title="Harmful data", url_path="harmful"),
    "select": st.Page("app_pages/select.py", title="Select", url_path="select"),
    "export": st.Page("app_pages/export.py", title="Export", url_path="export"),
}


def _start() -> None:
    """The app root `/`: open the page a shared link names (`?page=`), else Workspace."""
    wanted = PAGES.get(st.query_params.get("page", ""), PAGES["workspace"])
    st.session_state["_page_synced"] = True
    st.switch_page(wanted, query_params=st.query_params.to_dict())


# Streamlit serves its default page only at `/` (its url_path becomes ""), so a real page as
# the default would make `/workspace` "Page not found". The default is a hidden page that
# forwards to the right real one; every real page opens by its own path.
START = st.Page(_start, title="Start", url_path="start", default=True, visibility="hidden")
current = st.navigation([START, *PAGES.values()])
if current is START:
    current.run()
name = next(k for k, p in PAGES.items() if p.url_path == current.url_path)
wanted = st.query_params.get("page")
if wanted in PAGES and wanted != name and "_page_synced" not in st.session_state:
    st.session_state["_page_synced"] = True
    st.switch_page(PAGES[wanted], query_params=st.query_params.to_dict())
st.session_state["_page_synced"] = True
remember_url_choices()
if st.query_params.get("page") != name:
    st.query_params["page"] = name
current.run()
