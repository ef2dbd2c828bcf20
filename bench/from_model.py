"""The fine-tuning case measured: does DsDm with the user's own model predict what fine-tuning
that model on a subset does?

Imports a local model folder (`bench/make_model.py` makes one) as the demo pool's proxy,
featurises the pool and scores the four demo targets at the defaults, then fine-tunes `--subsets`
subset models from the checkpoint (`dsdm validate --from-model`: common seed, fixed budget) and
reports the held-out aggregate LDS with its 95% CI for the imported model's DsDm scores, the
from-scratch proxies' DsDm scores, and the similarity predictors, all on those fine-tuned models.

    python bench/from_model.py --workspace dsdm_workspace --model bench/out/models/llama-small \\
        --out bench/out/from_model.json --subsets 64

Prints a table (predictor × target) and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from validate import POOL, TARGETS, demo_proxies, log, printer  # noqa: E402  (bench/validate.py)

from data_catalog.catalog import Catalog  # noqa: E402
from dsdm_engine import stages  # noqa: E402
from dsdm_engine.compute.configs import ScoreConfig  # noqa: E402
from dsdm_engine.evaluation.lds import Predictor, lds_table  # noqa: E402
from dsdm_engine.evaluation.subsets import ValidateConfig, train_subset_models  # noqa: E402
from dsdm_engine.evaluation.validate import similarity_predictors  # noqa: E402
from dsdm_engine.stages.proxies import import_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--workspace", default=str(ROOT / "dsdm_workspace"))
    ap.add_argument("--model", required=True, help="local model folder")
    ap.add_argument("--subsets", type=int, default=ValidateConfig().n_subsets)
    ap.add_argument("--finetune-lr", type=float, default=ValidateConfig().finetune_lr)
    ap.add_argument("--train-layers", default="all")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    t0 = time.monotonic()
    cat = Catalog.open(args.workspace)
    tasks = {t: cat.get_target_task(t)["task_id"] for t in TARGETS}
    log(f"importing {args.model}")
    run = import_model(cat, POOL, args.model, progress=printer("import"))
    t_feat = time.monotonic()
    feats = stages.featurize(cat, run, stages.FeatureConfig(), printer("featurize"))
    t_score = time.monotonic()
    lam = ScoreConfig().lambda_rel
    mine = {t: stages.score_task(cat, feats, t, lam) for t in TARGETS}
    scratch_feats = stages.featurize(cat, demo_proxies(cat).run_id, stages.FeatureConfig())
    scratch = {t: stages.score_task(cat, scratch_feats, t, lam) for t in TARGETS}
    t_sub = time.monotonic()
    cfg = ValidateConfig(
        n_subsets=args.subsets, from_model=True, finetune_lr=args.finetune_lr,
        train_layers=args.train_layers, workers=args.workers, device="cpu",
    )  # fmt: skip
    got = train_subset_models(cat, run, list(tasks.values()), cfg, printer("subsets"))
    t_lds = time.monotonic()
    preds = []
    for t, task_id in tasks.items():
        for name, runs in (("dsdm imported", mine), ("dsdm from-scratch proxies", scratch)):
            s = cat.scores(runs[t], task_id)["score"].to_numpy()
            preds.append(Predictor(name, task_id, s))
        preds += similarity_predictors(cat, POOL, task_id, cfg.seed)
    table = lds_table(got.masks, got.outcomes, preds, seed=cfg.seed)
    held = table[table["split"] == "heldout"].copy()
    held["target"] = held["task_id"].map({v: k for k, v in tasks.items()})
    rows = {
        name: {
            r["target"]: {"lds": r["aggregate_lds"], "ci": [r["ci_lo"], r["ci_hi"]]}
            for _, r in held[held["predictor"] == name].iterrows()
        }
        for name in dict.fromkeys(held["predictor"])
    }
    info = cat.run(run).config["imported"]
    made = Path(args.model) / "made_by.json"
    report = {
        "model": {**info, **(json.loads(made.read_text()) if made.exists() else {})},
        "proxies_run_id": run, "features_run_id": feats, "n_subsets": args.subsets,
        "finetune_lr": args.finetune_lr, "train_layers": args.train_layers,
        "heldout_aggregate_lds": rows,
        "seconds": {"import": t_feat - t0, "featurize": t_score - t_feat,
                    "score": t_sub - t_score, "subset_models": t_lds - t_sub,
                    "total": time.monotonic() - t0},
    }  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    view = held.pivot(index="predictor", columns="target", values="aggregate_lds")
    with pd.option_context("display.width", 160):
        print(view.round(3).to_string())
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
