"""Stage 4: run one selector on a pool (and target), honour the pool's exclusion list, store it."""

from __future__ import annotations

from typing import Any

import numpy as np

from data_catalog.catalog import Catalog
from data_catalog.errors import InputError
from dsdm_engine.stages.scores import latest_scores_run


def pool_view(catalog: Catalog, pool_id: str) -> Any:
    """The pool as selectors see it (ids, texts, sources, token counts) in pool order."""
    from dsdm_engine.selectors import PoolView

    ids, texts, sources, n_tokens = [], [], [], []
    for df in catalog.iter_documents(pool_id, columns="doc_id, text, source, n_words, n_tokens"):
        ids += list(df["doc_id"])
        texts += list(df["text"])
        sources += list(df["source"])
        tok = df["n_tokens"].fillna(df["n_words"]).astype("int64")
        n_tokens.append(tok.to_numpy())
    counts = np.concatenate(n_tokens) if n_tokens else np.zeros(0, np.int64)
    return PoolView(ids, texts, sources, counts)


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
    """Run one selector on a pool (and target), honour the pool's exclusion list, store it."""
    from dsdm_engine.selectors import SelectionRule, available_selectors, get_selector

    if method not in available_selectors():
        raise InputError(
            f"unknown selection method {method!r}; known: {', '.join(available_selectors())}"
        )
    rule = rule or SelectionRule(k=100)
    options = dict(options or {})
    pool = pool_view(catalog, pool_id)
    excluded = catalog.exclusions(pool_id)
    if excluded:
        from dataclasses import replace

        rule = replace(rule, exclude=tuple(sorted(set(rule.exclude) | set(excluded))))
    task = catalog.get_target_task(task_ref) if task_ref else None
    target: list[str] = []
    if task is not None:
        target = [
            e.prompt + e.completion for e in catalog.target_examples(task["task_id"], "selection")
        ]
    extra: dict[str, Any] = {}
    if method == "dsdm":
        weights = mix or ({task["task_id"]: 1.0} if task else {})
        scores, extra = dsdm_mix_scores(catalog, pool_id, weights)
        options["scores"] = scores
        options["score_ids"] = pool.ids
    elif method in ("embedding", "semdedup") and "cache_path" not in options:
        options["cache_path"] = str(
            catalog.workspace.artifacts / "embeddings" / f"{pool_id}-minilm.npy"
        )
    try:
        selector = get_selector(method, **options)
        sel = selector.select(pool, target, rule, seed=seed)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    if extra:
        from dataclasses import replace

        sel = replace(sel, params={**sel.params, "targets": extra})
    overrides = {"include": list(rule.include), "exclude": list(rule.exclude)}
    return catalog.save_selection(
        pool_id, sel, task_id=task["task_id"] if task else None, name=name, overrides=overrides
    )
