"""Shared pieces of the large sources: pinned Debian packages, paragraph readers, passage records.

Every bulk parser turns its artifact into documents (an id plus a stream of paragraphs, one file at
a time), and `passage_records` cuts them into 40-300-word passages (`text.cut_passages`) and drops
repeats within the source with 64-bit keys (`text.PassageDedup`), so a source of a million
passages streams in bounded memory.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, NamedTuple

from data_catalog.sources.cache import SourceError, apt_download, extract_once, verify_sha256
from data_catalog.sources.text import PassageDedup, cut_passages, make_record

# Debian bookworm packages: (file apt-get download gives, sha256 of it)
DEBS: dict[str, tuple[str, str]] = {
    "sword-comm-tdavid": (
        "sword-comm-tdavid_2.1-1_all.deb",
        "bcbfad701c5c4a061475b58309cebc42755a59e87478c8355227c5e046412b3f",
    ),
    "sword-comm-mhcc": (
        "sword-comm-mhcc_2.0-1_all.deb",
        "06f748215de78ff48fdfdee93e3ffc5af6318b976485f7aedf22309236967e35",
    ),
    "sword-comm-scofield": (
        "sword-comm-scofield_2.1-1_all.deb",
        "0c11a9533d4870ec40cc72792ecde8aae6e4cc00eca12301150aac018fd5dfcb",
    ),
    "dict-gcide": (
        "dict-gcide_0.48.5+nmu2_all.deb",
        "7b0af5cfde3cbdef5e9d6e78f92ec335ced7c2790f37a40f49bebc6f7347ac0f",
    ),
    "python3.11-doc": (
        "python3.11-doc_3.11.2-6+deb12u9_all.deb",
        "5b3594189d6ef9a6963ce0347fd307a1cc67620ad697e144db366070e2e146be",
    ),
    "perl-doc": (
        "perl-doc_5.36.0-7+deb12u4_all.deb",
        "f4269cff4576d6f02a6756df842988e58451c7e945b08517dd235531b24e48f8",
    ),
    "gnome-user-docs": (
        "gnome-user-docs_43.0-2_all.deb",
        "0d635a840747958ca84da778b40d341f1155603851f922c9a171f5a181d6a39f",
    ),
    "libreoffice-help-en-us": (
        "libreoffice-help-en-us_4%3a7.4.7-1+deb12u14_all.deb",
        "8faa840285734d6cfe1ed25537b48f07e74bd6412e3917bf8e5f8a653f7b3712",
    ),
    "debian-reference-en": (
        "debian-reference-en_2.100_all.deb",
        "9f31d3a17df505de09689ca255512ea58c1fc47c59bb1b0c7bf1c23362e9743f",
    ),
    "git-doc": (
        "git-doc_1%3a2.39.5-0+deb12u3_all.deb",
        "3c89668a11053a6bafade3de1f611f4613db31e082af63f43d8c5b69ad8795ec",
    ),
    "debian-handbook": (
        "debian-handbook_11.20220922_all.deb",
        "3d5dbeac1f1afc9c094eab9d0f701f6ecff99c4927d5a4794cf6c85678134faa",
    ),
    "linux-doc-6.1": (
        "linux-doc-6.1_6.1.192-3_all.deb",
        "f18dfe28dcab7bdbf9185be16b9521f5841277a6a96c374a6683a648d5d5fa4f",
    ),
    "openjdk-17-doc": (
        "openjdk-17-doc_17.0.21.1+2-1~deb12u1_all.deb",
        "3e04db24dbcb31d598774973998f1d8212e3424e288befbfef235077325f841d",
    ),
    "postgresql-doc-15": (
        "postgresql-doc-15_15.20-0+deb12u1_all.deb",
        "4c44bf2c599f208b3f46454a6cf7a72e25ec46ff74d37b59dd31ad76b00eebb7",
    ),
    "python-django-doc": (
        "python-django-doc_3%3a3.2.25-0+deb12u7_all.deb",
        "87307f067916df72e17180d35b7cde5c7ea6080336cda518efd7f6e66988a7ca",
    ),
    "nodejs-doc": (
        "nodejs-doc_18.20.4+dfsg-1~deb12u3_all.deb",
        "d2fbd4f3aecccea9d901a03842ef8380379e0d33010a48af5e797ed68ae874ce",
    ),
    "erlang-doc": (
        "erlang-doc_1%3a25.2.3+dfsg-1+deb12u4_all.deb",
        "7d172cecfdd9c2930b27c776ad226ffcc84670375cf830c79ee41c6944e8a1c8",
    ),
    "sphinx-doc": (
        "sphinx-doc_5.3.0-4_all.deb",
        "1da3d08bb3a0bc82a4b8b8109410e223054bf5fb13904557ec8ea869046f65b4",
    ),
    "debian-policy": (
        "debian-policy_4.6.2.0_all.deb",
        "ef9d01b625c3b87c3a845c2cd1b66f1a16e9240b2b9e5bee53472a00e8457a39",
    ),
    "bind9-doc": (
        "bind9-doc_1%3a9.18.49-1~deb12u3_all.deb",
        "7a3282f365576e58378b242ea7e8bd65ce227e94dd4abe8acbb5874873e7265e",
    ),
    "python-pandas-doc": (
        "python-pandas-doc_1.5.3+dfsg-2_all.deb",
        "4998405ff6b12432f46594963e95554ade1104705795428396345fca58d853f8",
    ),
    "ghc-doc": (
        "ghc-doc_9.0.2-4_all.deb",
        "a7c77e36c8906f82eef411ceeba13b7d663b7766a5ecc6659e3405889e0429c9",
    ),
}


class Doc(NamedTuple):
    """One document of a bulk source: an id, its paragraphs (lazy), its licence if it differs."""

    doc_id: str
    paragraphs: Iterable[str]
    license: str | None = None


def pinned_deb(package: str, cache: Path) -> Path:
    """``apt-get download`` a package (once) and check it is the pinned file and sha256."""
    filename, sha256 = DEBS[package]
    deb = apt_download(package, cache)
    if deb.name != filename:
        raise SourceError(
            f"apt-get gave {deb.name}, but {filename} is pinned (sha256 {sha256}); the Debian "
            f"archive has moved on. Copy the pinned file to {deb.parent} or update DEBS."
        )
    verify_sha256(deb, sha256)
    return deb


def extract_deb(package: str, cache: Path, name: str, select: Callable[[str], str | None]) -> Path:
    """Fetch a pinned Debian package and unpack the members ``select`` keeps, once."""
    return extract_once(pinned_deb(package, cache), Path(cache) / "extracted" / name, select)


def passage_records(
    docs: Iterable[Doc], source: str, license: str, **metadata: Any
) -> Iterator[dict[str, Any]]:
    """Cut documents into passages and yield each new one as a record (per-source dedup)."""
    seen = PassageDedup()
    for doc in docs:
        for i, text in enumerate(cut_passages(doc.paragraphs)):
            if seen.is_new(text):
                yield make_record(text, source, doc.license or license, doc=doc.doc_id, part=i)


def line_paragraphs(lines: Iterable[str]) -> Iterator[str]:
    """Blank-line-separated paragraphs of hard-wrapped text, each joined into one line."""
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line.strip())
        elif current:
            yield " ".join(current)
            current = []
    if current:
        yield " ".join(current)


def file_paragraphs(path: Path) -> Iterator[str]:
    """`line_paragraphs` of a text file, read line by line."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        yield from line_paragraphs(fh)


