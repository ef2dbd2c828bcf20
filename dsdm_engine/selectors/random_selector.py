"""Random baseline: a uniform sample of k documents without replacement (seeded).

The score of each document is an independent Uniform(0, 1) draw from the seed, so top-k of the
scores is a uniformly random subset in a uniformly random order, and a token budget takes random
documents until the budget is reached.
"""

from __future__ import annotations

from collections.abc import Sequence

from dsdm_engine.selectors.base import PoolView, Scored, Selector, rng_for


class RandomSelector(Selector):
    """Uniform random selection; the target is ignored."""

    name = "random"
    needs_target = False
    needs_task = False
    needs_texts = False

    def score(self, pool: PoolView, target: Sequence[str], seed: int) -> Scored:
        return Scored(rng_for(seed, "random").random(len(pool)))
