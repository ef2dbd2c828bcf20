"""The four built-in target tasks, mirroring the DsDm paper's targets, as prompt/completion pairs.

- ``squad``: the real SQuAD v1.1 dev set (context + question → answer).
- ``cs_algorithms``: BIG-bench ``lcs`` and ``valid_parentheses``, the exact task DsDm used.
- ``jeopardy``: ``qa_wikidata`` clues ("The continent of Guinea is" → " Africa"), with answers
  that leak into the clue masked; no real Jeopardy archive is packaged anywhere.
- ``lambada``: last word of real narrative passages (see `lambada.py`).

Examples come from the cache (downloading once) or, with ``fixtures_dir``, from the committed
excerpts only. The selection/held-out split is the catalog's job, not ours.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from data_catalog.ingest import check_positive_int
from data_catalog.sources import bigbench
from data_catalog.sources.cache import SourceError, cache_dir
from data_catalog.sources.lambada import lambada_examples

BUILTIN_TARGETS: tuple[str, ...] = ("squad", "cs_algorithms", "jeopardy", "lambada")
DEFAULT_SIZES = {"squad": 2000, "cs_algorithms": 1320, "jeopardy": 2000, "lambada": 2000}
MASK = "___"
MAX_ANSWER_CHARS = 60


def qa_prompt(context: str, question: str) -> str:
    """The reading-comprehension prompt format shared by the SQuAD target and the QA pool docs."""
    return f"{context.strip()}\n\nQuestion: {question.strip()}\nAnswer:"


def squad_examples(root: Path) -> list[dict[str, str]]:
    """Every SQuAD v1.1 dev question with its first gold answer."""
    out = []
    for article in bigbench.squad_articles(root, "dev"):
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                if qa.get("answers"):
                    answer = qa["answers"][0]["text"].strip()
                    out.append(
                        {
                            "prompt": qa_prompt(para["context"], qa["question"]),
                            "completion": " " + answer,
                        }
                    )
    return out


def cs_algorithms_examples(root: Path) -> list[dict[str, str]]:
    """``lcs`` (320) then ``valid_parentheses`` (1,000), in BIG-bench's own prompt format."""
    out = []
    for sub in ("lcs", "valid_parentheses"):
        task = bigbench.load_json(root, f"cs_algorithms/{sub}/task.json")
        prefix = task.get("task_prefix", "").strip()
        in_prefix = task.get("example_input_prefix", "\n")
        out_prefix = task.get("example_output_prefix", "\n").rstrip()
        for ex in task["examples"]:
            prompt = f"{prefix}{in_prefix}{ex['input']}{out_prefix}"
            out.append({"prompt": prompt, "completion": " " + bigbench.best_target(ex)})
    return out


def mask_answer(clue: str, answers: list[str]) -> str:
    """Replace whole-word occurrences of any answer in the clue with `MASK`."""
    for answer in sorted(answers, key=len, reverse=True):
        if answer.strip():
            pattern = rf"(?<!\w){re.escape(answer.strip())}(?!\w)"
            clue = re.sub(pattern, MASK, clue, flags=re.IGNORECASE)
    return clue


def jeopardy_examples(root: Path) -> list[dict[str, str]]:
    """qa_wikidata clue → answer, answers leaking into the clue masked."""
    out = []
    for ex in bigbench.examples(root, "qa_wikidata/task.json"):
        target = ex.get("target")
        answers = [str(t) for t in target] if isinstance(target, list) else [str(target or "")]
        answer = answers[0].strip()
        if not answer or len(answer) > MAX_ANSWER_CHARS:
            continue
        out.append(
            {"prompt": mask_answer(ex["input"].strip(), answers), "completion": " " + answer}
        )
    return out


_BUILDERS = {
    "squad": squad_examples,
    "cs_algorithms": cs_algorithms_examples,
    "jeopardy": jeopardy_examples,
    "lambada": lambada_examples,
}


def subsample(items: list[dict[str, str]], n: int, seed: int, salt: str) -> list[dict[str, str]]:
    """``n`` items chosen by a seeded RNG, kept in their original order."""
    if n >= len(items):
        return list(items)
    rng = random.Random(f"{salt}:{seed}")
    return [items[i] for i in sorted(rng.sample(range(len(items)), n))]


def builtin_target_examples(
    name: str,
    cache: Path | None = None,
    max_examples: int | None = None,
    seed: int = 0,
    fixtures_dir: Path | None = None,
) -> list[dict[str, str]]:
    """Examples ``{"prompt", "completion"}`` of a built-in target task.

    Without ``max_examples`` a default size applies (`DEFAULT_SIZES`); either way the subsample
    is deterministic in ``seed``. With ``fixtures_dir`` (``tests/fixtures/sources``) only the
    committed excerpts are read and nothing is downloaded.
    """
    if name not in _BUILDERS:
        raise SourceError(f"unknown built-in target {name!r}; known: {', '.join(BUILTIN_TARGETS)}")
    if max_examples is not None:
        check_positive_int("--max-examples", max_examples)
    if fixtures_dir is not None:
        root = Path(fixtures_dir) / "bigbench"
        if not root.exists():
            raise SourceError(f"no BIG-bench fixtures under {fixtures_dir}")
    else:
        root = bigbench.fetch(Path(cache) if cache is not None else cache_dir())
    items = _BUILDERS[name](root)
    n = max_examples if max_examples is not None else DEFAULT_SIZES[name]
    return subsample(items, n, seed, salt=name)
