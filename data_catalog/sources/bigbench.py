"""BIG-bench (PyPI sdist ``bigbench==1.0.0``): the paper's target tasks and web-like passages.

The 358 MB sdist holds only data. ``fetch`` downloads it once and extracts just the task files
listed in `TASK_FILES` (one streaming pass, ~160 MB) into ``cache/extracted/bigbench-1.0.0``.
The parsers here take that folder, or any folder laid out like it (the test fixtures), and
yield records. Each task file carries BIG-bench's canary string; it is never copied into text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from data_catalog.sources.cache import Artifact, SourceError, extract_once, fetch_artifact
from data_catalog.sources.text import chunk_text, dedup, make_record

ARTIFACT = Artifact(
    project="bigbench",
    filename="bigbench-1.0.0.tar.gz",
    sha256="1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2",
    url="https://files.pythonhosted.org/packages/95/f8/c019b3579df548a04cac12342cfcb878e50ddf6"
    "cfcd7fddba8cfc721c157/bigbench-1.0.0.tar.gz",
)
_PREFIX = "bigbench-1.0.0/bigbench/"
SQUAD_FILES = {
    "dev": "squaddev_v1.1.json",
    "new_wiki": "new_wiki_v1.0.json",
    "nyt": "nyt_v1.0.json",
    "reddit": "reddit_v1.0.json",
    "amazon": "amazon_reviews_v1.0.json",
}
NI = "natural_instructions/subtask0"
TASK_FILES = (
    *(f"squad_shifts/{name}" for name in SQUAD_FILES.values()),
    "cs_algorithms/lcs/task.json",
    "cs_algorithms/valid_parentheses/task.json",
    "qa_wikidata/task.json",
    "coqa_conversational_question_answering/coqa.test.json",
    "understanding_fables/task.json",
    "contextual_parametric_knowledge_conflicts/task.json",
    "mnist_ascii/task.json",
    f"{NI}02_quoref_answer_generation/task.json",
    f"{NI}24_cosmosqa_answer_generation/task.json",
    f"{NI}28_drop_answer_generation/task.json",
    "gem/xsum/task.json",
)
_VIA = " (via BIG-bench, Apache-2.0)"
LICENSES = {
    "squad_dev": "CC BY-SA 4.0 (SQuAD v1.1)" + _VIA,
    "squad_shifts": "CC BY 4.0 (SQuADShifts)" + _VIA,
    "coqa": "CoQA: CC BY-SA 4.0 / MSR-LA / RACE / Apache-2.0 by domain" + _VIA,
    "quoref": "CC BY 4.0 (Quoref)" + _VIA,
    "cosmos_qa": "CC BY 4.0 (Cosmos QA)" + _VIA,
    "drop": "CC BY-SA 4.0 (DROP)" + _VIA,
    "xsum": "CC BY-SA 4.0 (GEM XSum, BBC articles)" + _VIA,
    "fables": "Apache-2.0 (BIG-bench understanding_fables)",
    "knowledge_conflicts": "CC BY-SA 3.0 (Natural Questions, entity-swapped)" + _VIA,
    "mnist_ascii": "CC BY-SA 3.0 (MNIST)" + _VIA,
    "qa_wikidata": "CC0 (Wikidata)" + _VIA,
    "cs_algorithms": "Apache-2.0 (BIG-bench cs_algorithms)",
}


def fetch(cache: Path) -> Path:
    """Download the sdist (once) and extract `TASK_FILES` (once); return the extracted root.

    PyPI stopped serving ``bigbench-1.0.0.tar.gz`` (HTTP 403 since 2026-12; only 0.0.1 is
    listed), so this works only where the file is already cached or copied in by hand. The
    built-in targets and the demo pool no longer use BIG-bench (see `olmo_eval.py`).
    """
    try:
        archive = fetch_artifact(ARTIFACT, cache)
    except SourceError as exc:
        raise SourceError(
            f"BIG-bench 1.0.0 is no longer served by PyPI ({str(exc)[:200]}); copy "
            f"{ARTIFACT.filename} into {Path(cache) / 'downloads'} to use the BIG-bench sources"
        ) from exc
    wanted = {_PREFIX + "benchmark_tasks/" + rel for rel in TASK_FILES}

    def select(name: str) -> str | None:
        return name[len(_PREFIX) :] if name in wanted else None

    return extract_once(archive, Path(cache) / "extracted" / "bigbench-1.0.0", select)


def task_path(root: Path, rel: str) -> Path:
    """Locate ``benchmark_tasks/<rel>`` under an extracted root (or the tasks folder itself)."""
    root = Path(root)
    for base in (root / "benchmark_tasks", root):
        if (base / rel).exists():
            return base / rel
    raise SourceError(f"BIG-bench file {rel} not found under {root}; run fetch() first")


def load_json(root: Path, rel: str) -> dict[str, Any]:
    """Parse one BIG-bench JSON file."""
    with open(task_path(root, rel), encoding="utf-8") as fh:
        return json.load(fh)


def examples(root: Path, rel: str) -> list[dict[str, Any]]:
    """The ``examples`` list of a BIG-bench ``task.json``."""
    return load_json(root, rel).get("examples", [])


def best_target(example: dict[str, Any]) -> str:
    """The gold answer: ``target`` (first one when a list) or the top-scored choice."""
    target = example.get("target")
    if isinstance(target, list) and target:
        return str(target[0])
    if isinstance(target, str):
        return target
    scores = example.get("target_scores") or {}
    if not scores:
        raise SourceError(f"example has neither target nor target_scores: {example}")
    return str(max(scores, key=lambda k: scores[k]))


def squad_articles(root: Path, split: str) -> list[dict[str, Any]]:
    """SQuAD-format articles (``data`` → ``paragraphs`` → ``qas``) of one squad_shifts file."""
    return load_json(root, f"squad_shifts/{SQUAD_FILES[split]}")["data"]


def squad_paragraphs(root: Path, splits: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """One record per SQuAD-format paragraph; ``dev`` is the SQuAD target's evaluation text."""
    for split in splits:
        source = "squad_dev" if split == "dev" else f"squad_shifts_{split}"
        license = LICENSES["squad_dev" if split == "dev" else "squad_shifts"]
        for article in squad_articles(root, split):
            for para in article["paragraphs"]:
                yield make_record(
                    para["context"], source, license, title=str(article.get("title", ""))
                )


