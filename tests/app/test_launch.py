"""The job launcher: detached `dsdm` processes with a log, an exit code, and their job rows."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from data_catalog.catalog import Catalog
from data_catalog.errors import InputError
from dsdm_engine.cli import launch as launcher


def wait_exit(root: Path, launch: launcher.Launch, timeout_s: float = 60) -> launcher.Launch:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = launcher.refresh(launch)
        if now.state != "running":
            return now
        time.sleep(0.1)
    raise AssertionError(f"{launch.command} still running after {timeout_s} s")


def test_a_launched_ingest_records_its_job_log_and_exit_code(tmp_path: Path):
    cat = Catalog.open(tmp_path / "ws")
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "one document"}\n{"text": "two documents"}\n')
    started = launcher.launch_cli(cat.workspace.root, ["pool", "add", "p", str(data)], "ingest")
    done = wait_exit(cat.workspace.root, started)
    assert (done.state, done.returncode) == ("exited", 0)
    assert "2 documents added" in launcher.log_tail(done)
    jobs = launcher.jobs_of(done, cat.list_jobs())
    assert list(jobs["status"]) == ["done"] and list(jobs["kind"]) == ["ingest"]
    [listed] = launcher.list_launches(cat.workspace.root)
    assert listed.launch_id == done.launch_id and listed.state == "exited"


def test_a_command_that_fails_before_any_job_says_why(tmp_path: Path):
    root = Catalog.open(tmp_path / "ws").workspace.root
    started = launcher.launch_cli(root, ["no-such-command"], "select")
    done = wait_exit(root, started)
    assert done.returncode == 2
    assert "invalid choice" in launcher.log_tail(done)


def test_a_failing_job_records_its_error(tmp_path: Path):
    cat = Catalog.open(tmp_path / "ws")
    started = launcher.launch_cli(cat.workspace.root, ["pool", "add", "p", "missing.jsonl"], "x")
    done = wait_exit(cat.workspace.root, started)
    assert done.returncode == 2
    [job] = launcher.jobs_of(done, cat.list_jobs()).to_dict("records")
    assert job["status"] == "failed" and "missing.jsonl" in job["error"]


def test_stop_ends_a_launch_that_would_otherwise_keep_running(tmp_path: Path):
    import duckdb

    cat = Catalog.open(tmp_path / "ws")
    holder = duckdb.connect(str(cat.path))  # holds the file lock: the launch waits for it
    try:
        started = launcher.launch_cli(
            cat.workspace.root, ["workspace", "info"], "x", env={"DSDM_LOCK_TIMEOUT": "600"}
        )
        time.sleep(2.0)
        assert launcher.refresh(started).state == "running"
        assert launcher.stop(started, grace_s=20) is True
        done = wait_exit(cat.workspace.root, started, timeout_s=20)
    finally:
        holder.close()
    assert done.state == "exited" and done.returncode not in (0, None)
    assert "schema version" not in launcher.log_tail(done)  # it never got to run
    assert launcher.stop(done) is False  # nothing left to stop


def test_stage_args_builds_argument_lists_without_a_shell():
    args = launcher.stage_args(
        "select",
        pool="p",
        target="t@v1",
        method="dsdm",
        k=10,
        seed=0,
        extra="--name 'my sel; rm -rf /'",
    )
    assert args == [
        "select",
        "--method",
        "dsdm",
        "--pool",
        "p",
        "--target",
        "t@v1",
        "--k",
        "10",
        "--seed",
        "0",
        "--name",
        "my sel; rm -rf /",
    ]
    assert launcher.stage_args("proxy", pool="p", target="t", k=3) == [
        "proxy", "train", "--pool", "p"]  # fmt: skip
    assert launcher.stage_args("demo", pool="p") == ["demo", "--no-app"]
    assert launcher.stage_args("featurize", pool="p", executor="ray") == [
        "featurize", "--pool", "p", "--executor", "ray"]  # fmt: skip
    assert launcher.stage_args("score", pool="p", executor="ray") == ["score", "--pool", "p"]
    assert launcher.stage_args("validate", pool="p", target="t", seed=1, extra="--subsets 8") == [
        "validate", "--pool", "p", "--target", "t", "--seed", "1", "--subsets", "8"]  # fmt: skip
    with pytest.raises(ValueError, match="known stages"):
        launcher.stage_args("nope")
    with pytest.raises(ValueError, match="extra arguments"):
        launcher.stage_args("score", extra="'unclosed")


def test_stage_options_become_flags_only_when_changed_and_are_validated():
    names = {o.name: o for o in launcher.stage_options("featurize")}
    assert names["proj_dim"].default == 2048 and names["method"].kind == "choice"
    assert names["whole_docs"].kind == "bool" and "seed" not in names
    assert launcher.stage_args("featurize", pool="p", options={"proj_dim": "2048"}) == [
        "featurize", "--pool", "p"]  # fmt: skip
    args = launcher.stage_args(
        "featurize", pool="p",
        options={"proj_dim": " 1024 ", "whole_docs": False, "precondition": "kfac"},
    )  # fmt: skip
    assert args == ["featurize", "--pool", "p", "--proj-dim", "1024", "--no-whole-docs",
                    "--precondition", "kfac"]  # fmt: skip
    assert "--models" in launcher.stage_args("proxy", pool="p", options={"n_models": "2"})
    with pytest.raises(InputError, match="--damping must be a positive number"):
        launcher.stage_args("featurize", pool="p", options={"damping": "0"})
    with pytest.raises(InputError, match="--subsets must be a number"):
        launcher.stage_args("validate", pool="p", options={"n_subsets": "lots"})
