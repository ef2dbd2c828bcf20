"""Stage 4: run one selector on a pool (and target), honour the pool's exclusion list, store it."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np

from data_catalog.catalog import Catalog
from data_catalog.errors import InputError
from dsdm_engine.stages.scores import latest_scores_run


def pool_view(catalog: Catalog, pool_id: str, texts: bool = True) -> Any:
    """The pool as selectors see it (ids, texts, sources, token counts) in pool order;
    `texts=False` leaves the texts empty (enough for checking a rule, and much cheaper)."""
    from dsdm_engine.selectors import PoolView

    if not texts:  # one query: 1M documents' ids, sources and counts are ~100 MB
        cols = catalog.pool_columns(pool_id)
        return PoolView(cols["doc_id"], [""] * len(cols["doc_id"]), cols["source"],
                        cols["n_tokens"])  # fmt: skip
    ids, all_texts, sources, n_tokens = [], [], [], []
    for df in catalog.iter_documents(pool_id, columns="doc_id, source, n_words, n_tokens, text"):
        ids += list(df["doc_id"])
        all_texts += list(df["text"])
        sources += list(df["source"])
        tok = df["n_tokens"].fillna(df["n_words"]).astype("int64")
        n_tokens.append(tok.to_numpy())
    counts = np.concatenate(n_tokens) if n_tokens else np.zeros(0, np.int64)
    return PoolView(ids, all_texts, sources, counts)


def dsdm_mix_scores(
    catalog: Catalog, pool_id: str, weights: dict[str, float]
) -> tuple[np.ndarray, dict[str, Any]]:
    """Scores for a weighted multi-target mix: Σ w_t · z_t over each task's latest scores."""
    if not weights:
        raise InputError("dsdm needs at least one target task")
    total = np.zeros(0)
    used = {}
    for ref, w in weights.items():
        run_id = latest_scores_run(catalog, ref, pool_id)
        task_id = catalog.get_run(run_id)["task_id"]
        z = catalog.scores(run_id, task_id)["zscore"].to_numpy()
        total = z * w if total.size == 0 else total + z * w
        used[task_id] = {"weight": w, "scores_run_id": run_id}
    return total / sum(abs(w) for w in weights.values()), used


def selector_class(method: str) -> Any:
    """The selector class registered as `method` (an error naming the known ones)."""
    from dsdm_engine.selectors import SELECTORS, available_selectors

    if method not in SELECTORS:
        raise InputError(
            f"unknown selection method {method!r}; known: {', '.join(available_selectors())}"
        )
    return SELECTORS[method]


def check_selection(
    catalog: Catalog,
    method: str,
    pool_id: str,
    task_ref: str | None = None,
    rule: Any = None,
    mix: dict[str, float] | None = None,
    options: dict[str, Any] | None = None,
    view: Any = None,
) -> Any:
    """Every check that can fail before any scoring, cheapest first; returns the effective rule
    (the pool's exclusion list merged in). The app calls it before launching a selection job.
    `view`: the pool's `pool_view(texts=False)` when the caller has it already."""
    from dsdm_engine.selectors import SelectionRule, check_rule

    cls = selector_class(method)
    unknown = sorted(set(options or {}) - set(cls.user_options()))
    if unknown:
        known = ", ".join(cls.user_options()) or "none"
        raise InputError(f"--options: unknown option(s) {unknown} for {method}; it takes: {known}")
    catalog.get_pool(pool_id)  # NotFoundError naming the known pools
    task = catalog.get_target_task(task_ref) if task_ref else None
    if cls.needs_task and task is None and not mix:
        raise InputError(f"method {method!r} needs a target task (--target or --mix)")
    for ref in [task["task_id"]] if (method == "dsdm" and task and not mix) else list(mix or ()):
        latest_scores_run(catalog, ref, pool_id)  # NotFoundError: run `dsdm score` first
    rule = rule or SelectionRule(k=100)
    excluded = catalog.exclusions(pool_id)
    if excluded:
        rule = replace(rule, exclude=tuple(sorted(set(rule.exclude) | set(excluded))))
    try:
        check_rule(view if view is not None else pool_view(catalog, pool_id, texts=False), rule)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    return rule


