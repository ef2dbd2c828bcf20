"""Selection methods (DsDm and the similarity baselines) behind one `Selector` interface.

Usage: `get_selector("dsir").select(pool, target_texts, SelectionRule(k=1000), seed=0)` returns a
`data_catalog.records.Selection` (ids best first, one score per id, params, seed).
"""

from dsdm_engine.selectors.base import PoolView, Scored, Selector
from dsdm_engine.selectors.registry import SELECTORS, available_selectors, get_selector
from dsdm_engine.selectors.rules import SelectionRule, check_rule

__all__ = [
    "SELECTORS",
    "PoolView",
    "Scored",
    "SelectionRule",
    "Selector",
    "available_selectors",
    "check_rule",
    "get_selector",
]
