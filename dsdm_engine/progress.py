"""One progress protocol for every long stage: the CLI renders it as a bar, the app as st.progress.

A stage calls `progress(done, total, message)` as it goes. To cancel a stage, the callback raises
`Cancelled`; stages leave only complete shards behind, so a cancelled stage resumes cleanly.
"""

from __future__ import annotations

import time
from typing import Protocol


class Cancelled(Exception):
    """Raised from a progress callback to stop a stage between two units of work."""


class Terminated(KeyboardInterrupt):
    """Raised in a job's process on SIGTERM: handled like Ctrl-C (the job ends `cancelled`)."""


class ProgressCallback(Protocol):
    def __call__(self, done: int, total: int, message: str = "") -> None: ...


def no_progress(done: int, total: int, message: str = "") -> None:
    """The default callback: report nothing."""


class RateMeter:
    """Rate and ETA from (done, time) observations since the meter was created."""

    def __init__(self, start_done: int = 0) -> None:
        self._t0 = time.monotonic()
        self._d0 = start_done

    def rate(self, done: int) -> float:
        elapsed = time.monotonic() - self._t0
        return (done - self._d0) / elapsed if elapsed > 0 else 0.0

    def eta_s(self, done: int, total: int) -> float | None:
        r = self.rate(done)
        return (total - done) / r if r > 0 else None
