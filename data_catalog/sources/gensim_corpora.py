"""The text corpora inside gensim's test data (``gensim==4.4.0`` wheel, ``gensim/test/test_data``).

Three real corpora, each its own source:
- ``gensim_enwiki``: a 2016 English Wikipedia dump excerpt (~100 full articles) in raw wikitext
  markup, split into passages: web-like, markup-heavy text.
- ``gensim_lee``: the Lee et al. (2005) background corpus, 300 ABC news stories.
- ``gensim_stems``: ``head500.noblanks.cor``, Wikipedia articles after stop-word removal and
  stemming ("anarch greek rule stem archon"): garbled text, labelled ``planted="garbled"``.
"""

from __future__ import annotations

import bz2
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from data_catalog.sources.cache import Artifact, extract_once, fetch_artifact
from data_catalog.sources.text import chunk_text, make_record

_VIA = " (via gensim test data, LGPL-2.1)"
LICENSES = {
    "gensim_enwiki": "CC BY-SA 3.0 (Wikipedia)" + _VIA,
    "gensim_lee": "Lee et al. 2005 ABC news corpus, research use" + _VIA,
    "gensim_stems": "CC BY-SA 3.0 (Wikipedia, stemmed)" + _VIA,
}
ARTIFACT = Artifact(
    project="gensim",
    filename="gensim-4.4.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
    sha256="91a7fa5e814e7b1bad4b2dffa8d62c1e55410d5cbdf930714c1997ffb4404db8",
    url="https://files.pythonhosted.org/packages/d9/fa/85531b39c1beb5a4203929ba83d94d886cec40d0fb0"
    "bef8ca05fd1cc7a38/gensim-4.4.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
)
ENWIKI = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
LEE = "lee_background.cor"
STEMS = "head500.noblanks.cor"
_DATA = "gensim/test/test_data/"


def fetch(cache: Path) -> Path:
    """Download the wheel once and extract the three corpus files; return their folder."""
    wheel = fetch_artifact(ARTIFACT, cache)
    wanted = {_DATA + f: f for f in (ENWIKI, LEE, STEMS)}
    return extract_once(wheel, Path(cache) / "extracted" / "gensim-4.4.0", wanted.get)


def _find(root: Path, pattern: str) -> Path | None:
    root = Path(root)
    if root.is_file():
        return root if root.match(pattern) else None
    found = sorted(root.rglob(pattern))
    return found[0] if found else None


def _open_xml(path: Path) -> IO[bytes]:
    return bz2.open(path, "rb") if path.suffix == ".bz2" else open(path, "rb")


def parse_enwiki(root: Path) -> Iterator[dict[str, Any]]:
    """Passages of the article pages (namespace 0, no redirects) of the wikitext dump."""
    path = _find(root, "enwiki-*")
    if path is None:
        return
    with _open_xml(path) as fh:
        title, ns = "", ""
        for _, elem in ET.iterparse(fh):
            tag = elem.tag.rsplit("}", 1)[-1]
            if tag == "title":
                title = elem.text or ""
            elif tag == "ns":
                ns = elem.text or ""
            elif tag == "text":
                text = (elem.text or "").strip()
                if ns == "0" and text and not text.upper().startswith("#REDIRECT"):
                    for i, part in enumerate(chunk_text(text)):
                        yield make_record(
                            part, "gensim_enwiki", LICENSES["gensim_enwiki"], title=title, part=i
                        )
            elif tag == "page":
                elem.clear()  # keep memory flat on a large dump


def parse_lee(root: Path) -> Iterator[dict[str, Any]]:
    """ABC news stories (one per line), long ones split into passages."""
    path = _find(root, LEE)
    if path is None:
        return
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines()):
        for part in chunk_text(line) if line.strip() else []:
            yield make_record(part, "gensim_lee", LICENSES["gensim_lee"], story=n)


def parse_stems(root: Path) -> Iterator[dict[str, Any]]:
    """Stemmed, stop-word-free articles cut into ~1,500-character pieces (planted garble)."""
    path = _find(root, STEMS)
    if path is None:
        return
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines()):
        pieces: list[list[str]] = [[]]
        size = 0
        for word in line.split():
            pieces[-1].append(word)
            size += len(word) + 1
            if size >= 1500:
                pieces.append([])
                size = 0
        if size < 300:  # a short tail is dropped
            pieces.pop()
        for piece in pieces:
            yield make_record(
                " ".join(piece), "gensim_stems", LICENSES["gensim_stems"], planted="garbled", line=n
            )
