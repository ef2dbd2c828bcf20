"""Registry of selection methods: name -> `Selector` class.

`get_selector(name, **options)` builds one; unknown names are rejected with the list of known ones.
"""

from __future__ import annotations

from typing import Any

from dsdm_engine.selectors.base import Selector
from dsdm_engine.selectors.bm25 import Bm25Selector
from dsdm_engine.selectors.classifier import ClassifierSelector
from dsdm_engine.selectors.dsdm import DsdmSelector
from dsdm_engine.selectors.dsir import DsirSelector
from dsdm_engine.selectors.embedding import EmbeddingSelector
from dsdm_engine.selectors.random_selector import RandomSelector
from dsdm_engine.selectors.semdedup import SemDedupSelector

SELECTORS: dict[str, type[Selector]] = {
    cls.name: cls
    for cls in (
        RandomSelector,
        DsirSelector,
        Bm25Selector,
        ClassifierSelector,
        EmbeddingSelector,
        SemDedupSelector,
        DsdmSelector,
    )
}


def available_selectors() -> tuple[str, ...]:
    """Names accepted by `get_selector`, sorted."""
    return tuple(sorted(SELECTORS))


def get_selector(name: str, **options: Any) -> Selector:
    """A selector instance by method name; `options` go to its constructor."""
    try:
        cls = SELECTORS[name]
    except (KeyError, TypeError):
        known = ", ".join(available_selectors())
        raise ValueError(f"unknown selection method {name!r}; known methods: {known}") from None
    return cls(**options)
