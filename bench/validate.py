"""Does a DsDm score predict what training on a subset does? LDS on the demo workspace.

Builds the default demo workspace when it is missing (`dsdm demo`), then:

1. scores every demo target under each scoring variant in `VARIANTS` (the shipped default first);
2. trains `--subsets` seeded α-subset models with the proxies' recipe (fixed token budget, common
   seed) plus the noise-floor models, via `dsdm validate`'s Python API;
3. reports, per target, the aggregate LDS on the selection and the held-out split with 95%
   bootstrap CIs, the per-example LDS, and the best similarity baseline's held-out LDS;
4. re-featurises the pool with a second projection seed and reports the seed agreement of the
   default scores (Spearman and top-1% overlap), and how well the lowest default scores find the
   token-wasting planted documents (AUROC per target and label).

    python bench/validate.py --out bench/out/validate.json            # ~45-60 min on 2 cores
    python bench/validate.py --quick --out bench/out/validate_quick.json

Everything resumes: subset models, features and score runs are found again by their configs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data_catalog.catalog import Catalog  # noqa: E402
from data_catalog.ranks import spearman  # noqa: E402
from dsdm_engine import stages  # noqa: E402
from dsdm_engine.compute.configs import ScoreConfig  # noqa: E402
from dsdm_engine.compute.scoring import top_overlap  # noqa: E402
from dsdm_engine.evaluation.metrics import auroc  # noqa: E402
from dsdm_engine.evaluation.subsets import ValidateConfig  # noqa: E402
from dsdm_engine.evaluation.validate import validate  # noqa: E402

POOL = "demo"
TARGETS = ("squad", "cs_algorithms", "jeopardy", "lambada")
WASTE = ("encoded", "rot13", "garbled", "spam")
# (lambda_rel, normalize): the shipped default first, then the alternatives measured beside it
VARIANTS = ((ScoreConfig().lambda_rel, ScoreConfig().normalize), (math.inf, "cosine"))


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def printer(stage: str):
    last = [0.0]

    def report(done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        if now - last[0] > 20 or done == total:
            last[0] = now
            log(f"{stage}: {done}/{total} {message}")

    return report


def demo_proxies(cat: Catalog):
    """The demo's own proxies run: the pool's first finished one (benches such as
    `ensembles.py` add others with the same recipe later)."""
    return cat.runs("proxies", pool_id=POOL, status="done")[0]


def ensure_workspace(ws: Path, size: str) -> Catalog:
    cat = Catalog.open(ws)
    if not cat.runs("features", pool_id=POOL, status="done"):
        from dsdm_engine.stages.demo import build_demo

        log(f"building the demo workspace ({size}) in {ws}")
        build_demo(cat, size=size, seed=0, device="cpu", validation=False)
    return cat


def score_variants(cat: Catalog, features: str) -> dict[tuple[float, str], dict[str, str]]:
    out: dict[tuple[float, str], dict[str, str]] = {}
    for lam, norm in VARIANTS:
        out[(lam, norm)] = {
            t: stages.score_task(cat, features, t, lam, normalize=norm) for t in TARGETS
        }
    return out


def seed_agreement(cat: Catalog, features: str, default_runs: dict[str, str]) -> dict:
    """Re-featurise with projection seed 1 and compare the default scores of every target."""
    from dsdm_engine.stages.features import stored_feature_config

    frozen = cat.run(features).config
    cfg = stored_feature_config(frozen)
    cfg = stages.FeatureConfig(**{**cfg.__dict__, "proj_seed": cfg.proj_seed + 1})
    other = stages.featurize(cat, frozen["proxies_run_id"], cfg, printer("featurize seed 1"))
    lam, norm = VARIANTS[0]
    rows = {}
    for t, run in default_runs.items():
        a = cat.scores(run, cat.get_target_task(t)["task_id"])["score"].to_numpy()
        run_b = stages.score_task(cat, other, t, lam, normalize=norm)
        b = cat.scores(run_b, cat.get_target_task(t)["task_id"])["score"].to_numpy()
        rows[t] = {"spearman": spearman(a, b), "top1_overlap": top_overlap(a, b, 0.01)}
    return rows


def planted_auroc(cat: Catalog, runs: dict[str, str]) -> dict[str, dict[str, float]]:
    labels = cat.planted_labels(POOL)
    ids = cat.doc_ids(POOL)
    lab = np.array([labels.get(d) or "" for d in ids])
    out = {}
    for t, run in runs.items():
        s = cat.scores(run, cat.get_target_task(t)["task_id"])["score"].to_numpy()
        per = {}
        for w in sorted({str(v) for v in lab if v}):
            keep = (lab == w) | (lab == "")  # this label against clean documents
            per[w] = auroc(s[keep], lab[keep] == w)
        per["token_wasting"] = auroc(s, np.isin(lab, WASTE))
        out[t] = per
    return out


def summarise(res: pd.DataFrame, default_runs: dict[str, str], cat: Catalog) -> dict:
    out = {}
    for t, run in default_runs.items():
        task_id = cat.get_target_task(t)["task_id"]
        r = res[res["task_id"] == task_id]
        mine = r[r["predictor"].str.contains(run)].set_index("split")
        sim = r[(r["kind"] == "similarity") & (r["split"] == "heldout")]
        out[t] = {
            "aggregate_lds": float(mine.loc["selection", "aggregate_lds"]),
            "aggregate_ci": [
                float(mine.loc["selection", "ci_lo"]),
                float(mine.loc["selection", "ci_hi"]),
            ],
            "per_example_lds": float(mine.loc["selection", "per_example_lds"]),
            "heldout_aggregate_lds": float(mine.loc["heldout", "aggregate_lds"]),
            "heldout_aggregate_ci": [
                float(mine.loc["heldout", "ci_lo"]),
                float(mine.loc["heldout", "ci_hi"]),
            ],
            "best_similarity_heldout_aggregate_lds": float(sim["aggregate_lds"].max()),
            "best_similarity": str(sim.sort_values("aggregate_lds").iloc[-1]["predictor"]),
            "similarity_heldout_aggregate_lds": {
                str(row["predictor"]): float(row["aggregate_lds"]) for _, row in sim.iterrows()
            },
            # the peer (bench/peer.py: bergson on the same pool, proxies and subset models)
            # is filled in by main() from --peer; missing stays None, never guessed
            "peer_heldout_aggregate_lds": None,
        }
    return out


def heldout_rows(res: pd.DataFrame, runs: dict[str, str], cat: Catalog) -> dict:
    """Per target: the held-out aggregate LDS [95% CI] of one scores run per target, and
    whether it is above every similarity predictor's."""
    out = {}
    for t, run in runs.items():
        r = res[res["task_id"] == cat.get_target_task(t)["task_id"]]
        mine = r[r["predictor"].str.contains(run) & (r["split"] == "heldout")].iloc[0]
        sim = r[(r["kind"] == "similarity") & (r["split"] == "heldout")]["aggregate_lds"]
        out[t] = {"heldout_aggregate_lds": float(mine["aggregate_lds"]),
                  "heldout_aggregate_ci": [float(mine["ci_lo"]), float(mine["ci_hi"])],
                  "above_every_similarity": bool(mine["aggregate_lds"] > sim.max())}  # fmt: skip
    return out


