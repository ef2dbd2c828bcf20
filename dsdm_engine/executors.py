"""Where a stage's parallel units run: ``local`` (this process, the default) or ``ray``.

The units are the ones the local path already has: one (ensemble member, shard) of a
featurisation, one proxy of a training run. A Ray task runs exactly the local code on its unit
and writes the same files and completion markers, so a run started on Ray resumes locally and
the other way round, with bit-identical results (each unit depends only on its inputs; workers
use one torch thread, like local runs).

Ray joins the cluster at ``--ray-address`` / ``$DSDM_RAY_ADDRESS`` when given; otherwise a local
Ray starts with this machine's cores. Tasks ask for one CPU each, and one GPU when the stage
runs on CUDA. Nothing here imports Ray unless the Ray executor is chosen.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from data_catalog.errors import InputError
from dsdm_engine.progress import ProgressCallback, no_progress

EXECUTORS = ("local", "ray")
RAY_ADDRESS_ENV = "DSDM_RAY_ADDRESS"
T = TypeVar("T")
U = TypeVar("U")


def check_executor(name: str) -> str:
    if name not in EXECUTORS:
        raise InputError(f"unknown --executor {name!r}; known: {', '.join(EXECUTORS)}")
    return name


def init_ray(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Connect to (or start) Ray once per process; returns the `ray` module."""
    try:
        import ray
    except ImportError as exc:  # a regular dependency; only a broken install lands here
        raise InputError("--executor ray needs the `ray` package: pip install ray") from exc
    if not ray.is_initialized():
        address = address or os.environ.get(RAY_ADDRESS_ENV) or None
        env = {"env_vars": {"OMP_NUM_THREADS": "1", "DSDM_TORCH_THREADS": "1"}}
        if address:
            ray.init(address=address, runtime_env=env, log_to_driver=False)
        else:
            ray.init(
                num_cpus=num_cpus or os.cpu_count() or 1,
                include_dashboard=False,
                runtime_env=env,
                log_to_driver=False,
            )
    return ray


def run_units(
    fn: Callable[[U], T],
    units: Sequence[U],
    executor: str = "local",
    progress: ProgressCallback = no_progress,
    label: str = "units",
    gpu: bool = False,
    address: str | None = None,
    on_result: Callable[[int, T], None] | None = None,
) -> list[T]:
    """`fn(unit)` for every unit, in order of `units`: here, or as Ray tasks (1 CPU each, and
    1 GPU with `gpu`). Progress counts finished units with their rate; `on_result(i, result)`
    runs here as each unit finishes (in completion order), e.g. to store it at once."""
    check_executor(executor)
    t0, out = time.monotonic(), []
    if executor == "local" or not units:
        for i, unit in enumerate(units, 1):
            out.append(fn(unit))
            if on_result is not None:
                on_result(i - 1, out[-1])
            progress(i, len(units), f"{i}/{len(units)} {label}, {_rate(i, t0)}")
        return out
    ray = init_ray(address)
    remote = ray.remote(num_cpus=1, num_gpus=1 if gpu else 0)(fn)
    refs = [remote.remote(u) for u in units]
    index = {ref: i for i, ref in enumerate(refs)}
    results: list[Any] = [None] * len(refs)
    pending, done = list(refs), 0
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                results[index[ref]] = ray.get(ref)
                if on_result is not None:
                    on_result(index[ref], results[index[ref]])
                done += 1
                progress(done, len(refs), f"{done}/{len(refs)} {label} on Ray, {_rate(done, t0)}")
    except BaseException:  # cancelled (or failed): stop the tasks still running, then re-raise,
        for ref in pending:  # so no orphaned task writes into files a later run resumes from
            ray.cancel(ref, force=True)
        if pending:
            ray.wait(pending, num_returns=len(pending), timeout=30)
        raise
    return results


def _rate(done: int, t0: float) -> str:
    per_min = 60 * done / max(time.monotonic() - t0, 1e-9)
    return f"{per_min:.1f}/min"


__all__ = ["EXECUTORS", "RAY_ADDRESS_ENV", "check_executor", "init_ray", "run_units"]
