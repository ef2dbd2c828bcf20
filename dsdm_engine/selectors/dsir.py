"""DSIR (Xie et al. 2023): importance resampling with hashed n-gram bag-of-words models.

Fit one bag-of-n-grams distribution on the target examples and one on the pool, score each pool
document by its log importance ratio `Σ_g count(g) · (log p_target(g) − log p_pool(g))`, and
resample without replacement by Gumbel top-k on those log ratios (the default mode).

Documented choices against the reference package (`data-selection` 1.0.3, p-lambda/dsir):
- tokenisation and hashing are the reference's (see `ngrams.py`), so features match exactly;
- smoothing: the reference adds 1e-8 to each bucket probability (`pseudocount=0,
  prob_epsilon=1e-8` here reproduces its weights exactly); the default here is add-one
  smoothing of the counts (`pseudocount=1, prob_epsilon=0`), which keeps a bucket unseen in a
  small pool from dominating the ratio;
- the reference drops documents shorter than 100 tokens before resampling; here the pool is
  chunked upstream and nothing is dropped (use the rule's include/exclude lists instead);
- the reference fits the pool model on at most 100k × num_buckets tokens; here on the whole pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dsdm_engine.selectors.base import PoolView, Scored, Selector
from dsdm_engine.selectors.ngrams import NgramHasher, row_sums


def log_probs(counts: np.ndarray, pseudocount: float, prob_epsilon: float) -> np.ndarray:
    """Smoothed log bucket probabilities: log((c + α) / (N + α·B) + ε)."""
    smoothed = counts + pseudocount
    return np.log(smoothed / smoothed.sum() + prob_epsilon)


class DsirSelector(Selector):
    """Hashed n-gram DSIR; `score` returns the per-document log importance weight."""

    name = "dsir"
    default_mode = "gumbel"

    def __init__(
        self,
        num_buckets: int = 10_000,
        ngrams: int = 2,
        pseudocount: float = 1.0,
        prob_epsilon: float = 0.0,
    ) -> None:
        if pseudocount < 0 or prob_epsilon < 0:
            raise ValueError("pseudocount and prob_epsilon must be >= 0")
        if pseudocount == 0 and prob_epsilon == 0:
            raise ValueError("DSIR needs smoothing: pseudocount > 0 or prob_epsilon > 0")
        self.hasher = NgramHasher(num_buckets=num_buckets, n=ngrams)
        self.pseudocount = float(pseudocount)
        self.prob_epsilon = float(prob_epsilon)

    def params(self) -> dict[str, Any]:
        return {
            "num_buckets": self.hasher.num_buckets,
            "ngrams": self.hasher.n,
            "pseudocount": self.pseudocount,
            "prob_epsilon": self.prob_epsilon,
        }

    def log_ratio(self, pool_texts: Sequence[str], target: Sequence[str]) -> np.ndarray:
        """Per-bucket `log p_target − log p_pool` (the reference's `log_diff`)."""
        lp_target = log_probs(self.hasher.counts(target), self.pseudocount, self.prob_epsilon)
        lp_pool = log_probs(self.hasher.counts(pool_texts), self.pseudocount, self.prob_epsilon)
        return lp_target - lp_pool

    def importance_weights(self, pool_texts: Sequence[str], target: Sequence[str]) -> np.ndarray:
        """Log importance weight of each pool document."""
        flat, indptr = self.hasher.ragged(pool_texts)
        lp_target = log_probs(self.hasher.counts(target), self.pseudocount, self.prob_epsilon)
        pool_counts = np.bincount(flat, minlength=self.hasher.num_buckets).astype(np.float64)
        lp_pool = log_probs(pool_counts, self.pseudocount, self.prob_epsilon)
        return row_sums((lp_target - lp_pool)[flat], indptr)

    def score(self, pool: PoolView, target: Sequence[str], seed: int) -> Scored:
        return Scored(self.importance_weights(pool.texts, target))
