"""`dsdm demo`: build the demo workspace end to end, idempotently, then (optionally) serve the app.

Steps, each skipped when its result already exists (a second run reuses everything):
1. pool `demo` from real public text plus labelled planted bad data (`data_catalog.sources`);
2. the paper's four target tasks (`squad`, `cs_algorithms`, `jeopardy`, `lambada`);
3. proxies → features → DsDm scores per target (`stages`);
4. one selection per (target, method) for every selector at the plan's k;
5. a quick evaluation and a quick validation (LDS), so the app shows evidence on first open.
Each step runs as a job, so the app's Jobs page shows it with progress, rate and ETA. On two
cores or more the pool map and the validation's subset models run in a second process beside
the engine (`demo_side.py`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_catalog.catalog import Catalog
from data_catalog.errors import DsdmError
from data_catalog.ingest import ingest
from data_catalog.targets import add_target_task
from data_catalog.workspace import staging_name
from dsdm_engine.compute.configs import ScoreConfig
from dsdm_engine.evaluation.subsets import ValidateConfig
from dsdm_engine.jobs import run_job
from dsdm_engine.stages import FeatureConfig, ProxyConfig

POOL = "demo"
TARGETS = ("squad", "cs_algorithms", "jeopardy", "lambada")
METHODS = ("dsdm", "random", "dsir", "bm25", "classifier", "embedding", "semdedup")


@dataclass(frozen=True)
class DemoPlan:
    """What one demo size builds (pool preset, target sizes, engine settings, k)."""

    size: str
    target_examples: int
    proxies: ProxyConfig
    features: FeatureConfig
    scoring: ScoreConfig = field(default_factory=ScoreConfig)
    validation: ValidateConfig | None = None  # a quick LDS check the summary prints
    # a quick `dsdm evaluate`: token budgets per selection (random also at 2x the largest),
    # one seed, so Compare and Evidence show loss curves and multipliers on first open
    evaluation_budgets: tuple[int, ...] = ()
    k_fraction: float = 0.1
    methods: tuple[str, ...] = METHODS
    selector_options: dict[str, dict[str, Any]] = field(default_factory=dict)


PLANS: dict[str, DemoPlan] = {
    "tiny": DemoPlan(
        "tiny",
        target_examples=60,
        proxies=ProxyConfig.make(n_models=2, preset="tiny", vocab_size=1024, seq_len=64),
        features=FeatureConfig(proj_dim=1024),
    ),
    "small": DemoPlan(
        "small",
        target_examples=1320,  # all of cs_algorithms and squad; >= 500 selection + 500 held out
        proxies=ProxyConfig.make(
            n_models=4, preset="tiny", vocab_size=2048, seq_len=128, token_budget=1_500_000
        ),
        features=FeatureConfig(),
        # 12 subset models: a quick look (CI about ±0.5); bench/validate.py runs 64
        validation=ValidateConfig(n_subsets=12, noise_seeds=0),
        evaluation_budgets=(16_384, 32_768),
    ),
    "full": DemoPlan(
        "full",
        target_examples=2000,
        proxies=ProxyConfig.make(n_models=8, preset="small", vocab_size=4096, seq_len=256),
        features=FeatureConfig(),
    ),
}


def _pool(catalog: Catalog, size: str, seed: int, fixtures_dir: Path | None) -> None:
    if catalog.pool_exists(POOL):
        print(f"pool {POOL!r} exists: reused")
        return
    from data_catalog.sources.demo_pool import iter_demo_pool

    stage = catalog.workspace.tmp / (staging_name("demo") + ".jsonl")
    try:
        with open(stage, "w", encoding="utf-8") as f:
            for rec in iter_demo_pool(size=size, seed=seed, fixtures_dir=fixtures_dir):
                row = {**rec.get("metadata", {}), "text": rec["text"], "source": rec["source"]}
                row["license"] = rec.get("license", "")
                f.write(json.dumps(row, ensure_ascii=False) + "\n")

        def stage_fn(progress: Callable[..., None]) -> Any:
            return ingest(catalog, POOL, [str(stage)], progress=progress)

        report = run_job(catalog, "ingest", {"pool": POOL, "size": size}, stage_fn, echo=True)
        print(report.summary())
    finally:
        stage.unlink(missing_ok=True)


def _targets(catalog: Catalog, plan: DemoPlan, seed: int, fixtures_dir: Path | None) -> None:
    from data_catalog.sources.builtin_targets import builtin_target_examples

    for name in TARGETS:
        recs = builtin_target_examples(
            name, max_examples=plan.target_examples, seed=seed, fixtures_dir=fixtures_dir
        )
        task = add_target_task(
            catalog,
            name,
            [(r["prompt"], r["completion"]) for r in recs],
            origin=f"builtin:{name}",
            seed=seed,
        )
        state = "added" if task["created"] else "reused"
        print(
            f"target {task['task_id']} {state}: {task['n_selection']} selection / "
            f"{task['n_heldout']} held out"
        )


def _engine(catalog: Catalog, plan: DemoPlan, seed: int, device: str) -> dict[str, str]:
    from dataclasses import replace

    from dsdm_engine import stages

    pcfg = plan.proxies.with_train(seed=seed, device=device)
    fcfg = replace(plan.features, device=device)

    def job(kind: str, params: dict[str, Any], stage: Callable[..., str]) -> str:
        return run_job(catalog, kind, {**params, "demo": plan.size}, stage, echo=True)

    proxies = job(
        "proxy_train", {"pool": POOL}, lambda p: stages.train_proxies(catalog, POOL, pcfg, p)
    )
    features = job(
        "featurize", {"proxies": proxies}, lambda p: stages.featurize(catalog, proxies, fcfg, p)
    )
    scores = {}
    for name in TARGETS:
        scores[name] = run_job(
            catalog,
            "score",
            {"features": features, "target": name},
            lambda p, name=name: stages.score_task(
                catalog, features, name, plan.scoring.lambda_rel, p, plan.scoring.normalize
            ),
            echo=True,
        )
    return scores


def _selections(catalog: Catalog, plan: DemoPlan, seed: int) -> list[str]:
    from dsdm_engine import stages
    from dsdm_engine.selectors import SelectionRule

    n_docs = int(catalog.get_pool(POOL)["n_docs"])
    k = max(1, int(plan.k_fraction * n_docs))
    existing = set(catalog.list_selections(POOL)["name"])
    made = []
    for target in TARGETS:
        for method in plan.methods:
            name = f"{method}-{target}-k{k}"
            if name in existing:
                continue
            run_job(
                catalog,
                "select",
                {"method": method, "target": target, "k": k},
                lambda p, m=method, t=target, n=name: stages.run_selection(
                    catalog,
                    m,
                    POOL,
                    task_ref=t,
                    rule=SelectionRule(k=k),
                    seed=seed,
                    options=dict(plan.selector_options.get(m, {})),
                    name=n,
                ),
                echo=False,
            )
            made.append(name)
            print(f"selection {name}")
    return made


def _map(catalog: Catalog, seed: int, echo: bool = True) -> None:
    """The pool map (MiniLM embeddings with progress, then a 2-D layout): the Map page opens
    filled, and the embedding selectors reuse the cached embeddings."""
    from dsdm_engine.stages.pool_map import compute_pool_map

    run_job(
        catalog,
        "map",
        {"pool": POOL, "seed": seed},
        lambda p: compute_pool_map(catalog, POOL, seed=seed, progress=p),
        echo=echo,
    )


def fitting_budgets(catalog: Catalog, selections: list[str], wanted: tuple[int, ...]) -> list[int]:
    """The wanted budgets every selection can fill (a selection of k short documents may hold
    fewer tokens than asked); when none fits, half and 90% of the smallest selection."""
    sizes = [catalog.get_selection(s)["params"].get("n_tokens_selected") for s in selections]
    known = [int(n) for n in sizes if n]
    cap = int(0.9 * min(known)) if known else max(wanted)
    return [b for b in wanted if b <= cap] or [max(1, cap // 2), max(1, cap)]


def _evaluation(catalog: Catalog, plan: DemoPlan, device: str) -> None:
    """A quick `dsdm evaluate` of every target's selections: one seed, the plan's budgets."""
    from dsdm_engine.evaluation.harness import EvalRecipe, evaluate_selections

    sels = catalog.list_selections(POOL)
    recipe = EvalRecipe(max_heldout=128, device=device)
    for target in TARGETS:
        task_id = catalog.get_target_task(target)["task_id"]
        mine = sels[sels["task_id"] == task_id]
        rand = mine[mine["method"] == "random"]["selection_id"].tolist()
        rest = mine[~mine["method"].isin(["random", "semdedup"])]["selection_id"].tolist()
        budgets = fitting_budgets(catalog, rest, plan.evaluation_budgets)

        def stage(p: Callable[..., None], t: str = target, r=rand, o=rest, b=budgets) -> None:
            evaluate_selections(catalog, r, [t], [*b, 2 * b[-1]], [0], recipe, p)
            evaluate_selections(catalog, o, [t], b, [0], recipe, p)

        run_job(catalog, "evaluate", {"demo": plan.size, "target": target}, stage, echo=True)


def _validation(catalog: Catalog, plan: DemoPlan, device: str) -> str:
    """A quick `dsdm validate`: does each target's DsDm score predict subset-trained models?"""
    from dataclasses import replace

    from dsdm_engine.evaluation.validate import validate

    cfg = replace(plan.validation, device=device)
    return run_job(
        catalog,
        "validate",
        {"pool": POOL, "demo": plan.size, "subsets": cfg.n_subsets},
        lambda p: validate(catalog, POOL, list(TARGETS), cfg, p),
        echo=True,
    )


