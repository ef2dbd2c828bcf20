"""The demo candidate pool: a heterogeneous, web-like mix of real sources plus labelled bad data.

Normal documents come from ≥ 6 real sources (Wikipedia leads, fortunes, Shakespeare, wikitext
articles, ABC news, NYT/Reddit/Amazon paragraphs, QA documents, CoQA, Quoref, Cosmos QA, DROP,
XSum). About `PLANTED_RATE` of the pool is planted bad data, each planted record labelled in
``metadata["planted"]`` (normal records have no such key). The targets' evaluation text is kept
out: no SQuAD dev paragraphs and no LAMBADA-style passages unless ``include_target_text``, and
no document sharing a 13-word span with them (`decontam.py`; DROP and CoQA reuse SQuAD text).

Size presets: ``tiny`` (~1,000 docs, for tests), ``small`` (~8,000, default), ``full`` (every
document available, at most `FULL_CAP_PER_GROUP` per group: > 50,000). All sampling is seeded;
the same seed gives the same pool.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from data_catalog.sources import SOURCES, bigbench, planted
from data_catalog.sources.cache import SourceError, cache_dir
from data_catalog.sources.decontam import Decontaminator
from data_catalog.sources.lambada import is_lambada_passage, lambada_examples
from data_catalog.sources.text import text_key

_log = logging.getLogger(__name__)
# small is sized so that `make demo` (4 proxies, features, scores, every selector) finishes in
# under 15 minutes on a 2-core CPU; see the README's measured figures.
PRESETS: dict[str, int | None] = {"tiny": 1_000, "small": 8_000, "full": None}
PLANTED_RATE = 0.035
FULL_CAP_PER_GROUP = 12_000  # keeps the 21k short fortunes from dominating the full pool
# Share of each normal group in tiny/small pools (full takes everything).
NORMAL_WEIGHTS = {
    "wiki_leads": 0.15,
    "fortunes": 0.10,
    "shakespeare": 0.10,
    "gensim_enwiki": 0.04,
    "gensim_lee": 0.02,
    "squad_shifts": 0.14,
    "squad_qa": 0.06,
    "coqa": 0.03,
    "quoref": 0.08,
    "cosmos_qa": 0.09,
    "drop": 0.09,
    "xsum": 0.05,
    "fables": 0.01,  # only with include_target_text
    "squad_dev": 0.04,  # only with include_target_text
}
# Share of each planted kind among planted documents.
PLANTED_WEIGHTS = {
    "wrong_answer": 0.25,
    "spam": 0.12,
    "ascii_art": 0.12,
    "encoded": 0.12,
    "garbled": 0.12,
    "entity_swap": 0.17,
    "rot13": 0.10,
}
_SIMPLE_GROUPS = ("wiki_leads", "fortunes", "shakespeare", "gensim_enwiki", "gensim_lee")
_BB_GROUPS: dict[str, Callable[[Path], Iterator[dict[str, Any]]]] = {
    "squad_shifts": bigbench.squad_pool_paragraphs,
    "coqa": bigbench.coqa_stories,
    "quoref": bigbench.quoref_passages,
    "cosmos_qa": bigbench.cosmos_passages,
    "drop": bigbench.drop_passages,
    "xsum": bigbench.xsum_articles,
    "fables": bigbench.fables,
}
_PLANTED_SOURCES = {
    "spam": "spam_apache",
    "ascii_art": "mnist_ascii",
    "garbled": "gensim_stems",
    "entity_swap": "knowledge_conflicts",
    "rot13": "fortunes_rot13",
}


class _Roots:
    """Where each source's files are: fixtures only, or the cache (fetching once)."""

    def __init__(self, cache: Path | None, fixtures_dir: Path | None) -> None:
        self.cache = Path(cache) if cache is not None else cache_dir()
        self.fixtures_dir = Path(fixtures_dir) if fixtures_dir is not None else None
        self._memo: dict[str, Path | None] = {}

    def get(self, name: str) -> Path | None:
        if name not in self._memo:
            source = SOURCES[name]
            if self.fixtures_dir is not None:
                self._memo[name] = source.fixture_path(self.fixtures_dir)
            else:
                self._memo[name] = source.fetch(self.cache)
        return self._memo[name]


def _normal_groups(
    roots: _Roots, seed: int, include_target_text: bool
) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Normal documents per group, and the wrong-answer documents made alongside QA ones."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for name in _SIMPLE_GROUPS:
        root = roots.get(name)
        groups[name] = list(SOURCES[name].parse(root)) if root is not None else []
    bb = roots.get("squad_shifts")
    if bb is None:
        return groups, []
    for name, parse in _BB_GROUPS.items():
        groups[name] = [r for r in parse(bb) if include_target_text or not is_lambada_passage(r)]
    groups["squad_qa"], wrong = planted.qa_documents(bb, seed)
    groups["squad_dev"] = (
        list(bigbench.squad_paragraphs(bb, ("dev",))) if include_target_text else []
    )
    return groups, wrong


