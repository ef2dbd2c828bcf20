"""Evaluation subcommands of `dsdm`: `evaluate` (train fresh models on selections) and `planted`.

`dsdm evaluate --selections ID... --target T... --budgets N... --seeds S...` trains one model
from scratch per (selection, budget, seed) with one fixed recipe, scores each target's held-out
split, stores every result in the catalog (reruns skip what is stored) and prints mean ± std per
method, plus the compute multiplier against random when a random selection is among them.
`dsdm validate --pool P` measures the LDS of every predictor (dsdm_engine/validate_run.py).
`dsdm planted --target T` prints how well the lowest DsDm scores find planted documents.
Hook into the main parser with `register_eval_commands(sub)`.
"""

from __future__ import annotations

import argparse
from typing import Any

from data_catalog.catalog import Catalog
from data_catalog.errors import InputError
from dsdm_engine.cli.common import print_df
from dsdm_engine.cli.options import positive_int, seed_int


def cmd_evaluate(args: argparse.Namespace) -> int:
    from dsdm_engine.cli.options import config_from_args
    from dsdm_engine.evaluation.harness import (
        EvalRecipe,
        compute_multipliers,
        evaluate_selections,
        summarise,
    )
    from dsdm_engine.jobs import run_job

    recipe = config_from_args(EvalRecipe, args, max_heldout=args.max_heldout or None)
    cat = Catalog.open(args.workspace)
    args.selections = args.selections or _pool_selections(cat, args.pool, args.target)
    args.budgets = args.budgets or [_common_budget(cat, args.selections)]
    params = {
        "selections": args.selections,
        "targets": args.target,
        "budgets": args.budgets,
        "seeds": args.seeds,
        "recipe": recipe.to_dict(),
    }
    df = run_job(
        cat,
        "evaluate",
        params,
        lambda progress: evaluate_selections(
            cat,
            args.selections,
            args.target,
            args.budgets,
            args.seeds,
            recipe,
            progress,
            args.executor,
            args.ray_address,
        ),
        echo=True,
    )
    n_new = int((~df["reused"]).sum())
    print(f"{len(df)} evaluations ({n_new} trained now, {len(df) - n_new} already stored)")
    summary = summarise(df)
    print_df(summary, digits=4)
    if (summary["method"] == "random").any() and (summary["method"] != "random").any():
        print("\ncompute multiplier vs random (bound: exact | at_least | at_most):")
        cols = ["task_id", "method", "budget_tokens", "multiplier", "bound"]
        print_df(compute_multipliers(summary)[cols], digits=4)
    return 0


def _pool_selections(cat: Catalog, pool: str | None, targets: list[str]) -> list[str]:
    """Every selection on `pool` made for one of `targets`, plus target-free ones (random...)."""
    if not pool:
        raise InputError("give --selections, or --pool to evaluate all of a pool's selections")
    sels = cat.list_selections(pool)
    task_ids = {cat.get_target_task(t)["task_id"] for t in targets}
    sels = sels[sels["task_id"].isin(task_ids) | sels["task_id"].isna()]
    if sels.empty:
        raise InputError(f"pool {pool!r} has no selections for {', '.join(targets)}")
    return list(sels["selection_id"])


def _common_budget(cat: Catalog, selections: list[str]) -> int:
    """90% of the smallest selection's tokens: every method then trains on the same budget."""
    sizes = [cat.get_selection(s)["params"].get("n_tokens_selected") for s in selections]
    known = [int(n) for n in sizes if n]
    if not known:
        raise InputError("cannot infer a budget from these selections: give --budgets")
    return max(1, int(0.9 * min(known)))