def build_demo(
    catalog: Catalog,
    size: str = "small",
    seed: int = 0,
    fixtures_dir: Path | None = None,
    engine: bool = True,
    device: str = "auto",
    validation: bool = True,
    parallel: bool | None = None,
) -> dict[str, Any]:
    """Build (or finish building) the demo workspace; returns a summary with timings.

    With `parallel` (default: when the machine has two cores or more) the map and the quick
    validation's subset models are built in a second process beside the engine; the timings
    then say how long the main lane waited at each step."""
    if parallel is None:
        parallel = (os.cpu_count() or 1) >= 2
    if size not in PLANS:
        raise DsdmError(f"unknown demo size {size!r}; known: {', '.join(PLANS)}")
    plan = PLANS[size]
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    _pool(catalog, size, seed, fixtures_dir)
    timings["pool_s"] = time.monotonic() - t0
    _targets(catalog, plan, seed, fixtures_dir)
    timings["targets_s"] = time.monotonic() - t0 - sum(timings.values())
    summary: dict[str, Any] = {"size": size, "seed": seed, "pool": POOL, "targets": TARGETS}
    if engine:
        side = None
        if parallel:  # the map and the subset models on the other core (demo_side.py)
            from dsdm_engine.stages.demo_side import SideLane

            side = SideLane(catalog, POOL, size, seed, device, validation)
        try:
            summary["scores"] = _engine(catalog, plan, seed, device)
            timings["engine_s"] = time.monotonic() - t0 - sum(timings.values())
            if side is not None:
                side.wait_map()
            _map(catalog, seed)  # reused when the side lane stored it
            timings["map_s"] = time.monotonic() - t0 - sum(timings.values())
            summary["selections"] = _selections(catalog, plan, seed)
            timings["selections_s"] = time.monotonic() - t0 - sum(timings.values())
            if plan.evaluation_budgets:
                _evaluation(catalog, plan, device)
                timings["evaluation_s"] = time.monotonic() - t0 - sum(timings.values())
            if side is not None:
                side.join()
            if validation and plan.validation is not None:
                summary["validation"] = _validation(catalog, plan, device)
                timings["validation_s"] = time.monotonic() - t0 - sum(timings.values())
        finally:
            if side is not None:
                side.stop()
    timings["total_s"] = time.monotonic() - t0
    summary["timings"] = timings
    return summary


