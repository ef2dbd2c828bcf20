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
    "python-sqlalchemy-doc": (
        "python-sqlalchemy-doc_1.4.46+ds1-1_all.deb",
        "8805c3167ef75278ac6fd58ed9856321c2b2e3a7e441edba84b2eb955216d0fd",
    ),
    "llvm-15-doc": (
        "llvm-15-doc_1%3a15.0.6-4_all.deb",
        "613d2f6c303411508b28775269d4f6c35498905d0f3e2dd39f862191a1faf564",
    ),
    "cmake-doc": (
        "cmake-doc_3.25.1-1_all.deb",
        "6e805a758ffed87cc7ea234cf0a7a1bb8ae78b93d8b5783e7fb989a6320f8133",
    ),
    "libboost1.74-doc": (
        "libboost1.74-doc_1.74.0+ds1-21_all.deb",
        "10a7c2aa42068bcb71093fc375bf3a9ef2235baa91cc4960aa0c02df3c733d4a",
    ),
    "qtbase5-doc-html": (
        "qtbase5-doc-html_5.15.8+dfsg-11+deb12u3_all.deb",
        "e052497a7db970f002807e3543043c11e46135641b8284b0a419086ba64f5f47",
    ),
    "octave-doc": (
        "octave-doc_7.3.0-2_all.deb",
        "b27897cc7e3d688daa5cb8f8d1ea47077f3fbd205ce32e22522200ff0c1eadd5",
    ),
    "rust-doc": (
        "rust-doc_1.63.0+dfsg1-2_all.deb",
        "96ef96fe6df87d939ca713bd7df3d15c2b778ccb892eca025c4ee504146f697b",
    ),
    "python-sympy-doc": (
        "python-sympy-doc_1.11.1-1_all.deb",
        "2a1d50bd49738f0280308fc8d86d5fa5739dbc6391e1c754f4549bc3635e6a31",
    ),
    "python-astropy-doc": (
        "python-astropy-doc_5.2.1-2+deb12u1_all.deb",
        "d7cfa77ec5239a4ebcdf27c7cdc3d9e604228e99257f91d4260abbb970469b91",
    ),
    "lilypond-doc-html": (
        "lilypond-doc-html_2.24.1-2_all.deb",
        "be9fb743e58bd5ad4710146fe05e7c5f447fe4559e42c6acef1916d53e4bec60",
    ),
    "apache2-doc": (
        "apache2-doc_2.4.71-1~deb12u1_all.deb",
        "a7b3d1131c1c63dbf9999b28e75f9a133d30f70492b419936bd51759ac77a01f",
    ),
    "zsh-doc": (
        "zsh-doc_5.9-4_all.deb",
        "79bd75df4bf03d1021e993fd773f82b8a4c8d76649e420cd32eca940cf418ff4",
    ),
    "postfix-doc": (
        "postfix-doc_3.7.11-0+deb12u1_all.deb",
        "6b07bcc68991703acf747dc2500355bdd02aef0a048419b939752c39faf47d8d",
    ),
    "exim4-doc-html": (
        "exim4-doc-html_4.96-1_all.deb",
        "f0613395fd73c3c278b619c8162c5a183e7874cbfdebe3614b4b3339d5d8a120",
    ),
    "racket-doc": (
        "racket-doc_8.7+dfsg1-1_all.deb",
        "d50139b4bf806cd280bd18146ca2e7579cede5da23cc7f5c663044596af4e00f",
    ),
    "python-scipy-doc": (
        "python-scipy-doc_1.10.1-2_all.deb",
        "a237fdcef1675622f1a5d8a291c64feba140615130ee625554f94772d4ea3ad7",
    ),
    "python-statsmodels-doc": (
        "python-statsmodels-doc_0.13.5+dfsg-7_all.deb",
        "4167a3e13347343b9f0a6677fc804ecad80dd735d17bc051829610f6f1bc2afb",
    ),
    "maxima-doc": (
        "maxima-doc_5.46.0-11_all.deb",
        "01a726b693a7e465a62040ac5ade4762194d7553524231d77cd1fcd4a69a75b9",
    ),
    "python-dask-doc": (
        "python-dask-doc_2022.12.1+dfsg-2_all.deb",
        "81fc4cc36bfc939ed9ff28c2423d921909cfbef1af69055131b79ab69a33b615",
    ),
    "python-celery-doc": (
        "python-celery-doc_5.2.6-5_all.deb",
        "820d22b28d4f15c08305e21dbb04bdc626e3f6d3f2ec0c295d56e070febd7dc4",
    ),
    "python-werkzeug-doc": (
        "python-werkzeug-doc_2.2.2-3+deb12u1_all.deb",
        "5aeffdfdf257911e3ade253d2b6cc3f98a06df3bec1332efdbc3fbd578530230",
    ),
    "python-flask-doc": (
        "python-flask-doc_2.2.2-3_all.deb",
        "0659f6a04b15fe3f907150cadc0399fe987c790e722e001b73f7e49fa5ecca15",
    ),
    "developers-reference": (
        "developers-reference_12.18_all.deb",
        "0dba82f6fa16e373f2a84ad07e7971aa9264ad2e7d2ae46b37edbc9c5fd57e2e",
    ),
    "python-mpmath-doc": (
        "python-mpmath-doc_1.2.1-2_all.deb",
        "3895ea83b1edc71fae2a4be29522b9dd28daf6aad5293a2249d46742ffbbfeed",
    ),
    "python-scrapy-doc": (
        "python-scrapy-doc_2.8.0-2_all.deb",
        "aaa1903b7ebfbcf6c2962682044c9d486c71dc64a7420f10e56cd0bca4b8f5f3",
    ),
    "python-ipython-doc": (
        "python-ipython-doc_8.5.0-4_all.deb",
        "33b74c655f10f47c8434de1b2e09d1f7f8928758b7ae86a89c3b53b75338cdb6",
    ),
    "cython-doc": (
        "cython-doc_0.29.32-2_all.deb",
        "1cf56821a891f252e9fac8295d97cf12af6f3c54239c0c5b41524e18305a6e3c",
    ),
    "python-xarray-doc": (
        "python-xarray-doc_2023.01.0-1.1_all.deb",
        "1d42be6f1c4b0c4c5b37a4b8884d7483d9995d8b6362ee490579806d8b4ba9e2",
    ),
    "python-pygame-doc": (
        "python-pygame-doc_2.1.2+dfsg-5_all.deb",
        "8b8d060ee89404aa0a6344321c1ed7310c7af251bd4c9f571fac4e7601354677",
    ),
    "python-rdflib-doc": (
        "python-rdflib-doc_6.1.1-1_all.deb",
        "23457a632a8349e3d050a661b713824e95088266ac904c60713105e0c3ee8e09",
    ),
    "python-tables-doc": (
        "python-tables-doc_3.7.0-5_all.deb",
        "833f4f431283b806b1d1cf3f76c4f52786055181b3bef65aefdff725c8a686a0",
    ),
    "python-lmfit-doc": (
        "python-lmfit-doc_1.1.0-1_all.deb",
        "c7ed21ecd1b3aedf5592bdf06b548e89a20c3432bde6539c1326917a874df6ff",
    ),
    "python-sqlobject-doc": (
        "python-sqlobject-doc_3.10.1+dfsg-2_all.deb",
        "de799bbe8e8ac5c7d96dcef39bff9fb9402739fe189a39a5beba87d0e5a0be24",
    ),
    "python-biopython-doc": (
        "python-biopython-doc_1.80+dfsg-4_all.deb",
        "350b871fa68e73e7dee78d6affec8a27bcbb31cd690843a82aefe187dab1712f",
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
    r"(?:^|\s)(?:sphinxsidebar\w*|related|footer|navigation|nav|toc\w*|highlight[-\w]*"
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


_PLAIN_WORD = re.compile(r"^[(\"'“‘]?[A-Za-z][a-z'’-]*[.,;:!?)\"'”’]*$")


def is_prose(paragraph: str, min_words: int = 8, min_share: float = 0.65) -> bool:
    """At least ``min_words`` words, and at least ``min_share`` of them plain words.

    Plain words are letters only (a capital first at most) with edge punctuation, so code
    signatures, enum lists and file paths (``arg(const QString &a)``, ``SectionDefault,``)
    fail while technical prose passes.
    """
    tokens = paragraph.split()
    if len(tokens) < min_words:
        return False
    return sum(1 for t in tokens if _PLAIN_WORD.match(t)) >= min_share * len(tokens)


def markup_paragraphs(markup: str, min_words: int = 8) -> list[str]:
    """Prose paragraphs (`is_prose`, at least ``min_words`` words) of one HTML or XML page."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return [p for p in parser.paragraphs if is_prose(p, min_words)]
