"""`PoolView`: the candidate pool as every selector and selection rule sees it.

Its own module so that the rules (`rules.py`) and the selector base class (`base.py`) can both
use it without importing each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class PoolView:
    """The candidate pool as the selectors see it: aligned columns, one row per document."""

    ids: Sequence[str]
    texts: Sequence[str]
    sources: Sequence[str]
    n_tokens: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.ids)
        lengths = {"texts": len(self.texts), "sources": len(self.sources)}
        n_tokens = np.asarray(self.n_tokens)
        lengths["n_tokens"] = n_tokens.shape[0] if n_tokens.ndim == 1 else -1
        bad = {k: v for k, v in lengths.items() if v != n}
        if bad:
            raise ValueError(f"PoolView columns must all have {n} rows (len(ids)); got {bad}")
        if n_tokens.size and not np.issubdtype(n_tokens.dtype, np.integer):
            raise ValueError(f"PoolView.n_tokens must be integers, got dtype {n_tokens.dtype}")
        if n_tokens.size and n_tokens.min() < 0:
            raise ValueError("PoolView.n_tokens must be non-negative")
        if len(set(self.ids)) != n:
            raise ValueError("PoolView.ids must be unique")
        object.__setattr__(self, "n_tokens", n_tokens.astype(np.int64, copy=False))

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def index(self) -> dict[str, int]:
        """Row position of each id."""
        return {doc_id: i for i, doc_id in enumerate(self.ids)}

    @cached_property
    def source_array(self) -> np.ndarray:
        """Sources as a numpy array (for vectorised quota bookkeeping)."""
        return np.asarray(self.sources, dtype=object)
