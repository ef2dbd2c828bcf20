"""Selection rules shared by every selector: how a score vector becomes a ranked subset.

One frozen `SelectionRule` says how many documents to take and under which constraints:

- size: `k` documents and/or a `token_budget` (taken in rank order; the first document that
  would push the total over the budget ends the selection, so the total never exceeds it), or
  only a `threshold` (take every document scoring at least that much);
- ranking `mode`: "top_k" (deterministic, ties broken by pool order) or "gumbel" (Gumbel top-k
  on `score / temperature`: sampling without replacement with probabilities ∝ exp(score / T));
- `threshold`: documents scoring below it are never taken;
- per-source quotas: `source_max_count` (documents) and `source_max_fraction` (of `k`
  documents and/or of `token_budget` tokens); a document over its source's quota is skipped;
- `include` ids are forced in (ranked first, ignoring threshold and eligibility, counted
  towards k, budget and quotas); `exclude` ids are never taken.

`check_rule` validates a rule against a pool before any scoring; `rank` applies it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from dsdm_engine.selectors.pool_view import PoolView

MODES = ("top_k", "gumbel")


def _is_int(x: object) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


@dataclass(frozen=True)
class SelectionRule:
    """How many documents to select and under which constraints (validated when built)."""

    k: int | None = None
    token_budget: int | None = None
    mode: str | None = None  # None = the selector's default ("gumbel" for DSIR, else "top_k")
    temperature: float = 1.0
    threshold: float | None = None
    source_max_count: Mapping[str, int] = field(default_factory=dict)
    source_max_fraction: Mapping[str, float] = field(default_factory=dict)
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()

    def __post_init__(self) -> None:
        if self.k is None and self.token_budget is None and self.threshold is None:
            raise ValueError("SelectionRule needs k, token_budget or threshold")
        if self.k is not None and (not _is_int(self.k) or self.k <= 0):
            raise ValueError(f"k must be a positive integer, got {self.k!r}")
        if self.token_budget is not None and (
            not _is_int(self.token_budget) or self.token_budget <= 0
        ):
            raise ValueError(f"token_budget must be a positive integer, got {self.token_budget!r}")
        if self.mode is not None and self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; known modes: {', '.join(MODES)}")
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or t <= 0:
            raise ValueError(f"temperature must be a finite number > 0, got {t!r}")
        if self.threshold is not None and (
            not isinstance(self.threshold, int | float) or math.isnan(self.threshold)
        ):
            raise ValueError(f"threshold must be a number, got {self.threshold!r}")
        for src, c in self.source_max_count.items():
            if not _is_int(c) or c < 0:
                raise ValueError(f"source_max_count[{src!r}] must be an integer >= 0, got {c!r}")
        for src, f in self.source_max_fraction.items():
            if not isinstance(f, int | float) or isinstance(f, bool) or not 0 <= f <= 1:
                raise ValueError(f"source_max_fraction[{src!r}] must be in [0, 1], got {f!r}")
        if self.source_max_fraction and self.k is None and self.token_budget is None:
            raise ValueError("source_max_fraction needs k or token_budget to be a fraction of")
        for name in ("include", "exclude"):
            ids = getattr(self, name)
            if isinstance(ids, str):
                raise ValueError(f"{name} must be a list of ids, not one string")
            if len(set(ids)) != len(ids):
                raise ValueError(f"{name} lists the same id more than once")
            object.__setattr__(self, name, tuple(ids))
        both = set(self.include) & set(self.exclude)
        if both:
            raise ValueError(f"ids both included and excluded: {sorted(both)[:5]}")
        object.__setattr__(self, "source_max_count", dict(self.source_max_count))
        object.__setattr__(self, "source_max_fraction", dict(self.source_max_fraction))

    def to_params(self, default_mode: str = "top_k") -> dict[str, Any]:
        """JSON-friendly record of the rule (mode resolved), stored with the selection."""
        return {
            "k": self.k,
            "token_budget": self.token_budget,
            "mode": self.mode or default_mode,
            "temperature": float(self.temperature),
            "threshold": self.threshold,
            "source_max_count": dict(self.source_max_count),
            "source_max_fraction": dict(self.source_max_fraction),
            "include": list(self.include),
            "exclude": list(self.exclude),
        }


def _unknown(ids: Sequence[str], index: Mapping[str, int]) -> list[str]:
    return [i for i in ids if i not in index]


def check_rule(pool: PoolView, rule: SelectionRule) -> None:
    """Errors that depend on the pool, raised before any (possibly slow) scoring."""
    n = len(pool)
    for name in ("include", "exclude"):
        missing = _unknown(getattr(rule, name), pool.index)
        if missing:
            raise ValueError(f"{name} has {len(missing)} ids not in the pool, e.g. {missing[:5]}")
    n_avail = n - len(rule.exclude)
    if rule.k is not None and rule.k > n_avail:
        raise ValueError(
            f"k={rule.k} is larger than the pool: {n} documents, {n_avail} after excludes"
        )
    if rule.k is not None and len(rule.include) > rule.k:
        raise ValueError(f"include lists {len(rule.include)} ids but k={rule.k}")
    known = sorted(set(pool.sources))
    quota_sources = set(rule.source_max_count) | set(rule.source_max_fraction)
    unknown = sorted(quota_sources - set(known))
    if unknown:
        raise ValueError(f"unknown source(s) in quotas: {unknown}; pool sources: {known}")
    inc = np.array([pool.index[i] for i in rule.include], dtype=np.int64)
    budget = rule.token_budget
    if budget is not None and inc.size:
        inc_tokens = int(pool.n_tokens[inc].sum())
        if inc_tokens > budget:
            raise ValueError(f"included documents hold {inc_tokens} tokens, over {budget=}")
    if inc.size:
        limits = _Quotas(pool, rule)
        for i in inc:
            if not limits.fits(int(i)):
                raise ValueError(
                    f"included documents exceed the quota of source {pool.sources[int(i)]!r}"
                )
            limits.take(int(i))


class _Quotas:
    """Running per-source counts and token totals against the rule's quotas."""

    def __init__(self, pool: PoolView, rule: SelectionRule) -> None:
        self.pool = pool
        self.max_docs: dict[str, float] = {s: float(c) for s, c in rule.source_max_count.items()}
        self.max_tokens: dict[str, float] = {}
        for s, f in rule.source_max_fraction.items():
            if rule.k is not None:
                cap = math.floor(f * rule.k + 1e-9)
                self.max_docs[s] = min(self.max_docs.get(s, math.inf), cap)
            if rule.token_budget is not None:
                self.max_tokens[s] = f * rule.token_budget
        self.docs: dict[str, int] = {}
        self.tokens: dict[str, int] = {}

    @property
    def active(self) -> bool:
        return bool(self.max_docs or self.max_tokens)

    def fits(self, i: int) -> bool:
        s = self.pool.sources[i]
        if self.docs.get(s, 0) + 1 > self.max_docs.get(s, math.inf):
            return False
        t = self.tokens.get(s, 0) + int(self.pool.n_tokens[i])
        return t <= self.max_tokens.get(s, math.inf) + 1e-9

    def take(self, i: int) -> None:
        s = self.pool.sources[i]
        self.docs[s] = self.docs.get(s, 0) + 1
        self.tokens[s] = self.tokens.get(s, 0) + int(self.pool.n_tokens[i])


