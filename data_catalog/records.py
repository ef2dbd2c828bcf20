"""Typed records that flow between stages: one small frozen dataclass per stage.

Storage (the catalog) persists these; compute (the engine) produces and consumes them. Ids are
explicit strings so a record can be joined back to the catalog without positional assumptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """One pool document: stable content-hash id, text, origin and free-form metadata."""

    doc_id: str
    text: str
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetExample:
    """One target-task example. Loss is measured on `completion` tokens only.

    A plain-text example has an empty prompt and the whole text as completion.
    """

    example_id: str
    prompt: str
    completion: str
    split: str = "selection"  # "selection" | "heldout"


@dataclass(frozen=True)
class Selection:
    """The output of every selector: ids in rank order (best first) with one score per id."""

    method: str
    ids: tuple[str, ...]
    scores: tuple[float, ...]
    params: dict[str, Any]
    seed: int

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.scores):
            raise ValueError(
                f"Selection has {len(self.ids)} ids but {len(self.scores)} scores; they must match"
            )
