"""Stage 3: datamodel scores of every pool document for a target task (seconds per task once
the pool is featurised), stored in the catalog; the per-example drill-down on demand.

Sign: positive = predicted to lower the target loss (method.md §2)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from data_catalog import atomic
from data_catalog.catalog import Catalog
from data_catalog.errors import InputError, NotFoundError
from data_catalog.ranks import percentiles, zscores
from dsdm_engine.compute.configs import ScoreConfig
from dsdm_engine.compute.scoring import BLOCK_ROWS
from dsdm_engine.progress import ProgressCallback, no_progress
from dsdm_engine.stages.features import target_features


def pool_models(catalog: Catalog, features_run_id: str, lambda_rel: float) -> list[Any]:
    """Per ensemble member (Φ, Q, A); A = (ΦᵀΦ + λI)⁻¹ is cached next to the features per λ."""
    from dsdm_engine.stages.config import n_members

    proxies_run_id = catalog.run(features_run_id).config["proxies_run_id"]
    n = n_members(catalog.run(proxies_run_id).config)
    return [pool_model(catalog, features_run_id, m, lambda_rel) for m in range(n)]


def pool_model(catalog: Catalog, features_run_id: str, m: int, lambda_rel: float) -> Any:
    """Ensemble member m's (Φ, Q, A), A cached per λ (one member at a time bounds memory)."""
    from dsdm_engine.compute.featurize.shards import load_pool_features
    from dsdm_engine.compute.scoring import PoolModel, fit_pool_model

    phi, q = load_pool_features(catalog.layout.model_dir(features_run_id, m))
    if math.isinf(lambda_rel):  # the dot-product limit needs no k × k matrix
        return fit_pool_model(phi, q, lambda_rel=math.inf)
    a_path = catalog.layout.a_matrix_path(features_run_id, m, lambda_rel)
    meta_path = a_path.with_suffix(".json")
    if a_path.exists() and meta_path.exists():
        lam = json.loads(meta_path.read_text())["lambda_reg"]
        return PoolModel(phi, np.asarray(q, np.float64), np.load(a_path), lam)
    pm = fit_pool_model(phi, q, lambda_rel=lambda_rel)
    save_preconditioner(catalog, features_run_id, m, lambda_rel, pm.a, pm.lambda_reg)
    return pm


def save_preconditioner(
    catalog: Catalog, features_run_id: str, m: int, lambda_rel: float, a: Any, lambda_reg: float
) -> None:
    """Cache member m's A = (ΦᵀΦ + λI)⁻¹ (and its λ) where `pool_model` looks for it."""
    a_path = catalog.layout.a_matrix_path(features_run_id, m, lambda_rel)
    atomic.write_npy(a_path, a)
    atomic.write_json(a_path.with_suffix(".json"), {"lambda_reg": lambda_reg})


def score_task(
    catalog: Catalog,
    features_run_id: str,
    task_ref: str,
    lambda_rel: float = ScoreConfig.lambda_rel,
    progress: ProgressCallback = no_progress,
    normalize: str = ScoreConfig.normalize,
    query_precondition: str = ScoreConfig.query_precondition,
    query_damping: float = ScoreConfig.query_damping,
) -> str:
    """Datamodel score of every pool document for a target task; stored in the catalog.

    Sign: positive = predicted to lower the target loss. Returns the scores run id.
    Defaults (`ScoreConfig`) were chosen by held-out LDS: λ = 10·tr(ΦᵀΦ)/k, raw TRAK scores.
    ``normalize="cosine"`` divides each document's score by its mean feature norm (as LESS
    does); it made the seeds agree but the scores predict nothing on the demo.
    """
    ScoreConfig(lambda_rel, normalize, query_precondition, query_damping)  # names a bad flag
    from dsdm_engine.compute.scoring import task_scores

    task = catalog.get_target_task(task_ref)
    frun = catalog.get_run(features_run_id)
    if frun["status"] != "done":
        raise InputError(f"featurisation {features_run_id} has not finished; rerun `featurize`")
    frozen = {
        "features_run_id": features_run_id,
        "task_id": task["task_id"],
        "lambda_rel": str(lambda_rel),  # "inf" = the dot-product limit (JSON has no Infinity)
        "normalize": normalize,
    }
    if query_precondition != "none":  # (left out otherwise: earlier runs keep their ids)
        frozen.update(query_precondition=query_precondition, query_damping=query_damping)
    pool_id = frun["pool_id"]
    with catalog.begin_run(
        "scores", frozen, pool_id=pool_id, task_id=task["task_id"], with_dir=False
    ) as run:
        progress(0, 3, "featurising target examples")
        targets, _ = target_features(catalog, features_run_id, task["task_id"],
                                     query_damping=query_damping_of(frozen))  # fmt: skip
        progress(1, 3, "scoring")
        models = pool_models(catalog, features_run_id, lambda_rel)
        scores = task_scores(models, targets)
        if normalize == "cosine":
            scores = scores / np.maximum(feature_norms(models), 1e-12)
        progress(2, 3, "storing scores")
        catalog.save_scores(
            run.run_id,
            task["task_id"],
            pool_id,
            catalog.doc_ids(pool_id),
            scores,
            zscores=zscores(scores),
            percentiles=percentiles(scores),
        )
        progress(3, 3, "done")
    return run.run_id