def ranking_keys(
    scores: np.ndarray, mode: str, temperature: float, rng: np.random.Generator
) -> np.ndarray:
    """The keys documents are ordered by: the scores, or Gumbel-perturbed scaled scores."""
    if mode == "top_k":
        return scores
    with np.errstate(invalid="ignore"):
        return scores / temperature + rng.gumbel(size=scores.shape)


def rank(
    pool: PoolView,
    scores: np.ndarray,
    rule: SelectionRule,
    rng: np.random.Generator,
    eligible: np.ndarray | None = None,
    default_mode: str = "top_k",
) -> np.ndarray:
    """Row positions of the selected documents, best first.

    Call `check_rule` first (the `Selector` base class does). Raises when the method's own
    eligibility mask leaves fewer than `k` documents.
    """
    n = len(pool)
    scores = np.asarray(scores, dtype=np.float64)
    if np.isnan(scores).any():
        raise ValueError(f"scores contain {int(np.isnan(scores).sum())} NaN values")
    avail = np.ones(n, dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool).copy()
    if avail.shape != (n,):
        raise ValueError(f"eligible mask has shape {avail.shape}, need ({n},)")
    inc = np.array([pool.index[i] for i in rule.include], dtype=np.int64)
    exc = np.array([pool.index[i] for i in rule.exclude], dtype=np.int64)
    avail[exc] = False
    avail[inc] = False  # handled separately, ranked first
    if rule.k is not None and rule.k > avail.sum() + inc.size:
        raise ValueError(
            f"k={rule.k} is larger than the {int(avail.sum()) + inc.size} documents this method "
            f"left eligible (of {n}, after excludes)"
        )
    if rule.threshold is not None:
        avail &= scores >= rule.threshold

    keys = ranking_keys(scores, rule.mode or default_mode, rule.temperature, rng)
    order = np.argsort(-keys, kind="stable")  # descending, ties in pool order
    inc_sorted = inc[np.argsort(-keys[inc], kind="stable")]
    rest = order[avail[order]]
    candidates = np.concatenate([inc_sorted, rest])

    quotas = _Quotas(pool, rule)
    if not quotas.active:
        return _take_prefix(pool, candidates, rule)
    k = rule.k if rule.k is not None else n
    budget = rule.token_budget if rule.token_budget is not None else math.inf
    taken: list[int] = []
    total = 0
    for i in candidates:
        if len(taken) >= k:
            break
        if not quotas.fits(int(i)):
            continue  # over its source's quota: skip, later documents may still fit
        t = int(pool.n_tokens[i])
        if total + t > budget:
            break
        quotas.take(int(i))
        taken.append(int(i))
        total += t
    return np.asarray(taken, dtype=np.int64)


def _take_prefix(pool: PoolView, candidates: np.ndarray, rule: SelectionRule) -> np.ndarray:
    """No quotas: the selection is a prefix of the candidate order (vectorised)."""
    out = candidates if rule.k is None else candidates[: rule.k]
    if rule.token_budget is not None:
        cum = np.cumsum(pool.n_tokens[out])
        out = out[: int(np.searchsorted(cum, rule.token_budget, side="right"))]
    return out.astype(np.int64)
