"""`make_featurizer`: the name → featuriser registry (its own module, so the interface in
`base.py` and its implementations do not import each other)."""

from __future__ import annotations

import torch

from dsdm_engine.compute.configs import FEATURIZERS, FeatureConfig
from dsdm_engine.compute.featurize.base import Featurizer


def make_featurizer(
    model: torch.nn.Module, config: FeatureConfig, whiten: list | None = None
) -> Featurizer:
    """Registry: build the featuriser `config.method` names for this model (on its device).

    `whiten`: per-layer K-FAC (A^{-1/2}, S^{-1/2}) folded into the projection (`kfac.py`)."""
    kw = {"k": config.proj_dim, "seed": config.proj_seed, "output": config.output,
          "layers": config.layers}  # fmt: skip
    if config.method == "fast":
        from dsdm_engine.compute.featurize.fast import FastFeaturizer

        return FastFeaturizer(model, whiten=whiten, **kw)
    if config.method == "exact":
        from dsdm_engine.compute.featurize.exact import ExactFeaturizer

        return ExactFeaturizer(model, whiten=whiten, **kw)
    if whiten is not None or config.layers != "all":
        raise ValueError("--precondition and --layers need the fast or exact featuriser")
    if config.method == "trak":
        from dsdm_engine.compute.featurize.trak_path import TrakFeaturizer

        return TrakFeaturizer(model, k=config.proj_dim, seed=config.proj_seed, output=config.output)
    raise ValueError(f"unknown featuriser {config.method!r}; known: {', '.join(FEATURIZERS)}")
