"""Selection-quality benchmark (issue 5, item 4): does DsDm pick better training data?

On a workspace (default: the demo workspace, pool ``demo``, targets squad, cs_algorithms,
jeopardy, lambada) it

1. makes sure DsDm scores exist for every target (training proxies / featurising / scoring
   through `dsdm_engine.stages` when missing);
2. runs every selector once per target (random and semdedup, which ignore the target, once in
   all) with a token budget large enough for the largest evaluation budget;
3. trains fresh models from scratch (`evaluation.EvalRecipe`: the proxies' preset, vocabulary
   and context, ``passes`` × budget training tokens) on each selection's rank-order prefix at 3
   budgets × ≥ 3 seeds, and measures the held-out target loss (completion tokens only).
   Target-independent selections are trained once per (budget, seed) and evaluated on every
   target. Random is also trained at 2× the largest budget, so that a method beating random at
   the largest budget still gets a measured compute multiplier, not just a bound;
4. computes the compute multiplier against random (geometric mean over the 3 budgets of the
   per-budget multiplier; per-budget values and their bound flags are in the JSON), and
   how well the lowest DsDm scores find planted documents (AUROC, precision@k);
5. writes JSON (``--out``), a markdown table (same path, ``.md``) and a plotly HTML figure
   (``.html``), and checks the issue's bars.

Budgets default to 32k, 64k, 128k tokens (``--quick``: 16k, 32k, 64k with 2 seeds; ``--gpu``:
8× larger), shrunk to at most 1/8 of the pool. Everything resumes: selections are found by name,
evaluations by (selection, task, budget, seed, recipe hash).
LDS (does a score predict subset-trained models?) is `bench/validate.py`.

    python bench/selection_quality.py --quick                 # ~10 min on the 2-core CPU box
    python bench/selection_quality.py                          # full CPU run (< 90 min)
    python bench/selection_quality.py --gpu --workspace ws     # GPU presets and budgets
    python bench/selection_quality.py --from-model bench/out/models/llama-small   # fine-tuning

``--from-model PATH`` is the fine-tuning case: the model folder is imported as the pool's proxy
(DsDm scores from its own features) and every selection fine-tunes that checkpoint
(``--finetune-lr``) instead of training a model from scratch.

Random is always run (it is the reference of the multiplier and the bars). On CPU torch uses one
thread unless ``--threads`` says otherwise: tiny models on a shared 2-core machine ran several
times faster that way. ``--gpu`` trains missing proxies with `GPU_PROXIES` (override with
``--proxy-models/--proxy-preset/--proxy-seq-len/--feature-k``) and uses 8× larger budgets.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data_catalog.catalog import Catalog  # noqa: E402
from data_catalog.errors import DsdmError, NotFoundError  # noqa: E402
from dsdm_engine import stages  # noqa: E402
from dsdm_engine.evaluation import harness as ev  # noqa: E402
from dsdm_engine.evaluation import planted as planted_mod  # noqa: E402
from dsdm_engine.selectors import SELECTORS, SelectionRule, available_selectors  # noqa: E402
from dsdm_engine.stages.proxies import trained_proxies  # noqa: E402

DEMO_TARGETS = ("squad", "cs_algorithms", "jeopardy", "lambada")
SIMILARITY = ("dsir", "classifier", "embedding", "bm25")  # the similarity baselines of the bars
CPU_PROXIES = stages.ProxyConfig.make(n_models=4, preset="tiny", vocab_size=2048, seq_len=128)
GPU_PROXIES = stages.ProxyConfig.make(n_models=8, preset="small", vocab_size=4096, seq_len=256)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def printer(prefix: str):
    """A progress callback that prints at most every 20 s."""
    last = [0.0]

    def progress(done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        if now - last[0] >= 20 or (total and done >= total):
            last[0] = now
            log(f"{prefix} {done}/{total} {message}")

    return progress


# ----------------------------------------------------------------------------- setup
def pick_pool(cat: Catalog, name: str | None) -> str:
    if name:
        return cat.get_pool(name)["pool_id"]
    pools = cat.list_pools()["pool_id"].tolist()
    if "demo" in pools:
        return "demo"
    if len(pools) == 1:
        return pools[0]
    raise DsdmError(f"give --pool (pools: {', '.join(pools) or 'none'})")


def ensure_scores(
    cat: Catalog, pool: str, targets: list[str], args: argparse.Namespace
) -> dict[str, str]:
    """target -> finished DsDm scores run at the defaults (from `--proxies`, else the pool's first
    trained proxies run), computing proxies/features/scores when missing."""
    gpu = args.gpu
    trained = trained_proxies(cat, pool)
    if args.proxies or trained:  # the named run, else the pool's first (the demo's own)
        proxies = args.proxies or trained[0].run_id
        log(f"DsDm scores at the defaults from proxies {proxies}")
        features = stages.featurize(cat, proxies, stages.FeatureConfig(), printer("featurize"))
        return {t: stages.score_task(cat, features, t) for t in targets}
    out, missing = {}, []
    for t in targets:
        try:
            out[t] = stages.latest_scores_run(cat, t, pool)
        except NotFoundError:
            missing.append(t)
    if not missing:
        return out
    runs = cat.list_runs("features")
    runs = runs[(runs["pool_id"] == pool) & (runs["status"] == "done")]
    if runs.empty:
        cfg = (GPU_PROXIES if gpu else CPU_PROXIES).with_train(device="cuda" if gpu else "auto")
        if args.proxy_models:
            cfg = replace(cfg, n_models=args.proxy_models)
        if args.proxy_preset:
            cfg = cfg.with_train(preset=args.proxy_preset)
        if args.proxy_seq_len:
            cfg = cfg.with_train(seq_len=args.proxy_seq_len)
        log(f"no features for pool {pool}: training proxies {cfg}")
        proxies = stages.train_proxies(cat, pool, cfg, printer("proxies"))
        k = args.feature_k or (4096 if gpu else 2048)
        fcfg = stages.FeatureConfig(proj_dim=k, device=cfg.train.device)
        features = stages.featurize(cat, proxies, fcfg, printer("featurize"))
    else:
        features = str(runs.iloc[-1]["run_id"])
    for t in missing:
        out[t] = stages.score_task(cat, features, t)
        log(f"scored {t}: {out[t]}")
    return out


def model_scores(cat: Catalog, pool: str, targets: list[str], path: str) -> dict[str, str]:
    """target -> DsDm scores from the imported model's own features (imported, featurised and
    scored at the defaults when missing; all of it resumes)."""
    from dsdm_engine.stages.proxies import import_model

    run = import_model(cat, pool, path, progress=printer("import"))
    features = stages.featurize(cat, run, stages.FeatureConfig(), printer("featurize"))
    return {t: stages.score_task(cat, features, t) for t in targets}


def pool_tokens(cat: Catalog, pool: str, recipe: ev.EvalRecipe) -> int:
    """Token count of the pool under its tokenizer (tokenising it first when needed)."""
    stages.prepare_tokens(cat, pool, int(recipe.vocab_size or 0), int(recipe.seq_len or 0))
    return int(cat.get_pool(pool)["n_tokens"])


def target_free(method: str) -> bool:
    """Selections that ignore the target (random, semdedup); DsDm's selector takes its target
    through precomputed scores, so its class says `needs_target = False` but it is per target."""
    return not SELECTORS[method].needs_target and method != "dsdm"


def default_budgets(pool_tokens: int, seq_len: int, quick: bool, gpu: bool) -> list[int]:
    """Three doubling budgets sized for the profile, shrunk to at most pool/8 for small pools."""
    top = (64_000 if quick else 128_000) * (8 if gpu else 1)
    top = min(top, pool_tokens // 8)
    return [max(seq_len, top // f // seq_len * seq_len) for f in (4, 2, 1)]


def make_selection(
    cat: Catalog, method: str, pool: str, target: str | None, budget: int, score_run: str | None
) -> str:
    """One selection holding at least `budget` tokens; reused by name on reruns."""
    tag = f"-{score_run[-12:]}" if method == "dsdm" and score_run else ""
    name = f"bench-{method}-{target or 'any'}-t{budget}{tag}"
    try:
        return cat.get_selection(name)["selection_id"]
    except NotFoundError:
        pass
    rule = SelectionRule(token_budget=int(budget * 1.05) + 2048)
    return stages.run_selection(cat, method, pool, task_ref=target, rule=rule, seed=0, name=name)


# ----------------------------------------------------------------------------- analysis
def names_by_task(cat: Catalog, targets: list[str]) -> dict[str, str]:
    return {cat.get_target_task(t)["task_id"]: t for t in targets}


def planted_window(cat: Catalog, pool: str, scores: dict[str, str]) -> dict[str, float]:
    """Per planted label: share of documents that fit whole in the featurised window.

    A document is featurised as its first ``seq_len - 1`` tokens, so e.g. a wrong answer at the
    end of a long QA document is invisible to its DsDm score.
    """
    if not scores:
        return {}
    feats = cat.get_run(next(iter(scores.values())))["config"]["features_run_id"]
    seq = int(cat.get_run(cat.get_run(feats)["config"]["proxies_run_id"])["config"]["seq_len"])
    fits: dict[str, list[bool]] = {}
    for df in cat.iter_documents(pool, columns="doc_id, n_tokens, metadata"):
        for n, meta in zip(df["n_tokens"], df["metadata"], strict=True):
            label = json.loads(meta).get("planted") if isinstance(meta, str) and meta else None
            if label:
                fits.setdefault(label, []).append(bool(n is not None and n <= seq - 1))
    return {k: float(np.mean(v)) for k, v in sorted(fits.items())}


def check_bars(summary: pd.DataFrame, mult: dict, planted: dict, methods: list[str]) -> list:
    """The issue's bars, each with pass/fail and by how much."""
    bars = []
    if "dsdm" in methods and "random" in methods:
        piv = summary.pivot_table(
            index=["target", "budget_tokens"], columns="method", values="loss"
        )
        gap = (piv["random"] - piv["dsdm"]).dropna()  # random alone at its extra budget
        bars.append(
            {
                "bar": "DsDm below random at every target and budget",
                "pass": bool((gap > 0).all()),
                "detail": {f"{t}@{b}": round(float(v), 4) for (t, b), v in gap.items()},
            }
        )
        means = summary.groupby(["target", "method"])["loss"].mean().unstack()
        sims = [m for m in SIMILARITY if m in means.columns]
        if sims:
            wins = {t: bool(all(means.loc[t, "dsdm"] < means.loc[t, s] for s in sims))
                    for t in means.index}  # fmt: skip
            margins = {t: round(float(min(means.loc[t, s] for s in sims) - means.loc[t, "dsdm"]), 4)
                       for t in means.index}  # fmt: skip
            need = min(3, len(wins))
            bars.append({
                "bar": f"DsDm below every similarity baseline ({', '.join(sims)}) on >= 3 of 4 "
                       "targets (loss averaged over budgets)",
                "pass": sum(wins.values()) >= need,
                "detail": {"wins": wins, "best_baseline_minus_dsdm": margins},
            })  # fmt: skip
        cm = {t: v.get("dsdm", math.nan) for t, v in mult.items()}
        bars.append(
            {
                "bar": "compute multiplier of DsDm vs random >= 1.5x (every target)",
                "pass": bool(cm) and all(v >= 1.5 for v in cm.values()),
                "detail": {t: round(v, 3) for t, v in cm.items()},
            }
        )
    if "squad" in planted:
        wa = next((r for r in planted["squad"] if r["label"] == "wrong_answer"), None)
        if wa is not None:
            bars.append({
                "bar": "planted wrong-answer AUROC >= 0.8 on squad",
                "pass": wa["auroc"] >= 0.8,
                "detail": {"auroc": round(wa["auroc"], 4), "precision_at_k": wa["precision_at_k"],
                           "k": wa["k"], "auroc_vs_correct_qa": wa["auroc_same_source"]},
            })  # fmt: skip
    return bars


