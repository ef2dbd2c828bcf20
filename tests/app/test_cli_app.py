"""`dsdm app`: loopback by default, prints the URL, `--host` needed to expose it."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from dsdm_engine.cli import serve as cli_app


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dsdm")
    parser.add_argument("--workspace")
    cli_app.register_app_command(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_app_serves_on_loopback_and_prints_the_url(monkeypatch, capsys, tmp_path: Path):
    calls = []
    monkeypatch.setattr(cli_app, "run_server", lambda cmd, env: calls.append((cmd, env)) or 0)
    args = parse(["--workspace", str(tmp_path / "ws"), "app", "--port", "8765"])
    assert args.func(args) == 0
    out = capsys.readouterr()
    assert "open http://127.0.0.1:8765/\n" in out.out and "token" not in out.err
    assert "server paths: off" in out.out
    cmd, env = calls[0]
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--server.port") + 1] == "8765"
    assert env["DSDM_WORKSPACE"] == str((tmp_path / "ws").resolve())
    assert "DSDM_APP_TOKEN" not in env and "DSDM_DATA_ROOTS" not in env
    assert Path(cmd[cmd.index("run") + 1]).name == "main.py"


def test_exposing_the_app_needs_host_and_a_token(monkeypatch, capsys, tmp_path: Path):
    calls = []
    monkeypatch.setattr(cli_app, "run_server", lambda cmd, env: calls.append(env) or 0)
    args = parse(["app", "--host", "0.0.0.0", "--port", "8766", "--data-root", str(tmp_path)])
    args.func(args)
    out = capsys.readouterr()
    token = calls[0]["DSDM_APP_TOKEN"]
    assert f"http://0.0.0.0:8766/?token={token}" in out.out
    assert "every session needs the token" in out.err
    assert calls[0]["DSDM_DATA_ROOTS"] == str(tmp_path.resolve())
    args = parse(["app", "--port", "8767", "--token", "my-own-token"])  # loopback, asked for
    args.func(args)
    assert calls[1]["DSDM_APP_TOKEN"] == "my-own-token"


def test_terminating_dsdm_app_stops_the_server(tmp_path: Path):
    import subprocess
    import sys
    import time

    script = tmp_path / "server.py"
    marker = tmp_path / "child.pid"
    script.write_text(
        f"import os, time\nopen({str(marker)!r}, 'w').write(str(os.getpid()))\ntime.sleep(120)\n"
    )
    runner = (
        "import sys; from dsdm_engine.cli.serve import run_server; "
        f"sys.exit(run_server([sys.executable, {str(script)!r}], {{}}))"
    )
    proc = subprocess.Popen([sys.executable, "-c", runner])
    while not marker.exists() or not marker.read_text():
        time.sleep(0.05)
    proc.terminate()
    assert proc.wait(timeout=20) == 0
    child = int(marker.read_text())
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


def test_default_port_is_a_free_one():
    port = cli_app.free_port()
    assert 8501 <= port < 8551


@pytest.mark.parametrize("flag", ["--help"])
def test_help_mentions_the_default_host(flag, capsys):
    with pytest.raises(SystemExit):
        parse(["app", flag])
    assert "127.0.0.1" in capsys.readouterr().out


def test_demo_serves_the_app_while_it_builds_then_keeps_serving(tmp_path: Path):
    """`dsdm demo` (tiny, offline) answers HTTP before its engine stages finish; SIGTERM
    stops the build's process and its server."""
    import subprocess
    import sys
    import threading
    import time
    import urllib.request

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "sources"
    port = cli_app.free_port(start=8600)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dsdm_engine.cli", "--workspace", str(tmp_path / "ws"), "demo",
         "--size", "tiny", "--fixtures", str(fixtures), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(
        target=lambda: [lines.append((time.monotonic(), line)) for line in proc.stdout],
        daemon=True,
    )
    reader.start()

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        deadline = time.monotonic() + 300
        while not healthy():
            assert proc.poll() is None and time.monotonic() < deadline, "".join(
                line for _, line in lines
            )
            time.sleep(0.5)
        up = time.monotonic()
        while not any("== demo workspace" in line for _, line in lines):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.5)
        built = next(t for t, line in lines if "== demo workspace" in line)
        assert up < built  # served before the engine, selections and summary were done
        time.sleep(1.0)  # the summary is printed: the process now only waits on its server
        assert healthy()  # and still serving afterwards
    finally:
        proc.terminate()
        code = proc.wait(timeout=30)
    assert code == 0
    time.sleep(0.5)
    assert not healthy()
