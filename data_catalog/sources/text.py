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


# --- streaming passages for the large sources (sources/bulk) ----------------------------------

MIN_WORDS = 40
MAX_WORDS = 300


def cut_passages(
    paragraphs: Iterable[str], min_words: int = MIN_WORDS, max_words: int = MAX_WORDS
) -> Iterator[str]:
    """Stream passages of ``min_words``..``max_words`` words from one document's paragraphs.

    Sentences (ends at ``.!?;:``) are added to the current passage, which is emitted as soon as
    it holds ``min_words`` words, so passages end at sentence boundaries and average about
    ``min_words`` plus half a sentence. Paragraphs inside a passage stay separated by a blank
    line. A run-on sentence that would overflow ``max_words`` is cut at spaces. A short tail at
    the end of the document joins the last passage when that fits ``max_words``, else is dropped.
    Only the current and the last passage are held in memory.
    """
    if not 0 < min_words <= max_words:
        raise ValueError(f"need 0 < min_words <= max_words, got {min_words}, {max_words}")
    parts: list[str] = []
    count = 0
    pending: tuple[str, int] | None = None  # the last full passage, held back for the tail
    for para in paragraphs:
        sep = "\n\n"
        for sentence in _SENTENCE_END.split(para.strip()):
            words = sentence.split()
            while words:
                take = len(words) if count + len(words) <= max_words else min_words - count
                if parts:
                    parts.append(sep)
                parts.append(" ".join(words[:take]))
                count += take
                words = words[take:]
                sep = " "
                if count >= min_words:
                    if pending is not None:
                        yield pending[0]
                    pending = ("".join(parts), count)
                    parts, count = [], 0
    if pending is not None:
        if parts and pending[1] + count <= max_words:
            yield pending[0] + "\n\n" + "".join(parts).lstrip()
        else:
            yield pending[0]


def passage_key(text: str) -> int:
    """A compact dedup key (64-bit blake2b) ignoring case and whitespace differences."""
    norm = " ".join(text.lower().split()).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(norm, digest_size=8).digest(), "little")


class PassageDedup:
    """Remembers 64-bit passage keys (about 70 bytes each) and says whether a text is new."""

    def __init__(self) -> None:
        self._seen: set[int] = set()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._seen)

    def is_new(self, text: str) -> bool:
        """True the first time a (normalized) text is seen; counts the repeats."""
        key = passage_key(text)
        if key in self._seen:
            self.dropped += 1
            return False
        self._seen.add(key)
        return True
