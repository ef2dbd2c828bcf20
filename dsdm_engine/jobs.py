"""Jobs: run a long stage with progress stored in the catalog, cancellable from another process.

`run_job` creates a `jobs` row, hands the stage one progress callback that (a) renders to the
terminal when asked, (b) writes done/total/rate/ETA to the catalog at most once a second, and (c)
raises `Cancelled` once someone has requested a cancel (the app's button, `dsdm jobs cancel`).

Liveness: a daemon thread refreshes the row's heartbeat every `HEARTBEAT_S` while the stage runs,
so a job whose process was killed (`kill -9`) reads as `died` (see `data_catalog.catalog.jobs`);
a new job of the same kind and params marks such older rows "superseded by" it. SIGTERM is
handled like Ctrl-C while a job runs in the main thread: the job ends `cancelled` ("stopped by
SIGTERM") and `Terminated` propagates (the CLI exits 143).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from data_catalog.catalog import Catalog
from data_catalog.errors import DsdmError
from dsdm_engine.progress import Cancelled, ProgressCallback, RateMeter, Terminated

T = TypeVar("T")
HEARTBEAT_S = 10.0


_open_line = [False]  # a progress line is on the terminal without its newline


def end_progress_line() -> None:
    """End an unfinished progress line, so a message printed next starts on its own line."""
    if _open_line[0]:
        sys.stderr.write("\n")
        _open_line[0] = False


class JobProgress:
    """The one callback a stage reports through; persists throttled updates, checks cancel."""

    def __init__(
        self,
        catalog: Catalog,
        job_id: str,
        echo: bool = False,
        min_interval_s: float = 1.0,
    ) -> None:
        self.catalog, self.job_id, self.echo = catalog, job_id, echo
        self.min_interval_s = min_interval_s
        self._meter: RateMeter | None = None
        self._last = 0.0
        self._last_total = 0
        self.lock = threading.Lock()  # progress writes and heartbeats never overlap

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if self._meter is None or total != self._last_total:
            self._meter, self._last_total = RateMeter(done), total
        now = time.monotonic()
        final = total and done >= total
        if now - self._last < self.min_interval_s and not final:
            return
        self._last = now
        rate = self._meter.rate(done)
        eta = self._meter.eta_s(done, total) if total else None
        if self.echo:
            pct = f"{100 * done / total:5.1f}%" if total else "     "
            sys.stderr.write(
                f"\r{pct} {done}/{total} {_rate_eta(rate, eta, final)} {message[:40]:<40}"
            )
            _open_line[0] = not final
            if final:
                sys.stderr.write("\n")
            sys.stderr.flush()
        with self.lock:
            cancel = self.catalog.update_job(
                self.job_id,
                status="running",
                done=int(done),
                total=int(total),
                rate=float(rate),
                eta_s=None if eta is None else float(eta),
                message=message,
            )
        if cancel:
            raise Cancelled(f"job {self.job_id} was cancelled")


@contextmanager
def heartbeats(progress: JobProgress, every_s: float | None = None) -> Iterator[None]:
    """Refresh the job's heartbeat every `every_s` (default `HEARTBEAT_S`) from a daemon thread
    until the block ends."""
    stop = threading.Event()
    every_s = HEARTBEAT_S if every_s is None else every_s

    def beat() -> None:
        while not stop.wait(every_s):
            try:
                with progress.lock:
                    progress.catalog.heartbeat(progress.job_id)
            except Exception:  # noqa: BLE001 - a missed beat is retried; never kill the stage
                continue

    thread = threading.Thread(target=beat, name=f"heartbeat-{progress.job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into `Terminated` while the block runs (main thread only; else no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: let the outcome be recorded
        raise Terminated("stopped by SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_job(
    catalog: Catalog,
    kind: str,
    params: dict[str, Any],
    stage: Callable[[ProgressCallback], T],
    echo: bool = False,
    job_id: str | None = None,
) -> T:
    """Run `stage(progress)` as a job; records done, failed (with why) or cancelled.

    Older rows of the same kind and params whose process died are marked superseded by it.
    """
    with sigterm_as_interrupt():
        job_id = job_id or catalog.create_job(kind, params)
        catalog.start_job(job_id)
        catalog.supersede_jobs(kind, params, job_id)
        return _run(catalog, job_id, JobProgress(catalog, job_id, echo=echo), stage)


def _run(
    catalog: Catalog, job_id: str, progress: JobProgress, stage: Callable[[ProgressCallback], T]
) -> T:
    """Run the stage with heartbeats; record how it ended."""
    try:
        with heartbeats(progress):
            result = stage(progress)
    except (Cancelled, KeyboardInterrupt) as exc:
        catalog.update_job(job_id, status="cancelled", message=str(exc) or "interrupted")
        raise
    except DsdmError as exc:
        catalog.update_job(job_id, status="failed", error=str(exc), message=str(exc))
        raise
    except Exception as exc:
        tb = traceback.format_exc(limit=8)
        catalog.update_job(
            job_id, status="failed", error=tb, message=f"{type(exc).__name__}: {exc}"
        )
        raise
    catalog.update_job(job_id, status="done", message="done")
    return result


def _rate_eta(rate: float, eta: float | None, final: bool) -> str:
    """ "12.3/s ETA 40s" for the terminal, as the Jobs page reads it: slow units per minute, no
    rate when nothing was done here (all of it resumed), no ETA once finished."""
    if not rate > 0:
        shown = "        "
    elif rate >= 1:
        shown = f"{rate:,.1f}/s"
    else:
        shown = f"{rate * 60:,.1f}/min"
    if final:
        return shown
    return f"{shown} " + (f"ETA {eta:6.0f}s" if eta is not None else "ETA      ?")
