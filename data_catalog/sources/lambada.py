"""A LAMBADA-style target built from real narrative passages (real LAMBADA is not packaged).

LAMBADA asks for the last word of a narrative passage, chosen so that the word is predictable
from the whole passage but not from the last sentence alone. We approximate that filter: the
passage is cut after a sentence whose final word (a content word, not a stop word) also occurs
earlier in the passage but not elsewhere in that last sentence. Passages come from CoQA's
Gutenberg, MCTest and RACE stories, the BIG-bench fables and two thirds of the Cosmos QA
narratives (a fixed hash split, `is_lambada_passage`, so the pool can leave exactly these
passages out).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from data_catalog.sources import bigbench
from data_catalog.sources.text import text_key

LAMBADA_COQA_ORIGINS = ("gutenberg", "mctest", "race")
MAX_PASSAGE_CHARS = 1500
MIN_CONTEXT_WORDS = 30
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]*\s+")
_LAST_WORD = re.compile(r"([A-Za-z]+)[^A-Za-z]*$")
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    said says say one two also yes oh well""".split()
)


def is_lambada_passage(record: dict[str, Any]) -> bool:
    """Whether a BIG-bench passage record is reserved for the LAMBADA-style target."""
    source = record["source"]
    if source == "fables":
        return True
    if source == "coqa":
        return record["metadata"].get("origin") in LAMBADA_COQA_ORIGINS
    if source == "cosmos_qa":
        return int(text_key(record["text"])[:8], 16) % 3 != 0  # two thirds
    return False


def lambada_passages(root: Path) -> Iterator[str]:
    """The narrative passages the LAMBADA-style target is built from."""
    for rec in bigbench.coqa_stories(root, LAMBADA_COQA_ORIGINS):
        yield rec["text"]
    for rec in bigbench.fables(root):
        yield rec["text"]
    for rec in bigbench.cosmos_passages(root):
        if is_lambada_passage(rec):
            yield rec["text"]


def _has_word(text: str, word: str) -> bool:
    return re.search(rf"\b{re.escape(word)}\b", text, flags=re.IGNORECASE) is not None


def make_example(passage: str) -> dict[str, str] | None:
    """Cut ``passage`` after its last qualifying sentence; None when no sentence qualifies."""
    passage = " ".join(passage.split())[: MAX_PASSAGE_CHARS + 200]
    ends = [m.start() for m in _SENTENCE_END.finditer(passage)] + [len(passage)]
    starts = [0] + [m.end() for m in _SENTENCE_END.finditer(passage)]
    for start, end in sorted(zip(starts, ends, strict=True), reverse=True):
        if end > MAX_PASSAGE_CHARS:
            continue
        sentence = passage[start:end]
        match = _LAST_WORD.search(sentence)
        if match is None or match.end(1) < len(sentence) - 3:  # ends in digits, symbols...
            continue
        word = match.group(1)
        before = passage[:start]
        head = sentence[: match.start(1)]
        if (
            len(word) < 3
            or word.lower() in STOPWORDS
            or len(before.split()) < MIN_CONTEXT_WORDS
            or not _has_word(before, word)
            or _has_word(head, word)
        ):
            continue
        prompt = (before + head).rstrip()
        return {"prompt": prompt, "completion": " " + word}
    return None


def lambada_examples(root: Path) -> list[dict[str, str]]:
    """All LAMBADA-style examples buildable from the passages under ``root`` (file order)."""
    out = []
    seen: set[str] = set()
    for passage in lambada_passages(root):
        example = make_example(passage)
        if example is not None and example["prompt"] not in seen:
            seen.add(example["prompt"])
            out.append(example)
    return out