def squad_pool_paragraphs(root: Path) -> Iterator[dict[str, Any]]:
    """Non-dev squad_shifts paragraphs (NYT, Reddit, Amazon): the pool's web-like QA contexts.

    new_wiki is kept out: its questions feed the QA documents (correct and planted wrong).
    """
    return dedup(squad_paragraphs(root, ("nyt", "reddit", "amazon")))


def coqa_stories(root: Path, origins: tuple[str, ...] | None = None) -> Iterator[dict[str, Any]]:
    """CoQA test stories (700: race, reddit, science, mctest, gutenberg, cnn, wikipedia)."""
    data = load_json(root, "coqa_conversational_question_answering/coqa.test.json")["data"]
    for story in data:
        origin = story.get("source", "")
        if origins is None or origin in origins:
            for part in chunk_text(story["story"]):
                yield make_record(part, "coqa", LICENSES["coqa"], origin=origin)


def _ni_passages(root: Path, task: str, source: str, label: str) -> Iterator[dict[str, Any]]:
    """Unique passages of a natural_instructions QA task (``<label>: ...\\nQuestion: ...``)."""
    seen: set[str] = set()
    for ex in examples(root, f"{NI}{task}/task.json"):
        passage = ex["input"].split("\nQuestion:", 1)[0].strip()
        passage = passage.removeprefix(f"{label}:").strip()
        if passage and passage not in seen:
            seen.add(passage)
            for part in chunk_text(passage):
                yield make_record(part, source, LICENSES[source])


def quoref_passages(root: Path) -> Iterator[dict[str, Any]]:
    """Quoref Wikipedia passages (~2.9k unique)."""
    return _ni_passages(root, "02_quoref_answer_generation", "quoref", "Passage")


def cosmos_passages(root: Path) -> Iterator[dict[str, Any]]:
    """Cosmos QA blog narratives (~6k unique)."""
    return _ni_passages(root, "24_cosmosqa_answer_generation", "cosmos_qa", "Context")


def drop_passages(root: Path) -> Iterator[dict[str, Any]]:
    """DROP Wikipedia passages (sports, history; ~3.5k unique)."""
    return _ni_passages(root, "28_drop_answer_generation", "drop", "Passage")


def xsum_articles(root: Path) -> Iterator[dict[str, Any]]:
    """GEM XSum BBC news articles (1k), split into passages."""
    for ex in examples(root, "gem/xsum/task.json"):
        for part in chunk_text(ex["input"]):
            yield make_record(part, "xsum", LICENSES["xsum"])


def fables(root: Path) -> Iterator[dict[str, Any]]:
    """Aesop-style fables (189), without the task's trailing question."""
    for ex in examples(root, "understanding_fables/task.json"):
        text = ex["input"].replace("What is the moral of this story?", "").strip()
        yield make_record(text, "fables", LICENSES["fables"])


def entity_swapped_passages(root: Path) -> Iterator[dict[str, Any]]:
    """Wikipedia passages with one entity swapped for another: fluent but factually wrong."""
    for ex in examples(root, "contextual_parametric_knowledge_conflicts/task.json"):
        context = ex["input"].split("Context:", 1)[-1].strip()
        scores = ex.get("target_scores") or {}
        original = [k for k, v in scores.items() if not v]
        yield make_record(
            context,
            "knowledge_conflicts",
            LICENSES["knowledge_conflicts"],
            planted="entity_swap",
            swapped_in=best_target(ex),
            original=original[0] if original else "",
        )


def mnist_ascii_art(root: Path) -> Iterator[dict[str, Any]]:
    """MNIST digits drawn in ASCII characters (70k): text with no language in it."""
    for ex in examples(root, "mnist_ascii/task.json"):
        yield make_record(
            ex["input"].strip("\n"),
            "mnist_ascii",
            LICENSES["mnist_ascii"],
            planted="ascii_art",
            digit=best_target(ex),
        )


def parse_passages(root: Path) -> Iterator[dict[str, Any]]:
    """All pool passages from BIG-bench (no target evaluation text, no planted text)."""
    yield from squad_pool_paragraphs(root)
    yield from coqa_stories(root)
    yield from quoref_passages(root)
    yield from cosmos_passages(root)
    yield from drop_passages(root)
    yield from xsum_articles(root)
    yield from fables(root)