def cmd_planted(args: argparse.Namespace) -> int:
    from dsdm_engine.evaluation.planted import planted_table
    from dsdm_engine.stages import latest_scores_run

    cat = Catalog.open(args.workspace)
    run_id = args.scores or latest_scores_run(cat, args.target, args.pool)
    print(f"planted documents found by the lowest scores of {run_id}:")
    print_df(planted_table(cat, run_id), digits=4)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from dsdm_engine.cli.options import config_from_args
    from dsdm_engine.evaluation.subsets import ValidateConfig
    from dsdm_engine.evaluation.validate import validate
    from dsdm_engine.jobs import run_job

    cfg = config_from_args(ValidateConfig, args)
    cat = Catalog.open(args.workspace)
    params = {"pool": args.pool, "targets": args.target, "proxies": args.proxies, **vars(cfg)}
    run_id = run_job(
        cat,
        "validate",
        params,
        lambda p: validate(
            cat,
            args.pool,
            args.target,
            cfg,
            p,
            not args.no_similarity,
            args.proxies,
            args.executor,
            args.ray_address,
        ),  # fmt: skip
        echo=True,
    )
    res = cat.lds_results(run_id=run_id)
    cols = ["task_id", "split", "predictor", "aggregate_lds", "ci_lo", "ci_hi", "per_example_lds"]
    print(f"validation {run_id}: {int(res['n_subsets'].max())} subset models")
    print_df(res[cols], digits=3)
    if cfg.replicates > 1:  # the outcomes' own reliability bounds every predictor's LDS
        from pathlib import Path

        import pandas as pd

        root = Path(cat.get_run(run_id)["artifact_path"])
        noise = pd.read_json(root / f"{run_id}.noise.json", orient="records")
        print(f"ceiling ({cfg.replicates} models per subset):")
        print_df(noise[["task_id", "split", "replicate_spearman", "lds_ceiling_1",
                        "lds_ceiling"]], digits=3)  # fmt: skip
    return 0


def register_eval_commands(sub: Any) -> None:
    """Add `evaluate`, `validate` and `planted` to the `dsdm` subcommand parser."""
    from dsdm_engine.cli.options import add_config_args, add_executor_args
    from dsdm_engine.evaluation.harness import EvalRecipe
    from dsdm_engine.evaluation.subsets import ValidateConfig

    e = sub.add_parser("evaluate", help="train fresh models on selections; held-out target loss")
    e.add_argument("--selections", nargs="+", help="selection ids or names (default: --pool's)")
    e.add_argument("--pool", help="evaluate this pool's selections for the target(s)")
    e.add_argument("--target", nargs="+", required=True, help="target tasks to evaluate on")
    e.add_argument(
        "--budgets",
        nargs="+",
        type=positive_int,
        help="token budgets (default: 90%% of the smallest)",
    )
    e.add_argument("--seeds", nargs="+", type=seed_int, default=[0, 1, 2], help="training seeds")
    add_config_args(e, EvalRecipe)
    add_executor_args(e, "evaluation models")
    e.set_defaults(func=cmd_evaluate)

    v = sub.add_parser(
        "validate",
        help="LDS: how well each predictor's scores predict subset-trained models",
        description="Trains m seeded α-subset models with the proxies' recipe (fixed token "
        "budget, common seed), measures each target example's completion log-prob on the "
        "selection and held-out splits, and reports per predictor (DsDm score runs, similarity "
        "baselines, token count) the aggregate and per-example LDS with 95% bootstrap CIs.",
    )
    v.add_argument("--pool", required=True)
    v.add_argument("--target", nargs="+", help="target tasks (default: all with scores)")
    v.add_argument("--no-similarity", action="store_true", help="skip the similarity baselines")
    v.add_argument(
        "--proxies",
        help="proxies run whose recipe the subset models follow (default: the pool's latest; "
        "an imported model needs --from-model)",
    )
    add_config_args(v, ValidateConfig)
    add_executor_args(v, "subset models")
    v.set_defaults(func=cmd_validate)

    p = sub.add_parser("planted", help="AUROC / precision@k of low scores on planted documents")
    p.add_argument("--target", required=True, help="target task id or name")
    p.add_argument("--pool", help="pool (default: any pool with scores for the target)")
    p.add_argument("--scores", help="scores run id (default: the target's latest)")
    p.set_defaults(func=cmd_planted)