def planted_effects(cat: Catalog, proxies: str, cfg: ValidateConfig) -> dict[str, dict]:
    """Per target and label: the subset models' held-out loss regressed on the label's token
    share of their subset (positive = the label raises the target loss), with a 95% CI."""
    from dsdm_engine.evaluation.planted import planted_effect, planted_labels
    from dsdm_engine.evaluation.subsets import train_subset_models

    tasks = [cat.get_target_task(t)["task_id"] for t in TARGETS]
    got = train_subset_models(cat, proxies, tasks, cfg)  # resumes: every model is there
    labels = planted_labels(cat, POOL)
    n_tokens = stages.pool_view(cat, POOL, texts=False).n_tokens
    out = {}
    for t, task_id in zip(TARGETS, tasks, strict=True):
        loss = -got.outcomes[f"{task_id}|heldout"].mean(axis=1)  # mean held-out loss per model
        out[t] = planted_effect(got.masks, loss, labels, n_tokens, seed=cfg.seed)
    return out


def harmful_found(auroc_rows: dict, effects: dict) -> dict[str, dict[str, float]]:
    """For every label whose effect CI lies above zero: the AUROC of the lowest scores."""
    return {
        t: {
            label: auroc_rows[t].get(label, float("nan"))
            for label, e in effects[t].items()
            if e["ci"][0] > 0
        }
        for t in effects
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="write the JSON report here")
    ap.add_argument("--workspace", default=str(ROOT / "dsdm_workspace"))
    ap.add_argument("--size", default="small", help="demo size when the workspace is built")
    ap.add_argument("--subsets", type=int, default=ValidateConfig().n_subsets)
    ap.add_argument("--alpha", type=float, default=ValidateConfig().alpha)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--seed", type=int, default=ValidateConfig().seed,
        help="subset draws and the subset models' common seed (another seed: fresh subset models)",
    )  # fmt: skip
    ap.add_argument(
        "--replicates", type=int, default=ValidateConfig().replicates,
        help="models per subset (outcomes averaged); from 2 the report also gives the LDS "
        "against one replicate and the outcomes' ceiling",
    )  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="16 subsets, no seed re-featurisation")
    ap.add_argument(
        "--no-seed-agreement", action="store_true",
        help="skip the second-seed featurisation (seed_spearman is then not reported)",
    )  # fmt: skip
    ap.add_argument("--peer", help="bench/peer.py's JSON (same subsets): the peer's LDS per target")
    ap.add_argument(
        "--ekfac", action="store_true",
        help="also score every target with the opt-in EK-FAC scorer (`dsdm score --scorer "
        "ekfac`, one pass over the pool) and report its rows beside the default's",
    )  # fmt: skip
    args = ap.parse_args()
    t0 = time.monotonic()
    cat = ensure_workspace(Path(args.workspace), args.size)
    proxies = demo_proxies(cat).run_id
    # the shipped feature defaults (whole documents); resumes when already there
    features = stages.featurize(cat, proxies, progress=printer("featurize"))
    log(f"features {features}; scoring {len(VARIANTS)} variants x {len(TARGETS)} targets")
    runs = score_variants(cat, features)
    default_runs = runs[VARIANTS[0]]
    ekfac_runs = {}
    if args.ekfac:
        from dsdm_engine.stages.ekfac_scores import score_tasks_ekfac

        by_task = score_tasks_ekfac(cat, proxies, list(TARGETS), progress=printer("ekfac"))
        ekfac_runs = {t: by_task[cat.get_target_task(t)["task_id"]] for t in TARGETS}
    n = 16 if args.quick else args.subsets
    cfg = ValidateConfig(
        n_subsets=n, alpha=args.alpha, workers=args.workers, device="cpu",
        replicates=args.replicates, seed=args.seed,
    )  # fmt: skip
    run_id = validate(cat, POOL, list(TARGETS), cfg, printer("validate"), proxies_run_id=proxies)
    res = cat.lds_results(run_id=run_id)
    report = {
        "n_subsets": n,
        "replicates": args.replicates,
        "alpha": args.alpha,
        "seed": args.seed,
        "validation_run": run_id,
        "default": {"lambda_rel": str(VARIANTS[0][0]), "normalize": VARIANTS[0][1]},
        "targets": summarise(res, default_runs, cat),
        "peer": None,
        "planted_auroc": planted_auroc(cat, default_runs),
    }
    if args.peer:
        peer = json.loads(Path(args.peer).read_text())
        if peer.get("n_subsets", n) != n:
            raise SystemExit(f"--peer {args.peer} used {peer['n_subsets']} subsets, not {n}")
        report["peer"] = peer.get("peer")
        for t, row in report["targets"].items():
            row["peer_heldout_aggregate_lds"] = peer["peer_heldout_aggregate_lds"].get(t)
    if ekfac_runs:
        report["ekfac"] = heldout_rows(res, ekfac_runs, cat)
        report["ekfac_planted_auroc"] = planted_auroc(cat, ekfac_runs)
    if args.replicates > 1:  # the same predictors against replicate 0 alone (no training)
        one = validate(
            cat,
            POOL,
            list(TARGETS),
            replace(cfg, replicates=1),
            printer("validate"),
            proxies_run_id=proxies,
        )
        for t, row in summarise(cat.lds_results(run_id=one), default_runs, cat).items():
            report["targets"][t]["one_replicate"] = row
        if ekfac_runs:
            report["ekfac_one_replicate"] = heldout_rows(cat.lds_results(run_id=one), ekfac_runs,
                                                         cat)  # fmt: skip
    report["planted_effect"] = planted_effects(cat, proxies, cfg)
    report["harmful_label_auroc"] = harmful_found(report["planted_auroc"], report["planted_effect"])
    aucs = [v["token_wasting"] for v in report["planted_auroc"].values()]
    report["planted_auroc_token_wasting_mean"] = float(np.mean(aucs))
    if not (args.quick or args.no_seed_agreement):
        agree = seed_agreement(cat, features, default_runs)
        report["seed_agreement"] = agree
        report["seed_spearman"] = float(np.mean([a["spearman"] for a in agree.values()]))
        report["seed_top1_overlap"] = float(np.mean([a["top1_overlap"] for a in agree.values()]))
    root = cat.run(run_id).artifact_dir
    noise = json.loads((root / f"{run_id}.noise.json").read_text()) if root else []
    report["noise_floor"] = noise
    for t, row in report["targets"].items():  # the held-out outcomes' own ceiling, when measured
        task_id = cat.get_target_task(t)["task_id"]
        got = [r for r in noise if r["task_id"] == task_id and r["split"] == "heldout"]
        if got and got[0].get("replicates", 1) > 1:
            row["heldout_replicate_spearman"] = got[0]["replicate_spearman"]
            row["heldout_lds_ceiling"] = got[0]["lds_ceiling"]
            row["heldout_lds_ceiling_1"] = got[0]["lds_ceiling_1"]
    report["table"] = res.drop(columns=["run_id", "created_at"]).to_dict("records")
    report["seconds"] = time.monotonic() - t0
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    cols = ["task_id", "split", "predictor", "aggregate_lds", "ci_lo", "ci_hi", "per_example_lds"]
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print(res[cols].round(3).to_string(index=False))
    print(json.dumps({k: v for k, v in report.items() if k != "table"}, indent=1, default=str))
    log(f"wrote {args.out} in {report['seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
