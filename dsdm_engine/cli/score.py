"""`dsdm score`: datamodel scores of every pool document for one or more target tasks.

``--scorer trak`` (the default) reads the stored projected features: seconds per target.
``--scorer ekfac`` scores every given target in one pass over the pool's full gradients under
the proxies (`stages/ekfac_scores.py`): minutes per pass, opt-in.
"""

from __future__ import annotations

import argparse
from typing import Any

from dsdm_engine.cli.common import open_catalog, run_as_job, stage_input


def cmd_score(args: argparse.Namespace) -> int:
    """Score the targets and print each stored run."""
    cat = open_catalog(args)
    targets = list(dict.fromkeys(args.target))
    if args.scorer == "ekfac":
        from dsdm_engine.stages.ekfac_scores import score_tasks_ekfac

        if args.features and not args.proxies:
            features = stage_input(cat, args, "features", "--features")
            proxies = cat.get_run(features)["config"]["proxies_run_id"]
        else:
            proxies = stage_input(cat, args, "proxies", "--proxies")
        runs = run_as_job(
            args,
            "score",
            lambda cat, p: score_tasks_ekfac(
                cat, proxies, targets, args.ekfac_damping, args.ekfac_sample, args.seed, p
            ),  # fmt: skip
        )
    else:
        from dsdm_engine.stages import score_task

        features = stage_input(cat, args, "features", "--features")
        opts = {k: getattr(args, k) for k in ("normalize", "query_precondition", "query_damping")}

        def stage(cat: Any, p: Any) -> dict[str, str]:
            out = {}
            for i, t in enumerate(targets):
                step = _scaled(p, i, len(targets), t)
                out[cat.get_target_task(t)["task_id"]] = score_task(
                    cat, features, t, args.lambda_rel, step, **opts
                )
            return out

        runs = run_as_job(args, "score", stage)
    for task_id, run_id in runs.items():
        n = len(cat.scores(run_id, task_id))
        print(f"scores stored: {run_id} for {task_id} ({n} documents; positive = predicted "
              "to lower loss)")  # fmt: skip
    return 0


def _scaled(progress: Any, i: int, n: int, target: str) -> Any:
    """Target i of n's progress as part of the whole command's."""

    def report(done: int, total: int, msg: str = "") -> None:
        progress(i * total + done, n * total, f"{target}: {msg}" if n > 1 else msg)

    return report


def register_score_command(sub: Any) -> None:
    """Add `dsdm score` to the `dsdm` parser."""
    from dsdm_engine.cli.options import add_config_args, seed_int
    from dsdm_engine.compute.configs import ScoreConfig

    s = sub.add_parser("score", help="datamodel scores of every document for target tasks")
    s.add_argument(
        "--target", required=True, action="append",
        help="target task id or name (repeat it for several; ekfac scores them in one pass)",
    )  # fmt: skip
    s.add_argument("--pool", help="pool (uses its latest features, or proxies for ekfac)")
    s.add_argument("--features", help="features run id (default: the pool's latest)")
    s.add_argument("--proxies", help="--scorer ekfac: proxies run id (default: the pool's latest)")
    s.add_argument("--seed", type=seed_int, default=0, help="--scorer ekfac: curvature sample")
    add_config_args(s, ScoreConfig)
    s.set_defaults(func=cmd_score)