def run_selection(
    catalog: Catalog,
    method: str,
    pool_id: str,
    *,
    task_ref: str | None = None,
    rule: Any = None,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    mix: dict[str, float] | None = None,
    name: str | None = None,
) -> str:
    """Run one selector on a pool (and target), honour the pool's exclusion list, store it.
    Selectors that do not read texts (DsDm, random) read the pool once, without its texts."""
    view = None if selector_class(method).needs_texts else pool_view(catalog, pool_id, texts=False)
    rule = check_selection(catalog, method, pool_id, task_ref, rule, mix, options, view=view)
    request = selection_request(catalog, method, task_ref, rule, seed, options, mix)
    same = _named_selection(catalog, pool_id, name, request)
    if same:
        return same
    sel = compute_selection(catalog, pool_id, request, rule, view=view)
    overrides = {"include": list(rule.include), "exclude": list(rule.exclude), "request": request}
    return catalog.save_selection(
        pool_id, sel, task_id=request["task_id"], name=name, overrides=overrides
    )


def selection_request(
    catalog: Catalog,
    method: str,
    task_ref: str | None,
    rule: Any,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    mix: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Everything that determines a selection besides its pool (stored with it; a recipe)."""
    task_id = catalog.get_target_task(task_ref)["task_id"] if task_ref else None
    return {
        "method": method, "task_id": task_id, "rule": rule.to_params(), "seed": int(seed),
        "options": dict(options or {}), "mix": dict(mix or {}),
    }  # fmt: skip


def compute_selection(
    catalog: Catalog,
    pool_id: str,
    request: dict[str, Any],
    rule: Any,
    texts: bool = True,
    view: Any = None,
) -> Any:
    """The `Selection` a checked request makes (nothing stored): what `run_selection` saves
    and what the Select page previews. An empty selection is an error naming the rule."""
    from dsdm_engine.selectors.base import CatalogInputs

    method, task_id, mix = request["method"], request["task_id"], request["mix"]
    pool = view if view is not None else pool_view(catalog, pool_id, texts=texts)
    examples = catalog.target_examples(task_id, "selection") if task_id else []
    target = [e.prompt + e.completion for e in examples]
    inputs = CatalogInputs(
        pool_id=pool_id,
        task_id=task_id,
        options=dict(request["options"]),
        embeddings_path=catalog.layout.embeddings_path(pool_id),
        mix_scores=lambda: dsdm_mix_scores(catalog, pool_id, mix or {task_id: 1.0}),
        pool_ids=pool.ids,
    )
    try:
        selector, extra = selector_class(method).from_catalog(inputs)
        sel = selector.select(pool, target, rule, seed=request["seed"])
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    if extra:
        sel = replace(sel, params={**sel.params, **extra})
    if not sel.ids:
        raise InputError(f"the selection is empty: {_why_empty(pool, rule)}; nothing was stored")
    return sel


def _named_selection(
    catalog: Catalog, pool_id: str, name: str | None, request: dict[str, Any]
) -> str | None:
    """The id of an identical selection already stored under `name` (reused), None if the name
    is free; a different selection under that name is an error (names are unique per pool)."""
    if name is None:
        return None
    if not name.strip() or name != name.strip() or "\x00" in name:
        raise InputError(f"--name must be a non-empty name without outer spaces, not {name!r}")
    rows = catalog.list_selections(pool_id)
    rows = rows[rows["name"] == name]
    if rows.empty:
        return None
    row = rows.iloc[-1]
    stored = json.loads(row["overrides"]).get("request")
    if stored == json.loads(json.dumps(request)):
        return str(row["selection_id"])
    raise InputError(
        f"pool {pool_id!r} already has a selection named {name!r} ({row['selection_id']}) made "
        "with other settings; choose another --name"
    )


def _why_empty(pool: Any, rule: Any) -> str:
    """Which rule left nothing to select, in the flags' words."""
    if rule.threshold is not None:
        return f"no document scores at least --threshold {rule.threshold}"
    if rule.token_budget is not None:
        shortest = int(np.min(pool.n_tokens)) if len(pool) else 0
        return (
            f"--token-budget {rule.token_budget} is below the shortest document ({shortest} tokens)"
        )
    if rule.exclude and len(rule.exclude) >= len(pool):
        return "every document of the pool is excluded"
    return "no document passes the source quotas"
