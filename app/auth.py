"""The app's access token: a session sees nothing until it has shown the token.

`dsdm app` sets $DSDM_APP_TOKEN for the server whenever it binds to anything but loopback (a
generated token, printed once, or the one given with `--token`). A session presents it once,
as `?token=...` in the URL `dsdm app` prints or typed into the form below; it is compared in
constant time, remembered for that session only, and removed from the URL so that links
copied from the address bar do not carry it.
"""

from __future__ import annotations

import hmac
import os

import streamlit as st

from dsdm_engine.cli.serve import TOKEN_ENV

_KEY = "_dsdm_authorised"


def _matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def require_token() -> None:
    """Stop the script run (nothing rendered but a token form) unless this session is allowed."""
    expected = os.environ.get(TOKEN_ENV, "")
    if not expected or st.session_state.get(_KEY):
        return
    given = st.query_params.get("token", "")
    if given and _matches(given, expected):
        st.session_state[_KEY] = True
        del st.query_params["token"]
        return
    st.title("DsDm Studio")
    st.warning("This server needs its access token (printed by `dsdm app` when it started).")
    with st.form("token"):
        typed = st.text_input("Access token", type="password")
        sent = st.form_submit_button("Open")
    if sent and typed and _matches(typed.strip(), expected):
        st.session_state[_KEY] = True
        st.rerun()
    if sent:
        st.error("Wrong token.")
    st.stop()
