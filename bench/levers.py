"""Levers for the datamodels issue, measured on the validation's own subset models.

Every lever is a different way to compute DsDm scores from the same proxies; each is scored on
the `--subsets` subset models that `bench/validate.py` trained (they resume, nothing is
retrained), so the held-out aggregate LDS of every row is comparable, CI and all:

- `k=K`: projection dimension K (features re-computed; the shipped default is 4,096);
- `proj-ens=S`: the mean of the default scores over S projection seeds (a larger effective k
  at no training cost);
- `λ=L`: the shipped features with another ridge (`--lambda-rel`);
- `output=logprob`: features of the mean completion log-prob (the quantity LDS measures)
  instead of TRAK's margin, features re-computed;
- `kfac…`: K-FAC whitening folded into the projection (`--precondition kfac|kfac-body` at a
  `--damping`), features re-computed;
- `centre=c`: the target's mean feature minus c × the pool's mean feature (per member) before
  the preconditioned product: removes the direction every document shares (the frequency
  direction of near-unigram proxies, method.md "What tiny proxies learn"); scores only;
- `proxies preset=…,token_budget=…`: other proxies (the demo's recipe with those fields
  changed, e.g. a larger preset or more training tokens), trained and featurised at the
  defaults; their training and featurisation seconds are reported beside the LDS.

    python bench/levers.py --workspace dsdm_workspace --out bench/out/levers.json \
        --proj-dims 1024 8192 --proj-seeds 2 --lambdas 1 100 --kfac kfac-body:1 kfac:10 \\
        --proxies preset=small,token_budget=750000 token_budget=6000000

Prints a table (lever × target: held-out aggregate LDS [95% CI]) and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from math import inf
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from validate import TARGETS, demo_proxies, log, printer  # noqa: E402  (bench/validate.py)

from data_catalog.catalog import Catalog  # noqa: E402
from dsdm_engine import stages  # noqa: E402
from dsdm_engine.compute.configs import ScoreConfig  # noqa: E402
from dsdm_engine.evaluation.lds import Predictor, lds_table  # noqa: E402
from dsdm_engine.evaluation.subsets import ValidateConfig, train_subset_models  # noqa: E402


def scores_of(cat: Catalog, features: str, target: str, lam: float) -> np.ndarray:
    run = stages.score_task(cat, features, target, lam, normalize=ScoreConfig().normalize)
    return cat.scores(run, cat.get_target_task(target)["task_id"])["score"].to_numpy()


def centred(cat: Catalog, features: str, tasks: dict[str, str], lam: float, cs: list[float]):
    """Scores with the target's mean feature centred by c × the pool's mean, per member."""
    from dsdm_engine.compute.scoring import BLOCK_ROWS

    models = stages.pool_models(cat, features, lam)
    feats = {t: stages.target_features(cat, features, task_id)[0] for t, task_id in tasks.items()}
    n = models[0].phi.shape[0]
    qbar = np.mean([pm.q for pm in models], axis=0)
    out = {f"centre={c:g}": {t: np.zeros(n) for t in tasks} for c in cs}
    for m, pm in enumerate(models):
        mu = np.zeros(pm.phi.shape[1])
        for s in range(0, n, BLOCK_ROWS):
            mu += np.asarray(pm.phi[s : s + BLOCK_ROWS], np.float64).sum(axis=0)
        mu /= n
        for t in tasks:
            tbar = np.asarray(feats[t][m], np.float64).mean(axis=0)
            for c in cs:
                av = pm.precondition(tbar - c * mu).astype(np.float32)
                for s in range(0, n, BLOCK_ROWS):
                    block = np.asarray(pm.phi[s : s + BLOCK_ROWS], np.float32)
                    out[f"centre={c:g}"][t][s : s + BLOCK_ROWS] += block @ av
    return {name: {t: v / len(models) * qbar for t, v in per.items()} for name, per in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--workspace", default=str(ROOT / "dsdm_workspace"))
    ap.add_argument("--subsets", type=int, default=ValidateConfig().n_subsets)
    ap.add_argument(
        "--seed",
        type=int,
        default=ValidateConfig().seed,
        help="the subset models' seed (as bench/validate.py --seed)",
    )
    ap.add_argument(
        "--replicates",
        type=int,
        default=ValidateConfig().replicates,
        help="models per subset: LDS against the mean of their outcomes",
    )
    ap.add_argument("--proj-dims", type=int, nargs="*", default=[])
    ap.add_argument("--proj-seeds", type=int, default=1, help="projection seeds to average")
    ap.add_argument("--lambdas", type=float, nargs="*", default=[])
    ap.add_argument("--outputs", nargs="*", default=[], help="model outputs, e.g. logprob")
    ap.add_argument(
        "--kfac", nargs="*", default=[], help="PRECONDITION:DAMPING, e.g. kfac-body:1 kfac:0.1"
    )
    ap.add_argument("--centre", type=float, nargs="*", default=[], help="pool-mean fractions c")
    ap.add_argument(
        "--proxies", nargs="*", default=[], metavar="FIELD=VALUE,…",
        help="other proxies: the demo's recipe with these fields changed",
    )  # fmt: skip
    args = ap.parse_args()
    t0 = time.monotonic()
    cat = Catalog.open(args.workspace)
    proxies = demo_proxies(cat).run_id
    tasks = {t: cat.get_target_task(t)["task_id"] for t in TARGETS}
    cfg = ValidateConfig(
        n_subsets=args.subsets, device="cpu", seed=args.seed, replicates=args.replicates
    )
    got = train_subset_models(cat, proxies, list(tasks.values()), cfg)  # resumes
    base = stages.FeatureConfig()
    lam0 = ScoreConfig().lambda_rel
    levers: dict[str, dict[str, np.ndarray]] = {}
    default = stages.featurize(cat, proxies, base)
    levers[f"default (k={base.proj_dim})"] = {t: scores_of(cat, default, t, lam0) for t in TARGETS}
    for k in args.proj_dims:
        log(f"featurising at k={k}")
        run = stages.featurize(cat, proxies, stages.FeatureConfig(proj_dim=k))
        levers[f"k={k}"] = {t: scores_of(cat, run, t, lam0) for t in TARGETS}
    if args.proj_seeds > 1:
        runs = [default]
        for s in range(1, args.proj_seeds):
            log(f"featurising with projection seed {s}")
            runs.append(stages.featurize(cat, proxies, stages.FeatureConfig(proj_seed=s)))
        levers[f"proj-ens={args.proj_seeds}"] = {
            t: np.mean([scores_of(cat, r, t, lam0) for r in runs], axis=0) for t in TARGETS
        }
    for output in args.outputs:
        log(f"featurising with --output {output}")
        run = stages.featurize(cat, proxies, stages.FeatureConfig(output=output))
        levers[f"output={output}"] = {t: scores_of(cat, run, t, lam0) for t in TARGETS}
    for spec in args.kfac:
        kind, damping = spec.split(":")
        log(f"featurising with --precondition {kind} --damping {damping}")
        fc = stages.FeatureConfig(precondition=kind, damping=float(damping))
        run = stages.featurize(cat, proxies, fc)
        levers[f"{kind} d={damping}"] = {t: scores_of(cat, run, t, lam0) for t in TARGETS}
        levers[f"{kind} d={damping} λ=∞"] = {t: scores_of(cat, run, t, inf) for t in TARGETS}
    costs: dict[str, dict[str, float]] = {}
    demo = demo_proxies(cat)
    for spec in args.proxies:
        recipe = {k: v for k, v in demo.config.items() if k not in ("pool_id", "pool_hash")}
        for item in spec.split(","):
            key, value = item.split("=")
            recipe[key] = value if key in ("preset", "device") else json.loads(value)
        log(f"training proxies with {spec}")
        t_train = time.monotonic()
        run = stages.train_proxies(cat, demo.config["pool_id"], stages.ProxyConfig.make(
            recipe.pop("n_models"), **recipe), printer("proxies"))  # fmt: skip
        t_feat = time.monotonic()
        feats = stages.featurize(cat, run, base, printer("featurize"))
        levers[f"proxies {spec}"] = {t: scores_of(cat, feats, t, lam0) for t in TARGETS}
        costs[f"proxies {spec}"] = {
            "train_s": t_feat - t_train, "featurize_s": time.monotonic() - t_feat,
            "proxies_run_id": run,
        }  # fmt: skip
    if args.centre:
        levers.update(centred(cat, default, tasks, lam0, args.centre))
    for lam in args.lambdas:
        levers[f"λ={lam:g}·tr/k"] = {t: scores_of(cat, default, t, lam) for t in TARGETS}
    preds = [Predictor(name, tasks[t], s) for name, per in levers.items() for t, s in per.items()]
    table = lds_table(got.masks, got.outcomes, preds, seed=cfg.seed)
    held = table[table["split"] == "heldout"].copy()
    held["target"] = held["task_id"].map({v: k for k, v in tasks.items()})
    rows = {
        name: {
            r["target"]: {"lds": r["aggregate_lds"], "ci": [r["ci_lo"], r["ci_hi"]]}
            for _, r in held[held["predictor"] == name].iterrows()
        }
        for name in levers
    }
    report = {"n_subsets": args.subsets, "seed": args.seed, "replicates": args.replicates,
              "heldout_aggregate_lds": rows, "costs": costs,
              "seconds": time.monotonic() - t0}  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    view = held.pivot(index="predictor", columns="target", values="aggregate_lds")
    with pd.option_context("display.width", 160):
        print(view.loc[list(levers)].round(3).to_string())
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
