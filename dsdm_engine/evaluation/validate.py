"""`validate(...)`: one validation run end to end, stored in the catalog.

It trains (or resumes) the subset models of `validate.py`, scores every predictor on them
(`lds_report.py`) and stores the table in DuckDB (`lds_results`, under a `runs` row of kind
"validation") and as Parquet/JSON in the run's folder under `artifacts/lds/`.

Predictors, all oriented "higher = predicted to help the target":
- every finished DsDm scores run of the pool for the task (per-example LDS included);
- the similarity baselines used as predictors: embedding similarity to the target centroid,
  DSIR log importance ratio and the classifier's probability (each summed over the subset);
- a trivial confound: the document's token count (its sum is the subset's token count).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data_catalog.catalog import Catalog
from data_catalog.errors import InputError, NotFoundError
from dsdm_engine.evaluation.lds import Predictor, lds_table, noise_floor
from dsdm_engine.evaluation.subsets import ValidateConfig, train_subset_models
from dsdm_engine.progress import ProgressCallback, no_progress

SIMILARITY = ("embedding", "dsir", "classifier", "bm25")


def _latest_done(catalog: Catalog, kind: str, **match: str) -> pd.DataFrame:
    runs = catalog.list_runs(kind)
    runs = runs[runs["status"] == "done"]
    for col, value in match.items():
        runs = runs[runs[col] == value]
    return runs


def per_example_scores(catalog: Catalog, scores_run_id: str) -> np.ndarray:
    """(n_docs, n_selection_examples) scores of a stored run, normalised as the run was."""
    from dsdm_engine.compute.scoring import example_scores
    from dsdm_engine.stages import feature_norms, pool_models, target_features
    from dsdm_engine.stages.scores import query_damping_of

    cfg = catalog.get_run(scores_run_id)["config"]
    models = pool_models(catalog, cfg["features_run_id"], float(cfg["lambda_rel"]))
    targets, _ = target_features(
        catalog, cfg["features_run_id"], cfg["task_id"], query_damping=query_damping_of(cfg)
    )
    ex = example_scores(models, targets)
    if cfg.get("normalize", "none") == "cosine":
        ex = ex / np.maximum(feature_norms(models), 1e-12)[:, None]
    return ex


def dsdm_predictors(catalog: Catalog, pool_id: str, task_id: str) -> list[Predictor]:
    """Every finished scores run of `task_id` on the pool, named by its scoring settings and the
    proxies behind it (an imported model by its folder), so several runs can be told apart."""
    out = []
    for run_id in _latest_done(catalog, "scores", pool_id=pool_id, task_id=task_id)["run_id"]:
        cfg = catalog.get_run(run_id)["config"]
        scores = catalog.scores(run_id, task_id)["score"].to_numpy()
        if cfg.get("scorer") == "ekfac":  # no stored features: no per-example scores
            name = (f"dsdm EK-FAC d={cfg['damping']:g}, "
                    f"{_proxies_label(catalog, cfg['proxies_run_id'])} ({run_id})")  # fmt: skip
            out.append(Predictor(name, task_id, scores, None))
            continue
        query = (f" K-FAC query d={cfg['query_damping']:g}"
                 if cfg.get("query_precondition", "none") != "none" else "")  # fmt: skip
        proxies = catalog.get_run(cfg["features_run_id"])["config"]["proxies_run_id"]
        name = (f"dsdm λ={cfg['lambda_rel']} {cfg.get('normalize', 'none')}{query}, "
                f"{_proxies_label(catalog, proxies)} ({run_id})")  # fmt: skip
        out.append(Predictor(name, task_id, scores, per_example_scores(catalog, run_id)))
    return out


def _proxies_label(catalog: Catalog, proxies: str) -> str:
    """ "4 tiny proxies-…" or "imported llama my-model" for a proxies run."""
    cfg = catalog.get_run(proxies)["config"]
    if "imported" in cfg:
        info = cfg["imported"]
        return f"imported {info.get('model_type', 'model')} {Path(info['path']).name}"
    return f"{cfg.get('n_models', '?')} {cfg.get('preset', '?')} {proxies}"


def similarity_predictors(
    catalog: Catalog, pool_id: str, task_id: str, seed: int = 0
) -> list[Predictor]:
    """Embedding, DSIR and classifier scores of the pool for the task's selection split."""
    from dsdm_engine.selectors import get_selector
    from dsdm_engine.stages import pool_view

    view = pool_view(catalog, pool_id)
    target = [e.prompt + e.completion for e in catalog.target_examples(task_id, "selection")]
    out = []
    for method in SIMILARITY:
        options: dict[str, Any] = {}
        if method == "embedding":
            options["cache_path"] = str(catalog.layout.embeddings_path(pool_id))
        scored = get_selector(method, **options).score(view, target, seed)
        out.append(Predictor(method, task_id, np.asarray(scored.scores), None, "similarity"))
    tokens = view.n_tokens.astype(np.float64)
    out.append(Predictor("token count", task_id, tokens, None, "trivial"))
    return out


