"""The paper's headline experiment at our scale: select for a mix of targets, measure on tasks the
selection never saw (issue 17, item 7).

On the demo workspace (pool ``demo``):

1. every built-in unseen task (ARC, BoolQ, HellaSwag, OpenBookQA, CommonsenseQA, PIQA, SciQ,
   Social IQa, WinoGrande, NQ open, TriviaQA; `--max-examples` each) is added as a target task,
   never used by any selection;
2. selections at the largest budget: **DsDm** for the mix squad + jeopardy + lambada (equal
   weights on the z-scored scores, `dsdm select --mix`); **BM25** and **embedding** similarity
   aimed at the same mix (a target holding the three targets' selection examples, equal
   numbers of each); **DSIR** and the **classifier** aimed at "high-quality" text, Wikipedia
   leads from the ``wiki_leads`` source, as the paper's similarity baselines are; **random**;
3. fresh models (`EvalRecipe`, the proxies' shape) on each selection's rank-order prefix at 3
   budgets × `--seeds`, random also at 2× and 4× the largest budget, each evaluated on every
   unseen task's held-out split;
4. the compute multiplier against random per task (geometric mean over budgets), then the
   geometric mean over the unseen tasks per method.

Writes JSON (`--out`: ``unseen_tasks``, ``compute_multiplier`` method → geometric mean, per-task
tables) and prints a table. Everything resumes (selections by name, evaluations by key).

    python bench/unseen_tasks.py --workspace dsdm_workspace --out bench/out/unseen_tasks.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from selection_quality import default_budgets, pool_tokens  # noqa: E402
from validate import log, printer  # noqa: E402

from data_catalog.catalog import Catalog  # noqa: E402
from data_catalog.errors import NotFoundError  # noqa: E402
from data_catalog.sources import get_source  # noqa: E402
from data_catalog.sources.builtin_targets import (  # noqa: E402
    UNSEEN_TARGETS,
    builtin_target_examples,
)
from data_catalog.sources.cache import cache_dir  # noqa: E402
from data_catalog.targets import add_target_task  # noqa: E402
from dsdm_engine import stages  # noqa: E402
from dsdm_engine.evaluation import harness as ev  # noqa: E402
from dsdm_engine.selectors import SelectionRule  # noqa: E402

POOL = "demo"
MIX = ("squad", "jeopardy", "lambada")
AIMED_AT_MIX = ("bm25", "embedding")
AIMED_AT_QUALITY = ("dsir", "classifier")
QUALITY = "wiki_hq"


def add_targets(cat: Catalog, max_examples: int, fixtures: Path | None) -> list[str]:
    """The unseen tasks, the mix target and the "high-quality" target; returns unseen names."""
    names = []
    known = set(cat.list_target_tasks()["name"])
    for name in UNSEEN_TARGETS:
        if name not in known:
            recs = builtin_target_examples(name, max_examples=max_examples, fixtures_dir=fixtures)
            add_target_task(cat, name, [(r["prompt"], r["completion"]) for r in recs],
                            origin=f"builtin:{name}")  # fmt: skip
        names.append(name)
    if "mix3" not in known:
        sel = {t: cat.target_examples(cat.get_target_task(t)["task_id"], "selection") for t in MIX}
        per = min(len(v) for v in sel.values())
        ex = [(e.prompt, e.completion) for t in MIX for e in sel[t][:per]]
        add_target_task(cat, "mix3", ex, origin="bench:" + "+".join(MIX), heldout_fraction=0.1)
    if QUALITY not in known:
        leads = []
        src = get_source("wiki_leads")
        fixture = src.fixture_path(fixtures) if fixtures else None
        for rec in src.parse(fixture) if fixture else src.iter_records(cache_dir()):
            first, _, rest = rec["text"].partition(". ")
            if rest:
                leads.append((first + ".", " " + rest))
            if len(leads) >= 500:
                break
        add_target_task(cat, QUALITY, leads, origin="source:wiki_leads", heldout_fraction=0.1)
    return names


def selection(cat: Catalog, method: str, budget: int, **kw) -> str:
    """One selection holding at least `budget` tokens, reused by name."""
    aim = kw.get("task_ref") or ("mix" if kw.get("mix") else "any")
    name = f"unseen-{method}-{aim}-t{budget}"
    try:
        return cat.get_selection(name)["selection_id"]
    except NotFoundError:
        pass
    rule = SelectionRule(token_budget=int(budget * 1.05) + 2048)
    return stages.run_selection(cat, method, POOL, rule=rule, seed=0, name=name, **kw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--workspace", default=str(ROOT / "dsdm_workspace"))
    ap.add_argument("--max-examples", type=int, default=400, help="examples per unseen task")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--budgets", nargs="+", type=int, help="default: selection_quality's")
    ap.add_argument("--fixtures", type=Path, help="committed excerpts only (tests)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    t0 = time.monotonic()
    cat = Catalog.open(args.workspace)
    unseen = add_targets(cat, args.max_examples, args.fixtures)
    recipe = ev.EvalRecipe(batch_size=8, max_heldout=256).resolve(cat, POOL)
    n_tok = pool_tokens(cat, POOL, recipe)
    budgets = sorted(args.budgets or default_budgets(n_tok, int(recipe.seq_len), False, False))
    random_budgets = sorted({*budgets, 2 * budgets[-1], 4 * budgets[-1]})
    random_budgets = [b for b in random_budgets if b * 1.05 + 2048 <= n_tok]
    top = budgets[-1]
    for t in MIX:
        stages.latest_scores_run(cat, t, POOL)  # DsDm scores must exist (the demo makes them)
    sels = {
        "random": selection(cat, "random", random_budgets[-1]),
        "dsdm": selection(cat, "dsdm", top, mix={t: 1.0 for t in MIX}),
    }
    sels.update({m: selection(cat, m, top, task_ref="mix3") for m in AIMED_AT_MIX})
    sels.update({m: selection(cat, m, top, task_ref=QUALITY) for m in AIMED_AT_QUALITY})
    log(f"pool {n_tok:,} tokens; budgets {budgets}, random {random_budgets}; {len(unseen)} tasks")
    seeds = list(range(args.seeds))
    frames = []
    for method, sid in sels.items():
        bs = random_budgets if method == "random" else budgets
        log(f"evaluating {method} at {bs}")
        frames.append(ev.evaluate_selections(cat, [sid], unseen, bs, seeds, recipe,
                                             printer(f"  {method}")))  # fmt: skip
    df = pd.concat(frames, ignore_index=True)
    name = {cat.get_target_task(t)["task_id"]: t for t in unseen}
    df["task"] = df["task_id"].map(name)
    summary = ev.summarise(df)
    mult = ev.compute_multipliers(summary)
    mult = mult[mult["budget_tokens"].isin(budgets)]
    per_task = ev.headline_multipliers(mult)  # task_id -> method -> geometric mean over budgets
    methods = [m for m in sels if m != "random"]
    geo = {}
    for m in methods:
        vals = np.array([per_task[t].get(m, math.nan) for t in per_task], dtype=float)
        vals = vals[np.isfinite(vals) & (vals > 0)]
        geo[m] = float(np.exp(np.log(vals).mean())) if vals.size else math.nan
    loss = summary.assign(task=summary["task_id"].map(name))
    report = {
        "unseen_tasks": unseen,
        "compute_multiplier": geo,
        "compute_multiplier_by_task": {name[t]: v for t, v in per_task.items()},
        "aims": {
            "dsdm": "mix " + "+".join(MIX),
            **{m: "mix3" for m in AIMED_AT_MIX},
            **{m: QUALITY for m in AIMED_AT_QUALITY},
        },  # fmt: skip
        "budgets": budgets,
        "random_budgets": random_budgets,
        "seeds": seeds,
        "recipe": recipe.to_dict(),
        "selections": sels,
        "loss": loss.drop(columns="task_id").to_dict("records"),
        "multiplier_by_budget": mult.assign(task=mult["task_id"].map(name))
        .drop(columns="task_id")
        .to_dict("records"),
        "seconds": time.monotonic() - t0,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    view = pd.DataFrame({name[t]: v for t, v in per_task.items()}).T
    view.loc["geometric mean"] = pd.Series(geo)
    with pd.option_context("display.width", 200):
        print(view[methods].round(2).to_string())
    log(f"wrote {args.out} in {report['seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
