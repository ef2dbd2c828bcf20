"""Acting on every document of a search or a map region, not only the rows on screen.

`exclude_all` shows the count, asks for a confirmation, and only then fetches the ids (all of
them, from `ids_fn`) and adds them to the pool's exclusion list, which later selections skip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from app.state import catalog, forget


def exclude_all(
    pool_id: str,
    n: int,
    ids_fn: Callable[[], Sequence[str]],
    what: str,
    key: str,
    reason: str,
) -> int | None:
    """ "Exclude all N <what>" with a reason and a confirmation box; returns how many documents
    were newly excluded when the user went ahead, else None."""
    with st.container(border=True):
        st.markdown(f"**Exclude all {n:,} {what}** (every one, not only the rows shown)")
        why = st.text_input("Reason", value=reason, key=f"{key}_reason")
        sure = st.checkbox(
            f"Yes, add all {n:,} {what} to {pool_id}'s exclusion list",
            key=f"{key}_confirm",
            disabled=not n,
        )
        if not st.button(f"Exclude all {n:,} {what}", key=f"{key}_go", disabled=not (n and sure)):
            return None
        ids = list(ids_fn())
        added = catalog().add_exclusions(pool_id, ids, why)
        forget()
        st.success(
            f"{added:,} documents added to {pool_id}'s exclusion list "
            f"({len(ids) - added:,} of the {len(ids):,} were on it already)."
        )
        return added