def validate(
    catalog: Catalog,
    pool_id: str,
    task_refs: Sequence[str] | None = None,
    config: ValidateConfig | None = None,
    progress: ProgressCallback = no_progress,
    similarity: bool = True,
    proxies_run_id: str | None = None,
    executor: str = "local",
    ray_address: str | None = None,
) -> str:
    """LDS of every predictor for the pool's target tasks; returns the validation run id.

    The subset models follow `proxies_run_id`'s recipe (default: the pool's latest proxies);
    `executor="ray"` trains them as Ray tasks."""
    from dsdm_engine.compute.models import resolve_device

    config = config or ValidateConfig()
    resolve_device(config.device)  # `--device cuda` without a GPU: refused before any run exists
    proxies = _latest_done(catalog, "proxies", pool_id=pool_id)
    if proxies.empty:
        raise NotFoundError(f"pool {pool_id!r} has no trained proxies: run `dsdm proxy train`")
    if proxies_run_id is None:
        proxies_run_id = str(proxies["run_id"].iloc[-1])
    elif proxies_run_id not in set(proxies["run_id"]):
        raise InputError(f"--proxies {proxies_run_id} is not a finished proxies run of {pool_id!r}")
    if task_refs:
        tasks = [catalog.get_target_task(t)["task_id"] for t in task_refs]
    else:
        tasks = sorted(set(_latest_done(catalog, "scores", pool_id=pool_id)["task_id"]))
    if not tasks:
        raise InputError(f"no target task has DsDm scores on pool {pool_id!r}: run `dsdm score`")
    frozen = {"pool_id": pool_id, "proxies_run_id": proxies_run_id, "tasks": tasks}
    frozen["validate"] = {**config.stored(), "device": config.device}
    h = hashlib.sha256(json.dumps(frozen, sort_keys=True).encode()).hexdigest()
    run_id = catalog.create_run("validation", frozen, h, pool_id=pool_id, run_id=f"lds-{h[:12]}")
    try:
        outcomes = train_subset_models(
            catalog, proxies_run_id, tasks, config, progress, executor, ray_address
        )
        predictors: list[Predictor] = []
        for task_id in tasks:
            predictors += dsdm_predictors(catalog, pool_id, task_id)
            if similarity:
                predictors += similarity_predictors(catalog, pool_id, task_id, config.seed)
        table = lds_table(outcomes.masks, outcomes.outcomes, predictors, seed=config.seed)
        noise = noise_floor(outcomes.outcomes, outcomes.noise, outcomes.replicates)
        catalog.save_lds_results(run_id, table)
        table.to_parquet(outcomes.root / f"{run_id}.parquet", index=False)
        (outcomes.root / f"{run_id}.noise.json").write_text(noise.to_json(orient="records"))
        catalog.set_run_artifact(run_id, str(outcomes.root))
    except BaseException:
        catalog.set_run_status(run_id, "failed")
        raise
    catalog.set_run_status(run_id, "done")
    return run_id