def print_summary(catalog: Catalog, summary: dict[str, Any]) -> None:
    """A short report: pool counts, planted labels, targets, and what DsDm picked."""
    pool = catalog.get_pool(POOL)
    print(f"\n== demo workspace {catalog.workspace.root} ==")
    print(f"pool {POOL}: {pool['n_docs']} documents from {len(pool['sources'])} sources")
    if not pool["planted"].empty:
        planted = ", ".join(f"{r.planted}={r.n_docs}" for r in pool["planted"].itertuples())
        print(f"planted bad data: {planted}")
    for name in TARGETS:
        t = catalog.get_target_task(name)
        print(f"target {t['task_id']}: {t['n_selection']} selection / {t['n_heldout']} held out")
    if "scores" in summary:
        from dsdm_engine.evaluation.metrics import auroc

        for name, run_id in summary["scores"].items():
            task_id = catalog.get_target_task(name)["task_id"]
            scores = catalog.scores(run_id, task_id)
            flags = scores["doc_id"].isin(catalog.planted_labels(POOL)).to_numpy()
            line = f"dsdm scores {name}: {len(scores)} docs"
            if flags.any() and not flags.all():
                line += (
                    f"; AUROC of lowest scores for planted docs {auroc(scores['score'], flags):.2f}"
                )
            print(line)
    if "evaluation_s" in summary["timings"]:
        from data_catalog.queries import evaluation_results

        print("held-out loss of models trained on each method's selection (quick, one seed):")
        for name in TARGETS:
            res = evaluation_results(catalog, catalog.get_target_task(name)["task_id"])
            if res.empty:
                continue
            top = res[res["budget"] == res[res["method"] != "random"]["budget"].max()]
            ranked = ", ".join(
                f"{r.method} {r.loss:.3f}" for r in top.sort_values("loss").itertuples()
            )
            print(f"  {name} at {int(top['budget'].max()):,} tokens: {ranked}")
    if "validation" in summary:
        res = catalog.lds_results(run_id=summary["validation"])
        print(f"LDS of the DsDm scores ({int(res['n_subsets'].max())} subset models, held out):")
        for name, run_id in summary["scores"].items():
            task_id = catalog.get_target_task(name)["task_id"]
            r = res[(res["task_id"] == task_id) & (res["split"] == "heldout")]
            mine = r[r["predictor"].str.contains(run_id)].iloc[0]
            best = r[r["kind"] == "similarity"].sort_values("aggregate_lds").iloc[-1]
            print(
                f"  {name}: {mine.aggregate_lds:+.2f} [{mine.ci_lo:+.2f}, {mine.ci_hi:+.2f}]"
                f" (best similarity: {best.predictor} {best.aggregate_lds:+.2f})"
            )
    t = summary["timings"]
    print("timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in t.items()))


def side_lane(catalog: Catalog, size: str, seed: int, device: str, validation: bool) -> None:
    """The map, then (with `validation` and a plan that validates) the subset models of the
    demo's quick validation, trained for the demo's proxies once their run is done."""
    from dataclasses import replace

    from dsdm_engine.evaluation.subsets import train_subset_models
    from dsdm_engine.stages.demo_side import wait_for_run
    from dsdm_engine.stages.proxies import proxies_run_id

    plan = PLANS[size]
    t0 = time.monotonic()
    _map(catalog, seed, echo=False)
    print(f"[side] pool map ready ({time.monotonic() - t0:.0f} s)", flush=True)
    if not validation or plan.validation is None:
        return
    proxies = proxies_run_id(catalog, POOL, plan.proxies.with_train(seed=seed, device=device))
    if not wait_for_run(catalog, proxies):
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


def _side_lane_main(argv: list[str]) -> int:
    """`python -m dsdm_engine.stages.demo --side-lane ROOT SIZE SEED DEVICE VALIDATION`."""
    from dsdm_engine.jobs import sigterm_as_interrupt

    root, size, seed, device, validation = argv
    with sigterm_as_interrupt():
        try:
            side_lane(Catalog.open(Path(root)), size, int(seed), device, validation == "1")
        except KeyboardInterrupt:
            return 130
    return 0


if __name__ == "__main__" and sys.argv[1:2] == ["--side-lane"]:
    sys.exit(_side_lane_main(sys.argv[2:]))
