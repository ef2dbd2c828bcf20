"""The ensemble lever: held-out LDS against the number of proxies M and checkpoints C per proxy.

TRAK's own scaling curve, drawn on our targets. One proxies run with the demo's recipe, M
proxies and C checkpoints each (saved during training at no extra training cost), is
featurised once (M·C members, each with its own projection seed); every ensemble (M', C') with
M' ≤ M proxies and C' of the C checkpoints (evenly spaced, the final model always in) is then
scored from the per-member terms Φ_m A_m φ̄_m and Q_m without featurising again, and its
held-out aggregate LDS is measured on the validation's 64 subset models (the same ones
`bench/validate.py` trains, resumed, so every row is comparable). Per row also:

- `agreement`: Spearman (and top-1% overlap) between this ensemble and a disjoint one of the
  same shape (proxies M'…2M'−1): what a user sees on re-running with other seeds. It includes
  the projection seeds and the training seeds, so it is stricter than projection-seed agreement;
- `harmful_auroc`: for every planted label whose effect on the target's held-out loss is
  measurably harmful (CI above zero, `planted_effect`), the AUROC of the lowest scores;
- per-example LDS for the largest ensembles.

    python bench/ensembles.py --workspace dsdm_workspace --out bench/out/ensembles.json \\
        --models 8 --checkpoints 4

Prints a table (M × C' × target) and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from validate import POOL, TARGETS, demo_proxies, log, printer  # noqa: E402  (bench/validate.py)

from data_catalog.catalog import Catalog  # noqa: E402
from data_catalog.ranks import spearman  # noqa: E402
from dsdm_engine import stages  # noqa: E402
from dsdm_engine.compute.configs import ScoreConfig  # noqa: E402
from dsdm_engine.compute.scoring import top_overlap  # noqa: E402
from dsdm_engine.evaluation.lds import Predictor, lds_table  # noqa: E402
from dsdm_engine.evaluation.metrics import auroc  # noqa: E402
from dsdm_engine.evaluation.planted import planted_effect, planted_labels  # noqa: E402
from dsdm_engine.evaluation.subsets import ValidateConfig, train_subset_models  # noqa: E402
from dsdm_engine.stages.config import n_members  # noqa: E402


def member_terms(cat: Catalog, features: str, tasks: dict[str, str], lam: float, full: set):
    """Per member m and target: t_m = Φ_m A_m φ̄_m (n,), Q_m (n,); and Σ_m of per-example
    terms Φ_m A_m Φ_m(targets)ᵀ over each member set in `full` (name -> members)."""
    frun = cat.run(features).config
    n_mem = n_members(cat.run(frun["proxies_run_id"]).config)
    terms = {t: [] for t in tasks}
    qs = []
    per_ex: dict[tuple[str, str], np.ndarray] = {}
    feats = {t: stages.target_features(cat, features, task_id)[0] for t, task_id in tasks.items()}
    for m in range(n_mem):
        t0 = time.monotonic()
        pm = stages.pool_model(cat, features, m, lam)
        qs.append(np.asarray(pm.q, np.float64))
        for t in tasks:
            tf = np.asarray(feats[t][m], np.float64)
            av = pm.precondition(tf.mean(axis=0)).astype(np.float32)
            terms[t].append(np.asarray(pm.phi, np.float32) @ av)
            for name, members in full:
                if m in members:
                    ex = np.asarray(pm.phi, np.float32) @ pm.precondition(tf.T).astype(np.float32)
                    per_ex[(name, t)] = per_ex.get((name, t), 0) + ex
        log(f"member {m + 1}/{n_mem} scored in {time.monotonic() - t0:.1f} s")
        del pm
    return {t: np.asarray(v) for t, v in terms.items()}, np.asarray(qs), per_ex


def members_of(n_proxies: int, c_used: int, c_saved: int, first: int = 0) -> list[int]:
    """Members of proxies first…first+n_proxies−1, C' checkpoints each (final model always in)."""
    step = c_saved // c_used
    return [
        m * c_saved + c
        for m in range(first, first + n_proxies)
        for c in range(c_saved - 1, -1, -step)[:c_used]
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--workspace", default=str(ROOT / "dsdm_workspace"))
    ap.add_argument("--models", type=int, default=8, help="proxies M trained for the sweep")
    ap.add_argument("--checkpoints", type=int, default=4, help="checkpoints C saved per proxy")
    ap.add_argument("--proj-dim", type=int, default=stages.FeatureConfig().proj_dim)
    ap.add_argument("--subsets", type=int, default=ValidateConfig().n_subsets)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    t_start = time.monotonic()
    cat = Catalog.open(args.workspace)
    demo = demo_proxies(cat)
    recipe = {k: v for k, v in demo.config.items() if k not in ("n_models", "pool_id", "pool_hash")}
    recipe["checkpoints"] = args.checkpoints
    cfg = stages.ProxyConfig.make(args.models, **recipe)
    tasks = {t: cat.get_target_task(t)["task_id"] for t in TARGETS}
    vcfg = ValidateConfig(n_subsets=args.subsets, workers=args.workers, device="cpu")
    log(f"subset models: {args.subsets} (resumed where trained)")
    got = train_subset_models(cat, demo.run_id, list(tasks.values()), vcfg, printer("subsets"))
    t_train = time.monotonic()
    proxies = stages.train_proxies(cat, POOL, cfg, printer("proxies"))
    t_feat = time.monotonic()
    features = stages.featurize(
        cat, proxies, stages.FeatureConfig(proj_dim=args.proj_dim), printer("featurize")
    )
    t_score = time.monotonic()
    lam = ScoreConfig().lambda_rel
    m_all, c_all = args.models, args.checkpoints
    full = [
        (f"M={m_all} C={c_all}", set(members_of(m_all, c_all, c_all))),
        (f"M={m_all} C=1", set(members_of(m_all, 1, c_all))),
    ]
    terms, qs, per_ex = member_terms(cat, features, tasks, lam, full)
    t_done = time.monotonic()

    def score(t: str, members: list[int]) -> np.ndarray:
        return terms[t][members].mean(axis=0) * qs[members].mean(axis=0)

    shapes = [
        (m, c)
        for c in sorted({1, 2, c_all} | ({4} if c_all % 4 == 0 else set()))
        if c_all % c == 0
        for m in (1, 2, 4, 8, 16, 32)
        if m <= m_all
    ]
    preds, rows = [], {}
    for m, c in shapes:
        name = f"M={m} C={c}"
        mem = members_of(m, c, c_all)
        for t, task_id in tasks.items():
            pe = None
            for fname, fmem in full:
                if fname == name and set(mem) == fmem:
                    pe = per_ex[(fname, t)] / len(fmem) * qs[mem].mean(axis=0)[:, None]
            preds.append(Predictor(name, task_id, score(t, mem), pe))
        rows[name] = {"proxies": m, "checkpoints": c, "members": m * c}
    table = lds_table(got.masks, got.outcomes, preds, seed=vcfg.seed)
    labels = planted_labels(cat, POOL)
    lab = np.array([str(v) if v else "" for v in labels])
    n_tokens = stages.pool_view(cat, POOL, texts=False).n_tokens
    harmful = {}
    for t, task_id in tasks.items():
        loss = -got.outcomes[f"{task_id}|heldout"].mean(axis=1)
        eff = planted_effect(got.masks, loss, labels, n_tokens, seed=vcfg.seed)
        harmful[t] = sorted(w for w, e in eff.items() if e["ci"][0] > 0)
    out_rows = []
    for name, meta in rows.items():
        m, c = meta["proxies"], meta["checkpoints"]
        for t, task_id in tasks.items():
            sel = table[(table["predictor"] == name) & (table["task_id"] == task_id)]
            sel = sel.set_index("split")
            s = score(t, members_of(m, c, c_all))
            row = {
                "ensemble": name,
                **meta,
                "target": t,
                "heldout_lds": float(sel.loc["heldout", "aggregate_lds"]),
                "heldout_ci": [
                    float(sel.loc["heldout", "ci_lo"]),
                    float(sel.loc["heldout", "ci_hi"]),
                ],
                "selection_lds": float(sel.loc["selection", "aggregate_lds"]),
                "per_example_lds": float(sel.loc["selection", "per_example_lds"]),
            }
            if 2 * m <= m_all:
                other = score(t, members_of(m, c, c_all, first=m))
                row["agreement_spearman"] = spearman(s, other)
                row["agreement_top1"] = top_overlap(s, other, 0.01)
            row["harmful_auroc"] = {
                w: auroc(s[(lab == w) | (lab == "")], lab[(lab == w) | (lab == "")] == w)
                for w in harmful[t]
            }
            out_rows.append(row)
    df = pd.DataFrame(out_rows)
    report = {
        "n_subsets": args.subsets,
        "proj_dim": args.proj_dim,
        "lambda_rel": lam,
        "proxies_run": proxies,
        "features_run": features,
        "recipe": recipe,
        "harmful_labels": harmful,
        "rows": out_rows,
        "seconds": {
            "subset_models": t_train - t_start,
            "proxies": t_feat - t_train,
            "featurize": t_score - t_feat,
            "scoring": t_done - t_score,
            "total": time.monotonic() - t_start,
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    view = df.pivot(index="ensemble", columns="target", values="heldout_lds")
    view["mean"] = view.mean(axis=1)
    if "agreement_spearman" in df:
        view["agreement"] = df.groupby("ensemble")["agreement_spearman"].mean()
    view["members"] = [rows[n]["members"] for n in view.index]
    with pd.option_context("display.width", 200):
        print(view.sort_values(["members"]).round(3).to_string())
    log(f"wrote {args.out} in {report['seconds']['total'] / 60:.1f} min")


if __name__ == "__main__":
    main()