_BLOCK = frozenset(
    "p div li ul ol dl dt dd h1 h2 h3 h4 h5 h6 td th tr table br section article blockquote "
    "title caption figcaption page note item list terms tree".split()
)
_SKIP_TAGS = frozenset("script style pre nav header footer head screen info".split())
_SKIP_CLASS = re.compile(
    r"(?:^|\s)(?:sphinxsidebar\w*|related|footer|header|navigation|nav|toc\w*|highlight[-\w]*"
    r"|wy-nav-side|rst-versions|breadcrumbs?|sub-title|top-nav|bottom-nav)(?:\s|$)"
)
_SPACE = re.compile(r"\s+")


class _TextExtractor(HTMLParser):
    """Collects prose paragraphs from HTML/XML, skipping code, navigation and scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._buf: list[str] = []
        self._skip: list[str] = []  # open tags whose content is skipped

    def _flush(self) -> None:
        text = _SPACE.sub(" ", "".join(self._buf)).strip()
        self._buf = []
        if text:
            self.paragraphs.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.split(":")[-1]
        if self._skip:
            if tag == self._skip[-1]:
                self._skip.append(tag)
            return
        classes = " ".join(v or "" for k, v in attrs if k in ("class", "id", "role"))
        if tag in _SKIP_TAGS or (tag == "div" and _SKIP_CLASS.search(classes)):
            self._flush()
            self._skip.append(tag)
        elif tag in _BLOCK:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        tag = tag.split(":")[-1]
        if self._skip:
            if tag == self._skip[-1]:
                self._skip.pop()
            return
        if tag in _BLOCK:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._buf.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def markup_paragraphs(markup: str, min_words: int = 8) -> list[str]:
    """Prose paragraphs (at least ``min_words`` words) of one HTML or XML page."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return [p for p in parser.paragraphs if len(p.split()) >= min_words]
