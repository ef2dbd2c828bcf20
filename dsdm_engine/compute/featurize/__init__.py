"""Gradient featurisers (fast factorised, exact reference, trak library) and sharded pool runs.

Public entry points: `FeatureConfig`, `make_featurizer`, `featurize_pool`, `featurize_targets`,
`load_pool_features`, `run_shard` (the unit a distributed executor calls).
"""

from dsdm_engine.compute.configs import FEATURIZERS, FeatureConfig
from dsdm_engine.compute.featurize.base import Batch, Featurizer
from dsdm_engine.compute.featurize.registry import make_featurizer
from dsdm_engine.compute.featurize.shards import (
    featurize_pool,
    featurize_targets,
    load_pool_features,
    run_shard,
)

__all__ = [
    "FEATURIZERS",
    "Batch",
    "FeatureConfig",
    "Featurizer",
    "featurize_pool",
    "featurize_targets",
    "load_pool_features",
    "make_featurizer",
    "run_shard",
]
