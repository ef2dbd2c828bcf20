"""Launch `dsdm` CLI stages as detached background processes, and find them again later.

The app starts long stages (proxy training, featurisation, scoring, selection, evaluation) as
separate processes so they survive a page reload and keep running while the user browses. Each
launch runs ``python -m dsdm_engine.cli.launch --exit-file F -- <dsdm args>``, which calls the
`dsdm` CLI in-process (so its pid is the pid `run_job` records in the `jobs` table) and writes its
exit code to F when it ends; stdout and stderr go to ``artifacts/logs/<launch_id>.log`` and a small
``<launch_id>.json`` describes the launch. Progress, cancel and failure reasons live in the
`jobs` table; the exit code and log cover what happens before or outside a job (a bad flag, an
unknown command, a crash).

Also here: a rough cost and memory estimate shown before a featurisation is launched.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from data_catalog import atomic
from data_catalog.artifacts import ArtifactLayout


@dataclass(frozen=True)
class Launch:
    """One launched CLI process: what it runs, where it logs, and how it ended (if it has)."""

    launch_id: str
    kind: str
    args: tuple[str, ...]
    pid: int
    log_path: str
    exit_path: str
    started_at: str  # UTC ISO time, naive (matches the catalog's timestamps)
    state: str = "running"  # running | exited | vanished
    returncode: int | None = None

    @property
    def command(self) -> str:
        return "dsdm " + " ".join(self.args)


def log_dir(workspace_root: str | os.PathLike[str]) -> Path:
    path = ArtifactLayout(Path(workspace_root)).logs_dir
    path.mkdir(parents=True, exist_ok=True)
    return path


def launch_cli(
    workspace_root: str | os.PathLike[str],
    args: Sequence[str],
    kind: str,
    env: dict[str, str] | None = None,
) -> Launch:
    """Start `dsdm --workspace W <args>` detached; returns at once with the launch record."""
    if not args or not all(isinstance(a, str) for a in args):
        raise ValueError("args must be a non-empty list of strings")
    root = Path(workspace_root).resolve()
    logs = log_dir(root)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    launch_id = f"{stamp}-{kind}-{uuid.uuid4().hex[:6]}"
    log_path, exit_path = logs / f"{launch_id}.log", logs / f"{launch_id}.exit"
    argv = [
        sys.executable, "-m", "dsdm_engine.cli.launch", "--exit-file", str(exit_path), "--",
        "--workspace", str(root), *args,
    ]  # fmt: skip
    started = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not killed with the app's process group or terminal
            cwd=str(root),
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
    launch = Launch(launch_id, kind, tuple(args), proc.pid, str(log_path), str(exit_path), started)
    atomic.write_text(logs / f"{launch_id}.json", json.dumps(asdict(launch)))
    return launch


def _alive(pid: int) -> bool:
    """Whether `pid` still runs (reaping it first if it is our finished child)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie that is not our child still answers kill(0)
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def refresh(launch: Launch) -> Launch:
    """The launch with its current state: running, exited (with its code) or vanished."""
    exit_file = Path(launch.exit_path)
    if exit_file.exists():
        text = exit_file.read_text().strip()
        rc = int(text) if text.lstrip("-").isdigit() else None
        return Launch(**{**asdict(launch), "state": "exited", "returncode": rc})
    if _alive(launch.pid):
        return Launch(**{**asdict(launch), "state": "running"})
    if exit_file.exists():  # it finished between the two checks
        return refresh(launch)
    return Launch(**{**asdict(launch), "state": "vanished"})


def list_launches(workspace_root: str | os.PathLike[str], limit: int = 50) -> list[Launch]:
    """Launches of this workspace, newest first, with their current state."""
    out = []
    for path in sorted(log_dir(workspace_root).glob("*.json"), reverse=True)[:limit]:
        try:
            data = json.loads(path.read_text())
            data["args"] = tuple(data["args"])
            out.append(refresh(Launch(**data)))
        except (OSError, ValueError, TypeError):
            continue  # a half-written or foreign file: not ours to show
    return out


def log_tail(launch: Launch, max_bytes: int = 8000) -> str:
    """The end of a launch's log (progress-bar carriage returns folded to lines)."""
    try:
        with open(launch.log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - max_bytes))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.split("\r")[-1] for line in text.split("\n")]
    return "\n".join(lines).strip()


def stop(launch: Launch, grace_s: float = 0.0) -> bool:
    """Send SIGTERM to the launch's process group (when no job row can take a cancel)."""
    if refresh(launch).state != "running":
        return False
    try:
        os.killpg(launch.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return False
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _alive(launch.pid):
        time.sleep(0.05)
    return True


def jobs_of(launch: Launch, jobs: pd.DataFrame) -> pd.DataFrame:
    """The `jobs` rows this launch created: same pid, created after it started."""
    if jobs.empty:
        return jobs
    started = pd.Timestamp(launch.started_at) - pd.Timedelta(seconds=2)
    mask = (jobs["pid"] == launch.pid) & (pd.to_datetime(jobs["created_at"]) >= started)
    return jobs[mask]


# ------------------------------------------------------------------ stage commands
STAGES: dict[str, tuple[str, ...]] = {
    "proxy": ("proxy", "train"),
    "featurize": ("featurize",),
    "score": ("score",),
    "select": ("select",),
    "evaluate": ("evaluate",),
    "validate": ("validate",),
    "demo": ("demo", "--no-app"),  # the app is already running
}
# Which of the form's fields each stage takes (anything else goes in `extra`).
STAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "proxy": ("pool", "seed", "executor"),
    "featurize": ("pool", "executor"),
    "score": ("pool", "target"),
    "select": ("method", "pool", "target", "k", "seed"),
    "evaluate": ("pool", "target", "executor"),
    "validate": ("pool", "target", "seed", "executor"),
    "demo": ("seed",),
}


