"""The app is safe to expose: a token on every session off loopback, and server paths confined.

`dsdm app --host 0.0.0.0` is started as a user would start it; over HTTP (headless Chromium),
a session without the token sees only the token form, a wrong token is refused, and the URL the
command printed opens the workspace.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_browser import TIMEOUT_MS, chromium_page, settle, wait_until_serving
from tiny_ws import build_tiny_workspace

from data_catalog.confine import confined_inputs
from data_catalog.errors import InputError
from dsdm_engine.cli import main
from dsdm_engine.cli.serve import access_token, free_port


def test_confined_inputs_resolve_links_and_globs(tmp_path: Path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (root / "sub" / "a.txt").write_text("a")
    (root / "sub" / "b.jsonl").write_text('{"text": "b"}\n')
    assert confined_inputs([str(root / "sub" / "*.txt")], [root]) == [str(root / "sub" / "a.txt")]
    assert len(confined_inputs([str(root)], [root])) == 2
    (root / "sub" / "evil.txt").symlink_to(outside / "secret.txt")
    for bad in [str(root), str(root / "sub" / "*.txt"), str(outside), str(root / ".." / "*")]:
        with pytest.raises(InputError, match="outside the folders this app may read"):
            confined_inputs([bad], [root])
    with pytest.raises(InputError, match="paths on the server are off"):
        confined_inputs([str(root)], [])


def test_app_flags_are_checked_before_serving(tmp_path: Path, capsys):
    ws = str(tmp_path / "ws")
    for argv, flag in [
        (["--port", "-1"], "--port"),
        (["--port", "70000"], "--port"),
        (["--host", "nosuch.invalid"], "--host"),
        (["--token", "short"], "--token"),
        (["--data-root", str(tmp_path / "missing")], "--data-root"),
    ]:
        assert main(["--workspace", ws, "app", *argv]) == 2, argv
        assert flag in capsys.readouterr().err
    assert access_token("127.0.0.1", None) == ""
    assert len(access_token("0.0.0.0", None)) >= 20
    assert access_token("0.0.0.0", None) != access_token("0.0.0.0", None)


def _start(tmp_path: Path, port: int) -> tuple[subprocess.Popen, str]:
    cat = build_tiny_workspace(tmp_path / "ws")
    log = tmp_path / "app.log"
    env = {**os.environ}
    env.pop("DSDM_APP_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dsdm_engine.cli", "--workspace", str(cat.workspace.root),
         "app", "--host", "0.0.0.0", "--port", str(port)],
        stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env,  # noqa: SIM115
    )  # fmt: skip
    wait_until_serving(proc, f"http://127.0.0.1:{port}", log, lambda: _token(log) is not None)
    return proc, str(_token(log))


def _token(log: Path) -> str | None:
    found = re.search(r"open http://\S+\?token=(\S+)", log.read_text())
    return found.group(1) if found else None


def test_exposed_app_refuses_sessions_without_the_token(tmp_path: Path):
    port = free_port("0.0.0.0", 8700)
    proc, token = _start(tmp_path, port)
    base = f"http://127.0.0.1:{port}"
    try:
        with chromium_page(tmp_path) as page:
            for url in [f"{base}/workspace", f"{base}/inspect?target=x", f"{base}/?token=wrong"]:
                page.goto(url)
                page.get_by_text("needs its access token").wait_for(timeout=TIMEOUT_MS)
                settle(page)
                assert page.get_by_text("Add a pool").count() == 0
                assert page.get_by_text("tiny").count() == 0  # the pool's name never shows
            page.get_by_label("Access token").fill("wrong-token")
            page.get_by_role("button", name="Open").click()
            page.get_by_text("Wrong token.").wait_for(timeout=TIMEOUT_MS)
            page.goto(f"{base}/workspace?token={token}")
            page.get_by_text("Add a pool").first.wait_for(timeout=TIMEOUT_MS)
            assert "token=" not in page.url  # removed from the address bar once accepted
            assert page.get_by_label("Access token").count() == 0
    finally:
        proc.terminate()
        proc.wait(timeout=20)
