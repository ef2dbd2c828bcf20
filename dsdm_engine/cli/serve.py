"""`dsdm app`: serve the Streamlit curation app for one workspace, on 127.0.0.1 unless told.

The app script is located by path (the `app` package sits beside this one) and run with
`streamlit run`; the workspace reaches it through `DSDM_WORKSPACE`. Exposure rules:

- served on anything but loopback, every session must show an access token (generated and
  printed once, or set with `--token`; `--token` on loopback requires it there too);
- paths on the server the app may ingest from are confined to the workspace and the folders
  named with `--data-root` (none by default: upload only).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data_catalog.confine import DATA_ROOTS_ENV, check_data_roots
from data_catalog.errors import InputError
from data_catalog.workspace import ENV_VAR, resolve_workspace_path
from dsdm_engine.cli.common import add_command

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501
APP_SCRIPT = Path(__file__).resolve().parents[2] / "app" / "main.py"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
TOKEN_ENV = "DSDM_APP_TOKEN"  # the server reads it in app/auth.py


def free_port(host: str = DEFAULT_HOST, start: int = DEFAULT_PORT, tries: int = 50) -> int:
    """The first port at or after `start` that nothing listens on."""
    for port in range(start, start + tries):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port in {start}..{start + tries - 1} on {host}")


def server_command(host: str, port: int) -> list[str]:
    """The `streamlit run` command line for the app (headless, no usage statistics)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP_SCRIPT),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip


def server_env(
    workspace: str | os.PathLike[str] | None,
    token: str = "",
    data_roots: Sequence[str | os.PathLike[str]] = (),
) -> dict[str, str]:
    """The environment for the server: this one plus the resolved workspace, the access token
    (empty: none asked) and the data roots (empty: upload only)."""
    env = {k: v for k, v in os.environ.items() if k not in (TOKEN_ENV, DATA_ROOTS_ENV)}
    env[ENV_VAR] = str(resolve_workspace_path(workspace))
    if token:
        env[TOKEN_ENV] = token
    roots = check_data_roots(data_roots)
    if roots:
        env[DATA_ROOTS_ENV] = os.pathsep.join(str(r) for r in roots)
    return env


def check_address(host: str, port: int) -> None:
    """`--port` in 0..65535 and a `--host` this machine can bind; one error naming the flag."""
    if not 0 <= port <= 65535:
        raise InputError(f"--port must be in 0..65535 (0: the first free from 8501), not {port}")
    try:
        socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError) as exc:
        raise InputError(f"--host {host!r}: cannot resolve it ({exc})") from exc


def access_token(host: str, given: str | None) -> str:
    """The token sessions must show: the one given, else a new one off loopback, else none."""
    if given is not None:
        if len(given) < 8 or any(c.isspace() for c in given):
            raise InputError("--token must be at least 8 characters, without spaces")
        return given
    return "" if host in _LOOPBACK else secrets.token_urlsafe(18)


def cmd_app(args: argparse.Namespace) -> int:
    cmd, env = prepare_app(args)
    return run_server(cmd, env)


def prepare_app(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """Check the address, pick the port and token, print the URL: the server's command line
    and environment (`dsdm app`, and `dsdm demo`, which starts it while it builds)."""
    host = args.host
    check_address(host, args.port)
    token = access_token(host, args.token)
    env = server_env(getattr(args, "workspace", None), token, args.data_root or ())
    port = args.port or free_port(host)
    url_host = f"[{host}]" if ":" in host else host
    print(f"DsDm Studio for workspace {env[ENV_VAR]}")
    print(f"open http://{url_host}:{port}/" + (f"?token={token}" if token else ""), flush=True)
    if token:
        print(
            f"serving on {host}: every session needs the token above; anyone holding it can "
            "read and change this workspace",
            file=sys.stderr,
        )
    roots = env.get(DATA_ROOTS_ENV, "").split(os.pathsep) if env.get(DATA_ROOTS_ENV) else []
    print("server paths: " + (", ".join(roots) + " and the workspace" if roots else "off"))
    return server_command(host, port), env


def run_server(cmd: list[str], env: dict[str, str]) -> int:
    """Run the server until it exits; SIGTERM and Ctrl-C reach it too (never left orphaned)."""
    return wait_server(subprocess.Popen(cmd, env=env))


def wait_server(proc: subprocess.Popen) -> int:
    """Wait for a started server; SIGTERM and Ctrl-C are passed on to it."""
    old = signal.signal(signal.SIGTERM, lambda signum, frame: proc.send_signal(signum))
    try:
        while True:
            try:
                code = proc.wait()
                return 0 if code in (-signal.SIGTERM, -signal.SIGINT) else code
            except KeyboardInterrupt:
                proc.send_signal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGTERM, old)


def register_app_command(sub: Any) -> None:
    """Add `dsdm app` to the CLI's subparsers (called from `dsdm_engine.cli.build_parser`)."""
    a = add_command(
        sub,
        "app",
        cmd_app,
        "serve the curation app in a browser",
        "Serve the Streamlit app for the workspace (default 127.0.0.1). Opens on the demo "
        "workspace (./dsdm_workspace) unless --workspace or $DSDM_WORKSPACE says otherwise.",
    )
    a.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to bind (default 127.0.0.1; give 0.0.0.0 to expose it on the network)",
    )
    a.add_argument("--port", type=int, default=0, help="port (default: first free from 8501)")
    a.add_argument(
        "--token",
        help="access token every session must show (default: generated when not on loopback)",
    )
    a.add_argument(
        "--data-root",
        action="append",
        metavar="FOLDER",
        help="a folder on the server the app may ingest from (repeatable; default: upload only)",
    )