@dataclass(frozen=True)
class StageOption:
    """One setting of a stage's config dataclass, as the launcher form shows it."""

    name: str
    flag: str
    default: Any
    kind: str  # "bool" | "choice" | "int" | "float" | "text"
    choices: tuple[str, ...] = ()
    help: str = ""


def _stage_configs(stage: str) -> list[type]:
    """The config dataclasses whose fields a stage's command line takes."""
    from dsdm_engine.compute.configs import FeatureConfig, ScoreConfig, TrainConfig
    from dsdm_engine.evaluation.harness import EvalRecipe
    from dsdm_engine.evaluation.subsets import ValidateConfig
    from dsdm_engine.stages.config import ProxyConfig

    return {
        "proxy": [ProxyConfig, TrainConfig], "featurize": [FeatureConfig],
        "score": [ScoreConfig], "validate": [ValidateConfig], "evaluate": [EvalRecipe],
    }.get(stage, [])  # fmt: skip


# settings the form has its own widgets for, or that are not a launch choice
_FORM_OWNED = {"seed", "train", "workers"}


def stage_options(stage: str) -> list[StageOption]:
    """Every other setting of a stage (the launcher's options), with its default and type."""
    import dataclasses
    import typing

    from dsdm_engine.cli.options import _base_type, flag_of

    out = []
    for cls in _stage_configs(stage):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name in _FORM_OWNED:
                continue
            tp = _base_type(hints[f.name])
            choices = tuple(f.metadata.get("choices", ()))
            kind = ("bool" if tp is bool else "choice" if choices else
                    {int: "int", float: "float"}.get(tp, "text"))  # fmt: skip
            out.append(StageOption(f.name, flag_of(f), f.default, kind, choices,
                                   f.metadata.get("help", "")))  # fmt: skip
    return out


def option_args(stage: str, values: dict[str, Any]) -> list[str]:
    """Flags for the options whose value differs from the default (text from the form is parsed
    by the option's type); the stage's config dataclasses validate the result first, so a bad
    value is an error naming its flag before anything is launched."""
    from data_catalog.errors import InputError

    opts = {o.name: o for o in stage_options(stage)}
    parsed: dict[str, Any] = {}
    args: list[str] = []
    for name, raw in values.items():
        o = opts[name]
        value = raw.strip() if isinstance(raw, str) else raw
        if value in ("", None) or value == o.default:
            continue
        if o.kind in ("int", "float"):
            try:
                value = int(value) if o.kind == "int" else float(value)
            except ValueError:
                raise InputError(f"{o.flag} must be a number, not {raw!r}") from None
            if value == o.default:
                continue
        parsed[name] = value
        if o.kind == "bool":
            args.append(o.flag if value else "--no-" + o.flag.removeprefix("--"))
        else:
            args += [o.flag, str(value)]
    for cls in _stage_configs(stage):  # validation only: __post_init__ names the flag
        import dataclasses

        names = {f.name for f in dataclasses.fields(cls)}
        cls(**{k: v for k, v in parsed.items() if k in names})
    return args


def stage_args(
    stage: str,
    *,
    pool: str | None = None,
    target: str | None = None,
    method: str | None = None,
    k: int | None = None,
    seed: int | None = None,
    executor: str = "local",
    extra: str = "",
    options: dict[str, Any] | None = None,
) -> list[str]:
    """The `dsdm` arguments for one stage, from the fields that stage takes; `options` are the
    stage's other settings (`stage_options`, only the changed ones become flags); `extra` is
    split like a shell would (never run by one), for callers that pass flags as text."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; known stages: {', '.join(STAGES)}")
    values = {"method": method, "pool": pool, "target": target, "k": k, "seed": seed,
              "executor": None if executor == "local" else executor}  # fmt: skip
    args = list(STAGES[stage])
    for field in STAGE_FIELDS[stage]:
        if values[field] not in (None, ""):
            args += [f"--{field}", str(values[field])]
    args += option_args(stage, options or {})
    try:
        args += shlex.split(extra)
    except ValueError as exc:
        raise ValueError(f"extra arguments: {exc}") from exc
    return args


# ------------------------------------------------------------------ the detached runner
def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def _run(argv: Sequence[str]) -> int:
    """`python -m dsdm_engine.cli.launch --exit-file F -- <dsdm args>`: run the CLI and record
    its exit code."""
    if len(argv) < 3 or argv[0] != "--exit-file" or argv[2] != "--":
        print("usage: python -m dsdm_engine.cli.launch --exit-file FILE -- DSDM_ARGS...")
        return 2
    exit_file, cli_args = Path(argv[1]), list(argv[3:])
    signal.signal(signal.SIGTERM, _interrupt)  # a stop becomes a clean, recorded cancel
    print(f"$ dsdm {' '.join(cli_args)}", flush=True)
    rc = 1
    try:
        from dsdm_engine.cli import main

        rc = int(main(cli_args) or 0)
    except SystemExit as exc:  # argparse errors and --help
        rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except BaseException:  # noqa: BLE001 - the traceback goes to the log, the code to the file
        import traceback

        traceback.print_exc()
        rc = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        atomic.write_text(exit_file, str(rc))
    return rc


if __name__ == "__main__":
    sys.exit(_run(sys.argv[1:]))
