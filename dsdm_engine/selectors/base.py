"""The selector interface: a pool view in, a ranked `Selection` out.

Every selection method (DsDm and the baselines) is a `Selector` with one hook, `score`, that
returns one number per pool document (higher = better for the target) plus an optional
eligibility mask. The shared selection rules (top-k, Gumbel top-k, threshold, token budget,
per-source quotas, include/exclude lists) live in `rules.py` and are applied here, so every
method honours them the same way. Selection returns ids; text is materialised only at export.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from data_catalog.records import Selection
from dsdm_engine.selectors.pool_view import PoolView
from dsdm_engine.selectors.rules import SelectionRule, check_rule, rank

__all__ = [
    "CatalogInputs",
    "PoolView",
    "Scored",
    "Selector",
    "check_seed",
    "check_target",
    "rng_for",
]


# Constructor parameters filled in by the engine, never by `--options`.
_NOT_OPTIONS = {"self", "embed_fn", "cache_path", "scores", "score_ids", "args", "kwargs"}


@dataclass(frozen=True)
class CatalogInputs:
    """What a selector may take from the catalog, gathered by the selection stage.

    `options`: the user's constructor options; `embeddings_path`: the pool's MiniLM cache;
    `mix_scores()`: the z-scored DsDm scores of the target (or mix), computed only if called.
    """

    pool_id: str
    task_id: str | None
    options: dict[str, Any]
    embeddings_path: Path
    mix_scores: Callable[[], tuple[np.ndarray, dict[str, Any]]]
    pool_ids: Sequence[str]


@dataclass(frozen=True)
class Scored:
    """What a selector's `score` hook returns.

    `scores`: one float per pool row, higher = better (NaN is not allowed).
    `eligible`: optional mask; rows marked False are never selected unless force-included
    (SemDeDup uses it for the near-duplicates it drops).
    `info`: JSON-friendly diagnostics stored in the selection's params.
    """

    scores: np.ndarray
    eligible: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


def check_seed(seed: int) -> int:
    """Seeds are non-negative Python ints (numpy SeedSequence requirement); return it."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def rng_for(seed: int, purpose: str) -> np.random.Generator:
    """An independent, reproducible random stream per (seed, purpose)."""
    return np.random.default_rng([check_seed(seed), zlib.crc32(purpose.encode())])


def check_target(target: Sequence[str], method: str) -> list[str]:
    """Target examples as a list of non-empty strings, or a clear error."""
    if isinstance(target, str):
        raise ValueError(f"{method}: target must be a list of target texts, not one string")
    texts = list(target)
    if not texts:
        raise ValueError(f"{method}: the target task is empty; give at least one target example")
    if not all(isinstance(t, str) for t in texts):
        raise ValueError(f"{method}: target examples must be strings (prompt + completion)")
    if not any(t.strip() for t in texts):
        raise ValueError(f"{method}: every target example is blank")
    return texts


class Selector(ABC):
    """Base class: subclasses set `name` and implement `score`.

    `select(pool, target, rule, seed)` validates the rule against the pool first (cheap), then
    scores the pool and applies the rule. The returned `Selection.scores` are the method's own
    scores for the selected ids (not the Gumbel-perturbed ranking keys).
    """

    name: ClassVar[str]
    default_mode: ClassVar[str] = "top_k"
    needs_target: ClassVar[bool] = True  # `select` needs target texts
    needs_task: ClassVar[bool] = True  # the stage must be given a target task (or a mix)
    needs_texts: ClassVar[bool] = True  # reads the pool's texts (score-based ones do not)

    @classmethod
    def user_options(cls) -> tuple[str, ...]:
        """The `--options` keys this method takes: its constructor's settable parameters."""
        import inspect

        params = inspect.signature(cls.__init__).parameters
        return tuple(p for p in params if p not in _NOT_OPTIONS)

    @classmethod
    def from_catalog(cls, inputs: CatalogInputs) -> tuple[Selector, dict[str, Any]]:
        """Build the selector from what the stage gathered in the catalog; return it and any
        extra params to store with the selection. The one hook a new selector may override."""
        return cls(**inputs.options), {}

    @abstractmethod
    def score(self, pool: PoolView, target: Sequence[str], seed: int) -> Scored:
        """One score per pool row, higher = better for the target."""

    def params(self) -> dict[str, Any]:
        """The method's own settings, saved with every selection."""
        return {}

    def select(
        self, pool: PoolView, target: Sequence[str], rule: SelectionRule, seed: int = 0
    ) -> Selection:
        """Score `pool` against `target` and pick documents according to `rule`."""
        seed = check_seed(seed)
        if not isinstance(rule, SelectionRule):
            raise TypeError(f"rule must be a SelectionRule, got {type(rule).__name__}")
        if len(pool) == 0:
            raise ValueError(f"{self.name}: the pool is empty")
        if self.needs_target:
            target = check_target(target, self.name)
        check_rule(pool, rule)
        scored = self.score(pool, target, seed)
        scores = np.asarray(scored.scores, dtype=np.float64)
        if scores.shape != (len(pool),):
            raise ValueError(
                f"{self.name}: score returned shape {scores.shape}, need ({len(pool)},)"
            )
        order = rank(
            pool,
            scores,
            rule,
            rng=rng_for(seed, "rules"),
            eligible=scored.eligible,
            default_mode=self.default_mode,
        )
        ids = tuple(pool.ids[i] for i in order)
        params: dict[str, Any] = {
            **self.params(),
            "rule": rule.to_params(default_mode=self.default_mode),
            "n_selected": len(ids),
            "n_tokens_selected": int(pool.n_tokens[order].sum()),
            **scored.info,
        }
        return Selection(
            method=self.name,
            ids=ids,
            scores=tuple(float(s) for s in scores[order]),
            params=params,
            seed=seed,
        )
