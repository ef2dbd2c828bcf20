"""The frozen, validated configs of the engine stages, and the hash that names their runs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from data_catalog.errors import InputError
from dsdm_engine.compute.configs import FeatureConfig, TrainConfig


def config_hash(obj: Any) -> str:
    """sha256 of the sorted JSON form: names a run and its artifact folder."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class ProxyConfig:
    """M proxies, each trained from scratch on its own seeded α-subset of the pool's chunks with
    the recipe `train` (proxy m uses seed `train.seed + m`)."""

    n_models: int = field(default=4, metadata={"flag": "--models", "help": "number of proxies M"})
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.n_models < 1:
            raise InputError(f"--models must be at least 1, not {self.n_models}")

    @classmethod
    def make(cls, n_models: int = 4, **train: Any) -> ProxyConfig:
        """`ProxyConfig.make(2, preset="tiny", seq_len=64)`: the recipe given by its fields."""
        return cls(n_models, TrainConfig(**train))

    def frozen(self) -> dict[str, Any]:
        """The flat form stored with the run (and hashed into its id)."""
        return {"n_models": self.n_models, **self.train.as_dict()}

    def with_train(self, **changes: Any) -> ProxyConfig:
        """The same proxies with some recipe fields changed (e.g. seed, device)."""
        return replace(self, train=replace(self.train, **changes))

    def for_proxy(self, m: int) -> TrainConfig:
        return replace(self.train, seed=self.train.seed + m)

    @property
    def n_members(self) -> int:
        """Ensemble members: every checkpoint of every proxy."""
        return self.n_models * self.train.checkpoints


def n_members(frozen: dict[str, Any]) -> int:
    """Ensemble members of a stored proxies run (runs made before checkpoints have one each)."""
    return int(frozen["n_models"]) * int(frozen.get("checkpoints", 1))


__all__ = ["FeatureConfig", "ProxyConfig", "TrainConfig", "config_hash"]