def query_damping_of(cfg: dict) -> float | None:
    """A scores run's query-side K-FAC damping (None: the target side is not preconditioned)."""
    if cfg.get("query_precondition", "none") == "none":
        return None
    return float(cfg["query_damping"])


def feature_norms(models: list[Any]) -> np.ndarray:
    """Mean over proxies of each document's feature norm ‖φ_m(z)‖, streamed in row blocks."""
    n = models[0].phi.shape[0]
    out = np.zeros(n)
    for pm in models:
        for s in range(0, n, BLOCK_ROWS):
            out[s : s + BLOCK_ROWS] += np.linalg.norm(
                np.asarray(pm.phi[s : s + BLOCK_ROWS]), axis=1
            )
    return out / len(models)


def latest_scores_run(catalog: Catalog, task_ref: str, pool_id: str | None = None) -> str:
    """The newest finished scores run for a task (optionally on one pool)."""
    task = catalog.get_target_task(task_ref)
    runs = catalog.list_runs("scores")
    runs = runs[(runs["task_id"] == task["task_id"]) & (runs["status"] == "done")]
    if pool_id is not None:
        runs = runs[runs["pool_id"] == pool_id]
    if runs.empty:
        raise NotFoundError(
            f"no DsDm scores for target {task['task_id']} yet: run `dsdm score` first"
        )
    return str(runs.iloc[-1]["run_id"])


def example_drilldown(
    catalog: Catalog, scores_run_id: str, doc_id: str, top: int = 5
) -> dict[str, list[dict[str, Any]]]:
    """The target examples a document helps and hurts most (per-example scores, on demand)."""
    from dsdm_engine.compute.scoring import example_scores

    run = catalog.get_run(scores_run_id)
    cfg = run["config"]
    ids = catalog.doc_ids(run["pool_id"])
    try:
        row = ids.index(doc_id)
    except ValueError as exc:
        raise NotFoundError(f"document {doc_id} is not in pool {run['pool_id']}") from exc
    models = pool_models(catalog, cfg["features_run_id"], float(cfg["lambda_rel"]))
    targets, examples = target_features(
        catalog, cfg["features_run_id"], cfg["task_id"], query_damping=query_damping_of(cfg)
    )
    one = [
        type(pm)(pm.phi[row : row + 1], pm.q[row : row + 1], pm.a, pm.lambda_reg) for pm in models
    ]
    per_example = example_scores(one, targets)[0]  # (n_examples,)
    order = np.argsort(-per_example, kind="stable")

    def rows(idx: np.ndarray) -> list[dict[str, Any]]:
        return [
            {
                "example_id": examples[i].example_id,
                "prompt": examples[i].prompt,
                "completion": examples[i].completion,
                "score": float(per_example[i]),
            }
            for i in idx
        ]

    return {"helps": rows(order[:top]), "hurts": rows(order[::-1][:top])}
