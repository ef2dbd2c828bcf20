"""Small text helpers shared by the source parsers: the record shape, chunking, dedup keys.

Every parser yields the same plain dict, ``{"text", "source", "license", "metadata"}``, so the
pool builder and the catalog never need to know which source a record came from.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from typing import Any

MIN_CHARS = 300
MAX_CHARS = 2000
_BLANK_LINES = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


def make_record(text: str, source: str, license: str, **metadata: Any) -> dict[str, Any]:
    """The one record shape every source yields."""
    return {"text": text, "source": source, "license": license, "metadata": dict(metadata)}


def text_key(text: str) -> str:
    """A dedup key that ignores case and whitespace differences."""
    norm = " ".join(text.lower().split())
    return hashlib.sha1(norm.encode("utf-8")).hexdigest()


def dedup(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Drop records whose text repeats an earlier one (case- and whitespace-insensitive)."""
    seen: set[str] = set()
    for rec in records:
        key = text_key(rec["text"])
        if key not in seen:
            seen.add(key)
            yield rec


def _split_long(block: str, max_chars: int) -> list[str]:
    """Split one over-long block at sentence ends, else at spaces, into <= max_chars pieces."""
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(block):
        while len(sentence) > max_chars:  # one enormous "sentence": cut at a space
            cut = sentence.rfind(" ", 0, max_chars)
            cut = cut if cut > max_chars // 2 else max_chars
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > max_chars:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        pieces.append(current)
    return [p for p in pieces if p]


def chunk_text(text: str, min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS) -> list[str]:
    """Split a long work into passages of about ``min_chars``..``max_chars`` characters.

    Blank-line-separated paragraphs are merged until a passage reaches ``min_chars``; a paragraph
    longer than ``max_chars`` is split at sentence ends. A short tail joins the previous passage
    when that keeps it under ``max_chars``.
    """
    blocks: list[str] = []
    for para in _BLANK_LINES.split(text.strip()):
        para = para.strip()
        if para:
            blocks.extend([para] if len(para) <= max_chars else _split_long(para, max_chars))
    passages: list[str] = []
    current = ""
    for block in blocks:
        if current and len(current) + 2 + len(block) > max_chars:
            passages.append(current)
            current = block
        else:
            current = f"{current}\n\n{block}" if current else block
        if len(current) >= min_chars:
            passages.append(current)
            current = ""
    if current:
        if passages and len(passages[-1]) + 2 + len(current) <= max_chars:
            passages[-1] = f"{passages[-1]}\n\n{current}"
        else:
            passages.append(current)
    return passages