# ----------------------------------------------------------------------------- reports
def fmt(x: float, nd: int = 3) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def markdown(report: dict[str, Any], summary: pd.DataFrame, mult_df: pd.DataFrame) -> str:
    methods = report["config"]["methods"]
    lines = ["# Selection quality", ""]
    c = report["config"]
    lines += [
        f"Workspace `{c['workspace']}`, pool `{c['pool']}` ({c['pool_tokens']:,} tokens), "
        f"recipe {c['recipe']['preset']} / vocab {c['recipe']['vocab_size']} / seq "
        f"{c['recipe']['seq_len']}, {c['recipe']['passes']} passes per budget, lr "
        f"{c['recipe']['lr']}, seeds {c['seeds']}, held-out examples <= "
        f"{c['recipe']['max_heldout']}. Total time {report['timings']['total_s'] / 60:.1f} min.",
        "",
        "## Held-out target loss (mean ± std over seeds; lower is better)",
        "",
        "| target | budget | " + " | ".join(methods) + " |",
        "|---|---:|" + "---:|" * len(methods),
    ]
    for (t, b), grp in summary.groupby(["target", "budget_tokens"], sort=True):
        cells = grp.set_index("method")
        if not set(methods) & set(cells.index):
            continue
        best = cells.loc[[m for m in methods if m in cells.index], "loss"].idxmin()
        row = []
        for m in methods:
            if m not in cells.index:
                row.append("")
                continue
            s = f"{cells.loc[m, 'loss']:.4f} ± {fmt(cells.loc[m, 'loss_std'], 4)}"
            row.append(f"**{s}**" if m == best else s)
        lines.append(f"| {t} | {b:,} | " + " | ".join(row) + " |")
    others = [m for m in methods if m != "random"]
    lines += [
        "",
        "## Compute multiplier vs random (geometric mean over budgets)",
        "",
        "| target | " + " | ".join(others) + " |",
        "|---|" + "---:|" * len(others),
    ]
    for t, row in report["compute_multiplier"].items():
        lines.append(f"| {t} | " + " | ".join(fmt(row.get(m), 2) for m in others) + " |")
    if not mult_df.empty:
        lines += ["", "Per budget (`>=`: beats random's largest budget, a lower bound; `<=`: "
                  "worse than random's smallest, an upper bound):", "",
                  "| target | method | " + " | ".join(f"{b:,}" for b in c["budgets"]) + " |",
                  "|---|---|" + "---:|" * len(c["budgets"])]  # fmt: skip
        sign = {"exact": "", "at_least": ">=", "at_most": "<="}
        for (t, m), grp in mult_df.groupby(["target", "method"], sort=True):
            g = grp.set_index("budget_tokens")
            cells = [f"{sign[g.loc[b, 'bound']]}{g.loc[b, 'multiplier']:.2f}" if b in g.index
                     else "" for b in c["budgets"]]  # fmt: skip
            lines.append(f"| {t} | {m} | " + " | ".join(cells) + " |")
    lines += ["", "## Planted bad data found by the lowest DsDm scores", "",
              "AUROC vs all clean documents / precision@k (k = #planted) / AUROC vs clean "
              "documents of the planted ones' own sources (e.g. wrong vs correct QA documents)",
              ""]  # fmt: skip
    labels = sorted({r["label"] for rows in report["planted"].values() for r in rows})
    if labels:
        lines += ["| target | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
        for t, rows in report["planted"].items():
            by = {r["label"]: r for r in rows}
            cells = [f"{by[lab]['auroc']:.3f} / {by[lab]['precision_at_k']:.2f} / "
                     f"{fmt(by[lab]['auroc_same_source'])}" if lab in by else ""
                     for lab in labels]  # fmt: skip
            lines.append(f"| {t} | " + " | ".join(cells) + " |")
    if report.get("planted_window"):
        lines += [
            "",
            "Share of planted documents that fit whole in the featurised window: "
            + ", ".join(f"{k} {v:.0%}" for k, v in report["planted_window"].items()),
        ]
    lines += ["", "## Bars", "", "| bar | pass | detail |", "|---|---|---|"]
    for b in report["bars"]:
        lines.append(f"| {b['bar']} | {'yes' if b['pass'] else '**no**'} | "
                     f"`{json.dumps(b['detail'])}` |")  # fmt: skip
    lines += ["", "## Timings (s)", ""]
    lines += [f"- {k}: {v:.0f}" for k, v in report["timings"].items()]
    return "\n".join(lines) + "\n"


def html(summary: pd.DataFrame, path: Path) -> None:
    from dsdm_engine.evaluation.figures import loss_curves

    parts = []
    for i, (t, grp) in enumerate(summary.groupby("target", sort=True)):
        frame = grp.rename(columns={"budget_tokens": "budget"})[
            ["method", "budget", "loss", "loss_std"]
        ]
        frame = frame.assign(loss_std=frame["loss_std"].fillna(0.0))
        fig = loss_curves(frame, title=f"{t}: held-out target loss vs budget (tokens)")
        parts.append(fig.to_html(full_html=False, include_plotlyjs="cdn" if i == 0 else False))
    path.write_text("<html><head><meta charset='utf-8'><title>Selection quality</title></head>"
                    "<body>" + "\n".join(parts) + "</body></html>")  # fmt: skip


# ----------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workspace", default=str(ROOT / "dsdm_workspace"))
    p.add_argument("--pool", help="pool id (default: demo, or the only pool)")
    p.add_argument("--targets", nargs="+", help="target tasks (default: the four demo targets)")
    p.add_argument("--methods", nargs="+", help="selectors (default: all registered)")
    p.add_argument("--budgets", nargs="+", type=int, help="token budgets (default: see above)")
    p.add_argument("--seeds", type=int, help="training seeds (default 3; --quick 2)")
    p.add_argument("--passes", type=float, default=2.0, help="training tokens = passes × budget")
    p.add_argument("--eval-preset", help="model preset (default: the proxies' preset)")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--batch-size", type=int, help="default 8 (CPU) / 16 (GPU)")
    p.add_argument("--max-heldout", type=int, default=256, help="held-out examples per target")
    p.add_argument("--proxy-models", type=int, help="proxies to train when scores are missing")
    p.add_argument("--proxy-preset", help="their preset (default tiny CPU / small GPU)")
    p.add_argument("--proxy-seq-len", type=int, help="their context (default 128 / 256)")
    p.add_argument("--feature-k", type=int, help="projection k (default 2048 CPU / 4096 GPU)")
    p.add_argument(
        "--proxies",
        help="DsDm scores from this proxies run at the defaults "
        "(default: the pool's first trained one, the demo's own)",
    )
    p.add_argument("--from-model", help="fine-tune this local model folder on every selection")
    p.add_argument("--finetune-lr", type=float, default=1e-4, help="--from-model: peak LR")
    p.add_argument("--quick", action="store_true", help="smaller budgets, 2 seeds (~10 min)")
    p.add_argument("--gpu", action="store_true", help="GPU: cuda device, GPU proxy presets")
    p.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default 1 on CPU: tiny models "
        "only lose to thread contention on a shared 2-core box)",
    )
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "selection_quality.json"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    t0 = time.monotonic()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        timings[name] = time.monotonic() - t0 - sum(timings.values())

    if args.threads or not args.gpu:
        import torch

        torch.set_num_threads(args.threads or 1)
    cat = Catalog.open(args.workspace)
    pool = pick_pool(cat, args.pool)
    targets = list(args.targets or DEMO_TARGETS)
    methods = list(args.methods or available_selectors())
    unknown = sorted(set(methods) - set(SELECTORS))
    if unknown:
        raise DsdmError(f"unknown methods {unknown}; known: {', '.join(available_selectors())}")
    methods = ["random"] + [m for m in methods if m != "random"]  # random: the reference
    seeds = list(range(args.seeds or (2 if args.quick else 3)))
    device = "cuda" if args.gpu else "auto"

    if args.from_model:
        scores = model_scores(cat, pool, targets, args.from_model)
    else:
        scores = ensure_scores(cat, pool, targets, args) if "dsdm" in methods else {}
    if not scores:  # planted metrics and LDS need them, but methods without dsdm still run
        scores = {t: r for t in targets if (r := _maybe_scores(cat, t, pool))}
    lap("scores_s")
    recipe = ev.EvalRecipe(
        preset=args.eval_preset,
        lr=args.lr,
        batch_size=args.batch_size or (16 if args.gpu else 8),
        passes=args.passes,
        max_heldout=args.max_heldout,
        device=device,
        from_model=args.from_model,
        finetune_lr=args.finetune_lr,
    ).resolve(cat, pool)
    n_tok = pool_tokens(cat, pool, recipe)
    seq = int(recipe.seq_len or 0)
    budgets = sorted(args.budgets or default_budgets(n_tok, seq, args.quick, args.gpu))
    random_budgets = sorted({*budgets, 2 * budgets[-1]})
    if random_budgets[-1] * 1.05 + 2048 > n_tok:
        random_budgets = budgets
    log(f"pool {pool}: {n_tok:,} tokens; budgets {budgets}; random {random_budgets}; "
        f"seeds {seeds}; recipe {recipe}")  # fmt: skip

    # selections
    sels: list[tuple[str, str | None, str]] = []  # (method, target or None, selection id)
    for m in methods:
        top = random_budgets[-1] if m == "random" else budgets[-1]
        if target_free(m):
            sels.append((m, None, make_selection(cat, m, pool, None, top, None)))
            continue
        for t in targets:
            sels.append((m, t, make_selection(cat, m, pool, t, top, scores.get(t))))
    log(f"{len(sels)} selections ready")
    lap("selections_s")

    # training + evaluation
    frames = []
    for i, (m, t, sid) in enumerate(sels):
        tasks = targets if t is None else [t]
        bs = random_budgets if m == "random" else budgets
        log(f"[{i + 1}/{len(sels)}] evaluating {m} ({t or 'all targets'}) at {bs}")
        frames.append(ev.evaluate_selections(
            cat, [sid], tasks, bs, seeds, recipe, printer(f"  {m}/{t or 'all'}")
        ))  # fmt: skip
    df = pd.concat(frames, ignore_index=True)
    lap("train_eval_s")
    name = names_by_task(cat, targets)
    df["target"] = df["task_id"].map(name)
    summary = ev.summarise(df).assign(target=lambda d: d["task_id"].map(name))
    mult_df = ev.compute_multipliers(summary[summary["budget_tokens"].isin(random_budgets)])
    mult_df = mult_df[mult_df["budget_tokens"].isin(budgets)].assign(
        target=lambda d: d["task_id"].map(name)
    )
    mult = {name[k]: v for k, v in ev.headline_multipliers(mult_df).items()}

    # planted data, then the report
    planted = {t: planted_mod.planted_table(cat, r).to_dict("records") for t, r in scores.items()}
    report = {
        "config": {
            "workspace": str(Path(args.workspace).resolve()), "pool": pool,
            "pool_tokens": n_tok, "targets": targets, "methods": methods, "budgets": budgets,
            "random_budgets": random_budgets, "seeds": seeds, "recipe": recipe.to_dict(),
            "quick": args.quick, "gpu": args.gpu, "scores_runs": scores,
            "selections": [{"method": m, "target": t, "selection_id": s} for m, t, s in sels],
        },
        "results": df[["target", "method", "budget_tokens", "seed", "heldout_loss",
                       "selection_id"]].to_dict("records"),
        "summary": summary.drop(columns="task_id").to_dict("records"),
        "compute_multiplier": mult,
        "compute_multiplier_by_budget": mult_df.drop(columns="task_id").to_dict("records"),
        "planted_auroc": {t: next(r["auroc"] for r in rows if r["label"] == "all")
                          for t, rows in planted.items() if rows},
        "planted": planted,
        "planted_window": planted_window(cat, pool, scores),
        "bars": check_bars(summary, mult, planted, methods),
        "timings": timings,
    }  # fmt: skip
    timings["total_s"] = time.monotonic() - t0
    write_reports(report, summary, mult_df, Path(args.out))

    print(Path(args.out).with_suffix(".md").read_text())
    return report


def write_reports(report: dict, summary: pd.DataFrame, mult_df: pd.DataFrame, out: Path) -> None:
    """JSON at `out`, markdown and plotly HTML beside it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=_json_default))
    out.with_suffix(".md").write_text(markdown(report, summary, mult_df))
    html(summary, out.with_suffix(".html"))
    log(f"wrote {out}, {out.with_suffix('.md')}, {out.with_suffix('.html')}")


def _maybe_scores(cat: Catalog, target: str, pool: str) -> str | None:
    try:
        return stages.latest_scores_run(cat, target, pool)
    except NotFoundError:
        return None


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer | np.bool_):
        return o.item()
    if isinstance(o, np.floating):
        return None if math.isnan(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


if __name__ == "__main__":
    try:
        main()
    except DsdmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
