"""The demo build's second lane: the pool map, then the quick validation's subset models, in a
second process on the machine's other core while the main process trains, featurises and scores.

Neither stage needs the engine's results except the proxies' tokenizer, which exists once the
proxies run is done; the main process waits for the map before the selections (the embedding
selectors reuse its embeddings) and for this process before the validation, which then finds
every subset model trained and only computes the LDS. Both stages are jobs (Jobs page) and
resumable, so if this lane fails or is stopped the main process redoes what is missing.

Run as ``python -m dsdm_engine.stages.demo_side WORKSPACE SIZE SEED DEVICE VALIDATION``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from data_catalog.catalog import Catalog
from data_catalog.errors import NotFoundError

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
              "DSDM_TORCH_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip


class SideLane:
    """The second lane as a child process; `wait_map` and `join` are the main lane's sync
    points, `stop` ends it (SIGTERM: its running job is recorded as cancelled)."""

    def __init__(self, catalog: Catalog, size: str, seed: int, device: str, validation: bool):
        self.catalog = catalog
        cmd = [sys.executable, "-m", __name__, str(catalog.workspace.root), size, str(seed),
               device, "1" if validation else "0"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, env={**os.environ, **ONE_THREAD})

    def wait_map(self, poll_s: float = 1.0) -> None:
        """Until the pool map is stored or this lane has ended (the caller then reuses the map,
        or computes it itself)."""
        from dsdm_engine.stages.demo import POOL
        from dsdm_engine.stages.pool_map import load_pool_map

        while self.proc.poll() is None and load_pool_map(self.catalog, POOL) is None:
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


def _wait_for_run(catalog: Catalog, run_id: str, poll_s: float = 2.0) -> bool:
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


def side_lane(catalog: Catalog, size: str, seed: int, device: str, validation: bool) -> None:
    """The map, then (with `validation` and a plan that validates) the subset models of the
    demo's quick validation, trained for the demo's proxies once their run is done."""
    from dataclasses import replace

    from dsdm_engine.evaluation.subsets import train_subset_models
    from dsdm_engine.jobs import run_job
    from dsdm_engine.stages.demo import PLANS, POOL, TARGETS, _map
    from dsdm_engine.stages.proxies import proxies_run_id

    plan = PLANS[size]
    t0 = time.monotonic()
    _map(catalog, seed, echo=False)
    print(f"[side] pool map ready ({time.monotonic() - t0:.0f} s)", flush=True)
    if not validation or plan.validation is None:
        return
    proxies = proxies_run_id(catalog, POOL, plan.proxies.with_train(seed=seed, device=device))
    if not _wait_for_run(catalog, proxies):
        return
    cfg = replace(plan.validation, device=device, workers=1)  # one core: the other is busy
    tasks = [catalog.get_target_task(t)["task_id"] for t in TARGETS]
    t1 = time.monotonic()
    run_job(
        catalog,
        "subset_models",
        {"pool": POOL, "demo": size, "subsets": cfg.n_subsets},
        lambda p: train_subset_models(catalog, proxies, tasks, cfg, p),
    )
    took = time.monotonic() - t1
    print(f"[side] {cfg.n_subsets} subset models trained ({took:.0f} s)", flush=True)


def main(argv: list[str]) -> int:
    from dsdm_engine.jobs import sigterm_as_interrupt

    root, size, seed, device, validation = argv
    with sigterm_as_interrupt():
        try:
            side_lane(Catalog.open(Path(root)), size, int(seed), device, validation == "1")
        except KeyboardInterrupt:
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