def _allocate(total: int, weights: dict[str, float], available: dict[str, int]) -> dict[str, int]:
    """Split ``total`` by ``weights``, capped by what is available; shortfalls are re-spread."""
    quota = {k: 0 for k in weights}
    open_keys = [k for k in weights if available.get(k, 0) > 0 and weights[k] > 0]
    remaining = min(total, sum(available.get(k, 0) for k in open_keys))
    while remaining > 0 and open_keys:
        wsum = sum(weights[k] for k in open_keys)
        given = 0
        for k in open_keys:
            share = max(1, round(remaining * weights[k] / wsum))
            take = min(share, available[k] - quota[k], remaining - given)
            quota[k] += take
            given += take
        remaining -= given
        open_keys = [k for k in open_keys if quota[k] < available[k]]
        if given == 0:
            break
    return quota


def _sample(
    items: list[dict[str, Any]],
    n: int,
    seed: int,
    salt: str,
    keep: Callable[[str], bool] | None = None,
) -> list[dict[str, Any]]:
    """``n`` items in a seeded random order, skipping those ``keep`` rejects; original order."""
    order = list(range(len(items)))
    random.Random(f"{salt}:{seed}").shuffle(order)
    chosen: list[int] = []
    for i in order:
        if len(chosen) >= n:
            break
        if keep is None or keep(items[i]["text"]):
            chosen.append(i)
    return [items[i] for i in sorted(chosen)]


def _protected_texts(roots: _Roots) -> list[str]:
    """Target evaluation text the pool must not contain: SQuAD dev contexts, LAMBADA passages."""
    bb = roots.get("squad_dev")
    if bb is None:
        return []
    texts = [r["text"] for r in bigbench.squad_paragraphs(bb, ("dev",))]
    texts += [ex["prompt"] + ex["completion"] for ex in lambada_examples(bb)]
    return texts


def build_demo_pool(
    size: str = "small",
    seed: int = 0,
    cache: Path | None = None,
    include_target_text: bool = False,
    fixtures_dir: Path | None = None,
) -> list[dict[str, Any]]:
    """The whole pool as a list (see `iter_demo_pool`)."""
    if size not in PRESETS:
        raise SourceError(f"unknown pool size {size!r}; known: {', '.join(PRESETS)}")
    roots = _Roots(cache, fixtures_dir)
    groups, wrong = _normal_groups(roots, seed, include_target_text)
    keep = None if include_target_text else Decontaminator(_protected_texts(roots)).is_clean
    available = {k: len(v) for k, v in groups.items()}
    target = PRESETS[size]
    if target is None:
        quota = {k: min(n, FULL_CAP_PER_GROUP) for k, n in available.items()}
    else:
        quota = _allocate(round(target * (1 - PLANTED_RATE)), NORMAL_WEIGHTS, available)
    normal: list[dict[str, Any]] = []
    spare: list[dict[str, Any]] = []  # unselected real text, the raw material for encoded blobs
    for name, items in groups.items():
        chosen = _sample(items, quota.get(name, 0), seed, name, keep)
        normal.extend(chosen)
        if name in ("wiki_leads", "xsum", "fortunes"):
            picked = {id(r) for r in chosen}
            spare.extend(r for r in items if id(r) not in picked)
    if not spare:
        spare = list(normal)

    planted_pool: dict[str, list[dict[str, Any]]] = {"wrong_answer": wrong}
    for kind, source_name in _PLANTED_SOURCES.items():
        root = None
        try:
            root = roots.get(source_name)
        except SourceError as exc:
            if kind != "spam":
                raise
            _log.warning("planting no spam: %s", exc)  # the pool is still valid without it
        planted_pool[kind] = list(SOURCES[source_name].parse(root)) if root is not None else []
    planted_pool["encoded"] = spare
    n_planted = round(len(normal) * PLANTED_RATE / (1 - PLANTED_RATE))
    p_quota = _allocate(n_planted, PLANTED_WEIGHTS, {k: len(v) for k, v in planted_pool.items()})
    bad: list[dict[str, Any]] = []
    for kind, items in planted_pool.items():
        chosen = _sample(items, p_quota.get(kind, 0), seed, f"planted:{kind}", keep)
        if kind == "encoded":
            rng = random.Random(f"encoded:{seed}")
            chosen = [planted.encode_blob(r, rng) for r in chosen]
        bad.extend(chosen)

    pool: list[dict[str, Any]] = []
    seen: set[str] = set()
    for rec in normal + bad:
        key = text_key(rec["text"])
        if key not in seen:
            seen.add(key)
            pool.append(rec)
    random.Random(f"shuffle:{seed}").shuffle(pool)
    return pool


def iter_demo_pool(
    size: str = "small",
    seed: int = 0,
    cache: Path | None = None,
    include_target_text: bool = False,
    fixtures_dir: Path | None = None,
) -> Iterator[dict[str, Any]]:
    """Records ``{"text", "source", "license", "metadata"}`` of the seeded demo pool.

    ``fixtures_dir`` (``tests/fixtures/sources``) builds from the committed excerpts only, with
    no network; otherwise sources are fetched into ``cache`` (default `cache_dir()`) once.
    """
    yield from build_demo_pool(size, seed, cache, include_target_text, fixtures_dir)
