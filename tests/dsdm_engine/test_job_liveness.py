"""Jobs that tell the truth: real `dsdm` processes killed with SIGKILL read `died`, SIGTERM ends a
job `cancelled` (exit 143), re-runs reconcile dead rows, cancel refuses finished jobs, and
`jobs list --limit` is checked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from data_catalog.catalog import Catalog
from data_catalog.procs import process_start
from dsdm_engine import jobs as engine_jobs
from dsdm_engine.cli import main
from dsdm_engine.jobs import run_job

# A `dsdm` process with one extra command, `spin`: a job that reports progress until stopped.
CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from dsdm_engine import cli
    from dsdm_engine.jobs import run_job

    def spin(args):
        cat = cli._catalog(args)
        def stage(progress):
            for i in range(10_000):
                progress(i, 10_000, f"step {i}")
                if i == 75:  # past the 1 s throttle: a second progress row is stored
                    Path(args.marker).write_text("running")
                time.sleep(0.02)
        run_job(cat, "spin", {"n": 1}, stage)
        return 0

    def register(sub):
        p = sub.add_parser("spin")
        p.add_argument("marker")
        p.set_defaults(func=spin)

    cli._EXTRA_COMMANDS.append(register)
    sys.exit(cli.main(["--workspace", sys.argv[1], "spin", sys.argv[2]]))
    """
)


def _spin(tmp_path: Path) -> tuple[subprocess.Popen, str]:
    """Start the child and wait until its job is running (it has reported progress)."""
    ws, marker = str(tmp_path / "ws"), tmp_path / "running"
    Catalog.open(ws)  # migrate once here, not racing the child
    proc = subprocess.Popen([sys.executable, "-c", CHILD, ws, str(marker)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the child job never started"
        time.sleep(0.05)
    return proc, ws


def test_sigkilled_job_reads_died_and_a_rerun_supersedes_it(tmp_path, capsys):
    proc, ws = _spin(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    cat = Catalog.open(ws)
    (row,) = cat.list_jobs().to_dict("records")
    assert row["status"] == "died" and row["done"] >= 1 and row["message"].startswith("step ")
    assert f"process {proc.pid} is gone" in cat.get_job(row["job_id"])["error"]
    assert main(["--workspace", ws, "jobs", "list"]) == 0
    assert "died" in capsys.readouterr().out
    assert main(["--workspace", ws, "jobs", "cancel", row["job_id"]]) == 0
    assert "is already died; nothing to cancel" in capsys.readouterr().out

    new = run_job(cat, "spin", {"n": 1}, lambda progress: cat.list_jobs().iloc[0]["job_id"])
    old = cat.get_job(row["job_id"])
    assert (old["status"], old["message"]) == ("died", f"superseded by {new}")
    assert old["done"] == row["done"] and not old["cancel_requested"]


def test_sigterm_ends_the_job_cancelled_and_exits_143(tmp_path):
    proc, ws = _spin(tmp_path)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    assert "stopped by SIGTERM" in proc.stderr.read().decode()
    (row,) = Catalog.open(ws).list_jobs().to_dict("records")
    assert (row["status"], row["message"]) == ("cancelled", "stopped by SIGTERM")
    assert row["finished_at"] is not None and row["done"] >= 3


def _dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def test_a_rerun_reconciles_a_running_row_whose_process_is_gone(catalog):
    old = catalog.create_job("score", {"pool": "p"})
    catalog.update_job(old, status="running", done=5, total=9, message="shard 5")
    other = catalog.create_job("score", {"pool": "q"})  # other params: not the same work
    catalog.update_job(other, status="running")
    with catalog.connect() as con:
        con.execute("UPDATE jobs SET pid = ? WHERE job_id IN (?, ?)", [_dead_pid(), old, other])
    new = run_job(catalog, "score", {"pool": "p"}, lambda progress: catalog.list_jobs(1))
    rows = dict(catalog.query_all("SELECT job_id, status || ' / ' || message FROM jobs"))
    assert rows == {
        old: f"died / superseded by {new['job_id'][0]}",
        other: "running / ",  # untouched on disk until it is read
        new["job_id"][0]: "done / done",
    }
    assert catalog.get_job(other)["status"] == "died"


def test_reused_pid_and_silent_heartbeat_read_died(catalog):
    reused = catalog.create_job("score", {})
    silent = catalog.create_job("score", {})
    with catalog.connect() as con:
        con.execute("UPDATE jobs SET pid_start = pid_start + 1 WHERE job_id = ?", [reused])
        con.execute(
            "UPDATE jobs SET heartbeat_at = heartbeat_at - INTERVAL 10 MINUTE WHERE job_id = ?",
            [silent],
        )
    if process_start() is not None:  # procfs: a start time tells a reused pid apart
        assert catalog.get_job(reused)["status"] == "died"
    job = catalog.job(silent)
    assert job.status == "died" and "no heartbeat for 6" in str(job.error)
    # a silent heartbeat is not certain death: nothing is written back
    assert catalog.query_one("SELECT status FROM jobs WHERE job_id = ?", [silent]) == ("queued",)


def test_the_heartbeat_runs_while_a_stage_is_quiet(catalog, monkeypatch):
    monkeypatch.setattr(engine_jobs, "HEARTBEAT_S", 0.05)
    beats = []

    def quiet(progress):
        start = catalog.job(progress.job_id).heartbeat_at
        time.sleep(0.5)
        beats.append(catalog.job(progress.job_id).heartbeat_at > start)
        return progress.job_id

    job_id = run_job(catalog, "quiet", {}, quiet)
    assert beats == [True] and catalog.job(job_id).status == "done"
    assert catalog.job(job_id).pid == os.getpid()


@pytest.mark.parametrize("status", ["done", "failed", "cancelled"])
def test_cancel_on_a_finished_job_changes_nothing(tmp_path, capsys, status):
    ws = str(tmp_path / "ws")
    cat = Catalog.open(ws)
    job = cat.create_job("score", {})
    cat.update_job(job, status=status, message="over")
    before = cat.get_job(job)
    assert main(["--workspace", ws, "jobs", "cancel", job]) == 0
    assert f"job {job} is already {status}; nothing to cancel" in capsys.readouterr().out
    assert cat.get_job(job) == before and not before["cancel_requested"]


def test_cancel_on_a_live_job_requests_it(tmp_path, capsys):
    ws = str(tmp_path / "ws")
    job = Catalog.open(ws).create_job("score", {})  # this (live) process
    assert main(["--workspace", ws, "jobs", "cancel", job]) == 0
    assert "it stops at its next progress report" in capsys.readouterr().out
    assert Catalog.open(ws).get_job(job)["cancel_requested"]


@pytest.mark.parametrize("limit", ["-1", "0"])
def test_jobs_list_limit_must_be_positive(tmp_path, capsys, limit):
    Catalog.open(tmp_path / "ws")
    with pytest.raises(SystemExit) as exc:
        main(["--workspace", str(tmp_path / "ws"), "jobs", "list", "--limit", limit])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "argument --limit: must be a positive integer" in err
    assert "Traceback" not in err


def test_terminal_progress_reads_like_the_jobs_page():
    from dsdm_engine.jobs import _rate_eta

    assert _rate_eta(140.0, 90.0, False) == "140.0/s ETA     90s"
    assert _rate_eta(0.025, 600.0, False) == "1.5/min ETA    600s"  # slow units per minute
    assert "/s" not in _rate_eta(0.0, None, True)  # all resumed: no "0.0/s"
    assert "ETA" not in _rate_eta(2.0, 0.0, True)  # finished: no ETA
