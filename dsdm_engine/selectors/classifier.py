"""Quality-classifier baseline (GPT-3 / PaLM style): a linear model on hashed n-grams.

A fastText-like linear classifier separates target examples (label 1) from pool documents
(label 0); each pool document's score is the classifier's logit, and the default rule is a
deterministic top-k (GPT-3 sampled with Pareto noise instead).

Features: hashed unigrams + bigrams (`ngrams.py`, 2^18 buckets by default, like fastText's
hashing trick), counts L2-normalised per document so one learning rate suits all lengths
(fastText averages n-gram embeddings; with no hidden layer that is the same linear family).
Training: class-balanced logistic regression with L2 penalty, full-batch Adam in numpy (convex,
so the result depends on the data, not the initialisation). The seed picks the negatives when
the pool is larger than `max_negatives`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dsdm_engine.selectors.base import PoolView, Scored, Selector, rng_for
from dsdm_engine.selectors.ngrams import NgramHasher, row_sums


class SparseRows:
    """A CSR-like matrix in coordinate form, rows sorted (rows = documents, cols = buckets)."""

    def __init__(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n: int, dim: int):
        self.rows, self.cols, self.vals, self.n, self.dim = rows, cols, vals, n, dim
        self.indptr = np.searchsorted(rows, np.arange(n + 1))

    @classmethod
    def from_texts(cls, hasher: NgramHasher, texts: Sequence[str]) -> SparseRows:
        """L2-normalised hashed n-gram counts of each text."""
        flat, indptr = hasher.ragged(texts)
        n, b = len(texts), hasher.num_buckets
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
        keys, counts = np.unique(rows * b + flat, return_counts=True)  # one entry per (doc, gram)
        rows, cols = keys // b, keys % b
        vals = counts.astype(np.float64)
        norms = np.sqrt(np.bincount(rows, weights=vals**2, minlength=n))
        return cls(rows, cols, vals / np.maximum(norms, 1e-12)[rows], n, b)

    def compact(self) -> tuple[np.ndarray, SparseRows]:
        """The occurring columns, and the same matrix restricted to them."""
        active, local = np.unique(self.cols, return_inverse=True)
        return active, SparseRows(self.rows, local.astype(np.int64), self.vals, self.n, active.size)

    def subset(self, keep: np.ndarray) -> SparseRows:
        """The rows `keep` (sorted ascending in the result), renumbered 0..len(keep)-1."""
        keep = np.sort(np.asarray(keep, dtype=np.int64))
        renumber = np.full(self.n, -1, dtype=np.int64)
        renumber[keep] = np.arange(keep.size)
        new_rows = renumber[self.rows]
        mask = new_rows >= 0
        return SparseRows(new_rows[mask], self.cols[mask], self.vals[mask], keep.size, self.dim)

    def matvec(self, w: np.ndarray) -> np.ndarray:
        """X @ w, shape (n,)."""
        return row_sums(self.vals * w[self.cols], self.indptr)

    def rmatvec(self, g: np.ndarray) -> np.ndarray:
        """Xᵀ @ g, shape (dim,)."""
        return np.bincount(self.cols, weights=self.vals * g[self.rows], minlength=self.dim)


def fit_logistic(
    x: SparseRows, y: np.ndarray, l2: float, steps: int, lr: float
) -> tuple[np.ndarray, float]:
    """Class-balanced L2-regularised logistic regression by full-batch Adam: (w, bias).

    Buckets that never occur in `x` keep weight 0 (their gradient is the L2 term of a zero
    weight), so the optimiser runs only over the occurring ones; the result is identical.
    """
    active, local = x.compact()
    w_local, bias = _adam_logistic(local, y, l2, steps, lr)
    w = np.zeros(x.dim)
    w[active] = w_local
    return w, bias


def _adam_logistic(
    x: SparseRows, y: np.ndarray, l2: float, steps: int, lr: float
) -> tuple[np.ndarray, float]:
    pos = y == 1
    weight = np.where(pos, 0.5 / max(pos.sum(), 1), 0.5 / max((~pos).sum(), 1))
    params = np.zeros(x.dim + 1)
    m, v = np.zeros_like(params), np.zeros_like(params)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        w, b = params[:-1], params[-1]
        z = x.matvec(w) + b
        g = weight * (0.5 * (1.0 + np.tanh(0.5 * z)) - y)  # d loss / d z; overflow-free sigmoid
        grad = np.concatenate([x.rmatvec(g) + l2 * w, [g.sum()]])
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        params -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
    return params[:-1], float(params[-1])


class ClassifierSelector(Selector):
    """Linear target-vs-pool classifier on hashed n-grams; score = logit of "target-like"."""

    name = "classifier"

    def __init__(
        self,
        num_buckets: int = 2**18,
        ngrams: int = 2,
        l2: float = 1e-4,
        steps: int = 200,
        lr: float = 0.05,
        max_negatives: int | None = 50_000,
    ) -> None:
        if l2 < 0 or steps < 1 or lr <= 0:
            raise ValueError("classifier needs l2 >= 0, steps >= 1 and lr > 0")
        if max_negatives is not None and max_negatives < 1:
            raise ValueError(f"max_negatives must be >= 1 or None, got {max_negatives!r}")
        self.hasher = NgramHasher(num_buckets=num_buckets, n=ngrams)
        self.l2, self.steps, self.lr = float(l2), int(steps), float(lr)
        self.max_negatives = max_negatives

    def params(self) -> dict[str, Any]:
        return {
            "num_buckets": self.hasher.num_buckets,
            "ngrams": self.hasher.n,
            "l2": self.l2,
            "steps": self.steps,
            "lr": self.lr,
            "max_negatives": self.max_negatives,
        }

    def fit_and_score(
        self, pool_texts: Sequence[str], target: Sequence[str], seed: int
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Train on target (1) vs pool (0) texts; returns (pool logits, weights, bias).

        Target and pool are featurised once, together; training uses the target rows and the
        pool rows picked as negatives, scoring uses every pool row.
        """
        n_t, n_p = len(target), len(pool_texts)
        x = SparseRows.from_texts(self.hasher, list(target) + list(pool_texts))
        negatives = np.arange(n_p)
        if self.max_negatives is not None and n_p > self.max_negatives:
            rng = rng_for(seed, "classifier-negatives")
            negatives = np.sort(rng.choice(n_p, size=self.max_negatives, replace=False))
        train = x.subset(np.concatenate([np.arange(n_t), n_t + negatives]))
        y = np.concatenate([np.ones(n_t), np.zeros(negatives.size)])
        w, b = fit_logistic(train, y, self.l2, self.steps, self.lr)
        logits = x.matvec(w) + b
        return logits[n_t:], w, b

    def score(self, pool: PoolView, target: Sequence[str], seed: int) -> Scored:
        return Scored(self.fit_and_score(pool.texts, target, seed)[0])
