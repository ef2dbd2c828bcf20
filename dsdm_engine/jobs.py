"""Jobs: run a long stage with progress stored in the catalog, cancellable from another process.

`run_job` creates a `jobs` row, hands the stage one progress callback that (a) renders to the
terminal when asked, (b) writes done/total/rate/ETA to the catalog at most once a second, and (c)
raises `Cancelled` once someone has requested a cancel (the app's button, `dsdm jobs cancel`).
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from data_catalog.catalog import Catalog
from data_catalog.errors import DsdmError
from dsdm_engine.progress import Cancelled, ProgressCallback, RateMeter

T = TypeVar("T")


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
            eta_s = f"ETA {eta:6.0f}s" if eta is not None else "ETA      ?"
            sys.stderr.write(f"\r{pct} {done}/{total} {rate:,.1f}/s {eta_s} {message[:40]:<40}")
            if final:
                sys.stderr.write("\n")
            sys.stderr.flush()
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


def run_job(
    catalog: Catalog,
    kind: str,
    params: dict[str, Any],
    stage: Callable[[ProgressCallback], T],
    echo: bool = False,
    job_id: str | None = None,
) -> T:
    """Run `stage(progress)` as a job; records done, failed (with why) or cancelled."""
    job_id = job_id or catalog.create_job(kind, params)
    catalog.update_job(job_id, status="running", message="started")
    progress = JobProgress(catalog, job_id, echo=echo)
    try:
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
