"""`dsdm app`: loopback by default, prints the URL, `--host` needed to expose it."""

from __future__ import annotations

import argparse
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
    monkeypatch.setattr(cli_app.subprocess, "call", lambda cmd, env: calls.append((cmd, env)) or 0)
    args = parse(["--workspace", str(tmp_path / "ws"), "app", "--port", "8765"])
    assert args.func(args) == 0
    out = capsys.readouterr()
    assert "open http://127.0.0.1:8765" in out.out and "warning" not in out.err
    cmd, env = calls[0]
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--server.port") + 1] == "8765"
    assert env["DSDM_WORKSPACE"] == str((tmp_path / "ws").resolve())
    assert Path(cmd[cmd.index("run") + 1]).name == "main.py"


def test_exposing_the_app_needs_host_and_warns(monkeypatch, capsys):
    monkeypatch.setattr(cli_app.subprocess, "call", lambda cmd, env: 0)
    args = parse(["app", "--host", "0.0.0.0", "--port", "8766"])
    args.func(args)
    out = capsys.readouterr()
    assert "http://0.0.0.0:8766" in out.out and "warning: serving on 0.0.0.0" in out.err


def test_default_port_is_a_free_one():
    port = cli_app.free_port()
    assert 8501 <= port < 8551


@pytest.mark.parametrize("flag", ["--help"])
def test_help_mentions_the_default_host(flag, capsys):
    with pytest.raises(SystemExit):
        parse(["app", flag])
    assert "127.0.0.1" in capsys.readouterr().out
