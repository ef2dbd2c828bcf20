"""Stage 1: M proxy LMs, each trained from scratch on its own seeded α-subset of the pool's
chunks; completed models are found by their markers and skipped on a rerun."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from data_catalog.catalog import Catalog
from data_catalog.errors import InputError
from dsdm_engine.progress import ProgressCallback, no_progress
from dsdm_engine.stages.config import ProxyConfig, config_hash
from dsdm_engine.stages.tokens import prepare_tokens


def train_proxies(
    catalog: Catalog,
    pool_id: str,
    config: ProxyConfig | None = None,
    progress: ProgressCallback = no_progress,
) -> str:
    """Train `config.n_models` proxies (skipping completed ones); returns the run id."""
    config = config or ProxyConfig()
    from dsdm_engine.compute.models import configure_threads
    from dsdm_engine.compute.training import TrainConfig, train_proxy

    configure_threads()
    pool = catalog.get_pool(pool_id)
    tokens = prepare_tokens(catalog, pool_id, config.vocab_size, config.seq_len)
    chunks = np.load(tokens.chunks_path)
    if len(chunks) < 2:
        raise InputError(
            f"pool {pool_id!r} has only {len(chunks)} chunks of {config.seq_len} tokens; "
            "add documents or lower --seq-len"
        )
    frozen = {**asdict(config), "pool_id": pool_id, "pool_hash": pool["content_hash"]}
    h = config_hash(frozen)
    run_id = f"proxies-{h[:12]}"
    run_dir = catalog.workspace.artifacts / "runs" / run_id
    catalog.create_run(
        "proxies", frozen, h, pool_id=pool_id, artifact_path=str(run_dir), run_id=run_id
    )
    budget = config.token_budget or int(round(config.alpha * len(chunks))) * config.seq_len
    total = budget * config.n_models
    for m in range(config.n_models):
        out = run_dir / f"model_{m}"
        if (out / "COMPLETE").exists():
            progress((m + 1) * budget, total, f"model {m + 1}: already trained, skipped")
            continue
        tc = TrainConfig(
            preset=config.preset,
            vocab_size=config.vocab_size,
            seq_len=config.seq_len,
            alpha=config.alpha,
            token_budget=config.token_budget,
            batch_size=config.batch_size,
            lr=config.lr,
            seed=config.seed + m,
            device=config.device,
        )

        def report(done: int, tot: int, msg: str = "", m: int = m) -> None:
            progress(m * budget + done, total, f"model {m + 1}/{config.n_models}: {msg}")

        train_proxy(chunks, tc, out, progress=report)
    catalog.set_run_status(run_id, "done")
    return run_id


def check_pool_unchanged(catalog: Catalog, proxies_run: dict[str, Any]) -> None:
    """Proxies, tokenizer and features belong to one pool content; refuse a pool changed since."""
    pool = catalog.get_pool(proxies_run["pool_id"])
    if pool["content_hash"] != proxies_run["config"]["pool_hash"]:
        raise InputError(
            f"pool {pool['pool_id']!r} changed since proxies {proxies_run['run_id']} were trained "
            "(documents were added): run `dsdm proxy train` again"
        )


def model_dirs(catalog: Catalog, run_id: str) -> list[Path]:
    run = catalog.get_run(run_id)
    n = int(run["config"]["n_models"])
    dirs = [Path(run["artifact_path"]) / f"model_{m}" for m in range(n)]
    missing = [d.name for d in dirs if not (d / "COMPLETE").exists()]
    if missing:
        raise InputError(f"run {run_id} is incomplete ({', '.join(missing)}): rerun `proxy train`")
    return dirs
