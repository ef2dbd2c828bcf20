"""Entity-swapped passages: real Wikipedia leads whose named entities are exchanged between
leads, so the text reads fluently but states falsehoods (the "knowledge conflict" kind of bad
data, planted with the label ``entity_swap``).

An entity is a run of capitalised words that does not start a sentence. Each chosen lead gets
up to `MAX_SWAPS` of its entities replaced, every occurrence, by entities drawn (seeded) from
other leads of the same topic.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from data_catalog.sources.text import make_record

MAX_SWAPS = 3
_ENTITY = re.compile(r"(?<=[a-z,;] )([A-Z][a-z]+(?: [A-Z][a-z]+)*)")


def entities(text: str) -> list[str]:
    """Distinct capitalised runs that are not at a sentence start, in order of appearance."""
    return list(dict.fromkeys(_ENTITY.findall(text)))


def _replace_all(text: str, swaps: dict[str, str]) -> str:
    """Every whole-word occurrence of each key replaced by its value, in one pass."""
    names = sorted(swaps, key=len, reverse=True)
    pattern = re.compile("|".join(rf"\b{re.escape(n)}\b" for n in names))
    return pattern.sub(lambda m: swaps[m.group(0)], text)


def entity_swapped(leads: Sequence[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """One swapped record per lead that has entities to swap (label ``entity_swap``)."""
    rng = random.Random(f"entity_swap:{seed}")
    by_topic: dict[str, list[str]] = {}
    for rec in leads:
        by_topic.setdefault(rec["metadata"].get("topic", ""), []).extend(entities(rec["text"]))
    out = []
    for rec in leads:
        own = entities(rec["text"])
        pool = [e for e in by_topic.get(rec["metadata"].get("topic", ""), []) if e not in own]
        if not own or not pool:
            continue
        swaps = {name: rng.choice(pool) for name in rng.sample(own, min(MAX_SWAPS, len(own)))}
        text = _replace_all(rec["text"], swaps)
        if text != rec["text"]:
            out.append(
                make_record(
                    text, rec["source"], rec["license"], planted="entity_swap", swapped=swaps
                )
            )
    return out
