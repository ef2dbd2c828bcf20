"""`dsdm app`: serve the Streamlit curation app for one workspace, on 127.0.0.1 unless told.

The app script is located by path (the `app` package sits beside this one) and run with
`streamlit run`; the workspace reaches it through `DSDM_WORKSPACE`. Binding to anything but
loopback needs an explicit `--host`, and says so, because the app can write to the workspace.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from data_catalog.workspace import ENV_VAR, resolve_workspace_path
from dsdm_engine.cli.common import add_command

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501
APP_SCRIPT = Path(__file__).resolve().parents[2] / "app" / "main.py"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


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


def server_env(workspace: str | os.PathLike[str] | None) -> dict[str, str]:
    """The environment for the server: this one plus the resolved workspace."""
    return {**os.environ, ENV_VAR: str(resolve_workspace_path(workspace))}


def cmd_app(args: argparse.Namespace) -> int:
    host = args.host
    port = args.port or free_port(host)
    env = server_env(getattr(args, "workspace", None))
    url_host = f"[{host}]" if ":" in host else host
    print(f"DsDm Studio for workspace {env[ENV_VAR]}")
    print(f"open http://{url_host}:{port}", flush=True)
    if host not in _LOOPBACK:
        print(
            f"warning: serving on {host}: anyone who can reach this machine can read and change "
            "this workspace",
            file=sys.stderr,
        )
    try:
        return subprocess.call(server_command(host, port), env=env)
    except KeyboardInterrupt:
        return 0


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
