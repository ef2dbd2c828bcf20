"""The engine's stages wired to the catalog: tokens → proxies → features → scores → selections.

Each stage reads its inputs through the `Catalog`, computes with `dsdm_engine.compute`, writes
large arrays under `artifacts/` first and registers them in the catalog after. Every stage is
resumable: completed models and shards are found by their markers and skipped, so a rerun
after a kill continues where it stopped. This package is the engine's Python API.
"""

from dsdm_engine.compute.configs import FeatureConfig, TrainConfig
from dsdm_engine.stages.config import ProxyConfig, config_hash
from dsdm_engine.stages.features import featurize, target_features
from dsdm_engine.stages.proxies import ensemble_dirs, model_dirs, train_proxies
from dsdm_engine.stages.scores import (
    example_drilldown,
    feature_norms,
    latest_scores_run,
    pool_model,
    pool_models,
    score_task,
)
from dsdm_engine.stages.selection import (
    check_selection,
    dsdm_mix_scores,
    pool_view,
    run_selection,
)
from dsdm_engine.stages.tokens import TokenData, prepare_tokens

__all__ = [
    "FeatureConfig",
    "ProxyConfig",
    "TokenData",
    "TrainConfig",
    "check_selection",
    "config_hash",
    "dsdm_mix_scores",
    "example_drilldown",
    "feature_norms",
    "featurize",
    "latest_scores_run",
    "ensemble_dirs",
    "model_dirs",
    "pool_model",
    "pool_models",
    "pool_view",
    "prepare_tokens",
    "run_selection",
    "score_task",
    "target_features",
    "train_proxies",
]
