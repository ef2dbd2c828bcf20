"""The demo build's second lane: the pool map, then the quick validation's subset models, in a
second process on the machine's other core while the main process trains, featurises and scores.

Neither stage needs the engine's results except the proxies' tokenizer, which exists once the
proxies run is done; the main process waits for the map before the selections (the embedding
selectors reuse its embeddings) and for this process before the validation, which then finds
every subset model trained and only computes the LDS. Both stages are jobs (Jobs page) and
resumable, so if this lane fails or is stopped the main process redoes what is missing.

The lane itself is `demo.side_lane`, run as ``python -m dsdm_engine.stages.demo --side-lane
WORKSPACE SIZE SEED DEVICE VALIDATION``; this module only starts it and waits for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from data_catalog.catalog import Catalog
from data_catalog.errors import NotFoundError

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
              "DSDM_TORCH_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip


class SideLane:
    """The second lane as a child process; `wait_map` and `join` are the main lane's sync
    points, `stop` ends it (SIGTERM: its running job is recorded as cancelled)."""

    def __init__(
        self, catalog: Catalog, pool_id: str, size: str, seed: int, device: str, validation: bool
    ) -> None:
        self.catalog, self.pool_id = catalog, pool_id
        cmd = [sys.executable, "-m", "dsdm_engine.stages.demo", "--side-lane",
               str(catalog.workspace.root), size, str(seed), device,
               "1" if validation else "0"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, env={**os.environ, **ONE_THREAD})

    def wait_map(self, poll_s: float = 1.0) -> None:
        """Until the pool map is stored or this lane has ended (the caller then reuses the map,
        or computes it itself)."""
        from dsdm_engine.stages.pool_map import load_pool_map

        while self.proc.poll() is None and load_pool_map(self.catalog, self.pool_id) is None:
            time.sleep(poll_s)

    def join(self) -> int:
        return self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_for_run(catalog: Catalog, run_id: str, poll_s: float = 2.0) -> bool:
    """True once `run_id` is done; False when it failed or was cancelled, or this process's
    parent (the main lane) is gone."""
    parent = os.getppid()
    while os.getppid() == parent:
        try:
            status = catalog.get_run(run_id)["status"]
        except NotFoundError:  # not created yet
            status = "pending"
        if status == "done":
            return True
        if status in ("failed", "cancelled"):
            return False
        time.sleep(poll_s)
    return False
