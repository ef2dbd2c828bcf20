"""App-wide state: the cached catalog, bounded cached queries, shareable URL parameters, errors.

- `catalog()` is one `Catalog` per workspace (`st.cache_resource`); it holds no connection, so
  a job writing the catalog from another process never blocks the app for long.
- `query(name, ...)` runs one `data_catalog.queries` function or `Catalog` method through
  `st.cache_data` with a short TTL and a bounded number of entries; results are pages or small
  aggregates by construction. `forget()` drops cached results after the app writes something.
- `pick(...)` is a selectbox whose value lives in `st.query_params`, so the URL names the
  current page, target and method and can be shared.
- `user_errors()` turns user-facing errors into an in-page message instead of a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import streamlit as st

from data_catalog import queries
from data_catalog.catalog import Catalog
from data_catalog.confine import data_roots_from_env
from data_catalog.errors import DsdmError, InputError
from data_catalog.sources.cache import SourceError
from data_catalog.workspace import resolve_workspace_path

PAGE_ROWS = 50  # rows per table page shipped to the browser (hard cap: queries.MAX_PAGE)
QUERY_TTL_S = 5


def workspace_root() -> str:
    """The workspace this server shows: $DSDM_WORKSPACE, else ./dsdm_workspace (the demo)."""
    return str(resolve_workspace_path(os.environ.get("DSDM_WORKSPACE") or None))


def data_roots() -> list[str]:
    """Folders on the server the app may ingest from (`dsdm app --data-root`); none by default."""
    return [str(p) for p in data_roots_from_env()]


def upload_name(name: str) -> str:
    """An uploaded file's name made safe as one file name in the staging folder."""
    base = Path(name.replace("\\", "/")).name.lstrip(".")
    if not base:
        raise InputError(f"uploaded file name {name!r} is not usable; rename the file")
    return base


@st.cache_resource(show_spinner=False)
def _catalog(root: str) -> Catalog:
    return Catalog.open(root)


def catalog() -> Catalog:
    return _catalog(workspace_root())


@st.cache_data(ttl=QUERY_TTL_S, max_entries=256, show_spinner=False)
def _query(root: str, name: str, args: tuple, kwargs: tuple) -> Any:
    owner, _, fn = name.partition(".")
    cat = _catalog(root)
    func = getattr(cat, fn) if owner == "catalog" else getattr(queries, fn)
    return func(*args, **dict(kwargs)) if owner == "catalog" else func(cat, *args, **dict(kwargs))


def query(name: str, *args: Any, **kwargs: Any) -> Any:
    """Cached `catalog.<method>` or `queries.<function>` call, e.g. query("catalog.list_pools")."""
    return _query(workspace_root(), name, tuple(args), tuple(sorted(kwargs.items())))


def forget() -> None:
    """Drop cached query results (after this app wrote to the catalog)."""
    _query.clear()


def listed_or_stop(listing: str, column: str, hint: str) -> list[str]:
    """The values of `column` in a catalog listing, or a hint and the end of the page."""
    values = list(query(listing)[column])
    if not values:
        st.info(hint)
        st.stop()
    return values


CHOSEN = "_chosen_"  # session-state prefix of the choices `pick` remembers
SHARED_CHOICES = ("pool", "target")


def pick(
    label: str,
    options: Sequence[Any],
    param: str,
    format_func: Callable[[Any], str] = str,
    **kwargs: Any,
) -> Any:
    """A selectbox whose choice is mirrored in the URL query parameter `param` and kept for the
    session, so the pool or target chosen on one page is still chosen on the next (the sidebar
    opens a page without the previous page's URL parameters)."""
    options = list(options)
    if not options:
        return None
    wanted = st.query_params.get(param) or st.session_state.get(CHOSEN + param)
    index = options.index(wanted) if wanted in options else 0
    value = st.selectbox(label, options, index=index, format_func=format_func, **kwargs)
    if value is not None:
        st.session_state[CHOSEN + param] = str(value)
        if st.query_params.get(param) != str(value):
            st.query_params[param] = str(value)
    return value


def remember_url_choices() -> None:
    """Keep the URL's choices (a shared link's ?pool=&target=) for the session's later pages."""
    for param in SHARED_CHOICES:
        if st.query_params.get(param):
            st.session_state[CHOSEN + param] = st.query_params[param]


def pick_many(label: str, options: Sequence[str], param: str, default: Sequence[str]) -> list[str]:
    """A multiselect mirrored in the URL as a comma-separated query parameter."""
    wanted = [m for m in st.query_params.get(param, "").split(",") if m in options]
    value = st.multiselect(label, list(options), default=wanted or list(default))
    joined = ",".join(value)
    if st.query_params.get(param, "") != joined:
        st.query_params[param] = joined
    return value


@contextmanager
def user_errors() -> Iterator[None]:
    """Show a user error (bad input, unknown name, locked catalog) as a message, not a trace."""
    try:
        yield
    except (DsdmError, SourceError, ValueError, OSError, LookupError) as exc:
        st.error(str(exc) or type(exc).__name__)


def score_set_label(row: dict[str, Any]) -> str:
    return f"{row['run_id']} · {row['n_docs']:,} docs"


def choose_scores(task_id: str | None, key: str = "scores") -> dict[str, Any] | None:
    """Pick one stored score set (run) for a target; None (with a hint) when there is none."""
    if not task_id:
        return None
    sets = query("queries.score_sets", task_id)
    if sets.empty:
        st.info(f"No DsDm scores for {task_id} yet: launch a scoring job on the Jobs page.")
        return None
    rows = sets.to_dict("records")
    labels = [r["run_id"] for r in rows]
    run = pick("Score run", labels, "run", key=key)
    return next(r for r in rows if r["run_id"] == run)
