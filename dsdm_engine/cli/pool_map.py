"""`dsdm map --pool P`: compute and store the pool map (a 2-D layout of every document).

Runs as a job (progress in the terminal, the catalog and the app's Jobs page; cancellable), and
reuses a stored layout of the same pool content unless `--force`. See `dsdm_engine.stages.pool_map`.
"""

from __future__ import annotations

import argparse
from typing import Any

from data_catalog.catalog import Catalog
from dsdm_engine.cli.common import add_command
from dsdm_engine.cli.options import seed_int


def cmd_map(args: argparse.Namespace) -> int:
    from dsdm_engine.jobs import run_job
    from dsdm_engine.stages.pool_map import compute_pool_map

    cat = Catalog.open(args.workspace)
    params = {"pool": args.pool, "method": args.method, "seed": args.seed, "force": args.force}
    found = run_job(
        cat,
        "map",
        params,
        lambda progress: compute_pool_map(
            cat,
            args.pool,
            method=args.method,
            seed=args.seed,
            progress=progress,
            force=args.force,
        ),
        echo=not args.quiet,
    )
    print(f"map {found.run_id}: {len(found.xy):,} documents laid out with {found.method}")
    return 0


def register_map_command(sub: Any) -> None:
    """Add `dsdm map` to the CLI's subparsers (hooked in `dsdm_engine.cli._register_extra`)."""
    m = add_command(
        sub,
        "map",
        cmd_map,
        "2-D map of a pool's documents (for the app's Map page)",
        "Embed every document with MiniLM (cached), project to 2-D (UMAP, or PCA for very large "
        "or tiny pools) and store the layout keyed by the pool's content hash.",
    )
    m.add_argument("--pool", required=True, help="pool name")
    m.add_argument("--method", choices=["auto", "umap", "pca"], default="auto")
    m.add_argument("--seed", type=seed_int, default=0, help="seed of the projection (stored)")
    m.add_argument("--force", action="store_true", help="recompute even if a layout is stored")
    m.add_argument("--quiet", action="store_true", help="no progress bar")
