"""The frozen, validated configs of the engine stages, and the hash that names their runs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from data_catalog.errors import InputError


def config_hash(obj: Any) -> str:
    """sha256 of the sorted JSON form: names a run and its artifact folder."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class ProxyConfig:
    """M proxies, each trained from scratch on its own seeded α-subset of the pool's chunks."""

    n_models: int = 4
    preset: str = "small"
    vocab_size: int = 4096
    seq_len: int = 128
    alpha: float = 0.5
    token_budget: int | None = None
    batch_size: int = 16
    lr: float = 3e-3
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.n_models < 1:
            raise InputError(f"n_models must be at least 1, not {self.n_models}")
        from dsdm_engine.compute.models import PRESETS

        if self.preset not in PRESETS:
            raise InputError(f"unknown preset {self.preset!r}; known: {', '.join(PRESETS)}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise InputError(f"unknown device {self.device!r}; known: auto, cpu, cuda")


@dataclass(frozen=True)
class FeatureConfig:
    """How pool documents are featurised (per proxy)."""

    method: str = "fast"
    k: int = 16384  # scoring.DEFAULT_K: seed-to-seed stability needs a large k (README)
    proj_seed: int = 0
    output: str = "margin"
    batch_size: int = 16
    shard_size: int = 1024
    device: str = "auto"
