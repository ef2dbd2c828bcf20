"""Bad data made from real text, for planting in the demo pool with a ground-truth label.

Two kinds are built here rather than read from a source:
- ``wrong_answer``: a real story and one of its real CoQA questions followed by *another*
  question's answer: the mislabelled data DsDm should avoid. The same split yields correct QA
  documents in the same format (SQuAD's reading-comprehension layout), the helpful counterpart.
- ``encoded``: a real passage turned into a base64 or hex blob.
The other planted kinds (spam, garble, entity swaps, ROT13) come from sources or `swap.py`.
"""

from __future__ import annotations

import base64
import random
import textwrap
from collections.abc import Iterable
from typing import Any

from data_catalog.sources.builtin_targets import qa_prompt
from data_catalog.sources.text import make_record, text_key

QA_SOURCE = "coqa_qa"
WRONG_SHARE = 4  # one story in WRONG_SHARE is used for a wrong-answer document


def qa_documents(
    stories: Iterable[dict[str, Any]], seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(correct QA documents, wrong-answer documents), one question per story.

    ``stories`` are records whose ``metadata["turns"]`` hold ``(question, answer)`` pairs (CoQA
    stories). Which stories become wrong-answer documents depends on a hash of the story, not
    the seed, so the two lists never share a context; the seed picks questions and answers.
    """
    rng = random.Random(f"qa_documents:{seed}")
    stories = [s for s in stories if s["metadata"].get("turns")]
    all_answers = [
        (i, str(a).strip()) for i, s in enumerate(stories) for _, a in s["metadata"]["turns"]
    ]
    correct: list[dict[str, Any]] = []
    wrong: list[dict[str, Any]] = []
    for i, story in enumerate(stories):
        question, answer = rng.choice(story["metadata"]["turns"])
        answer = str(answer).strip()
        prompt = qa_prompt(story["text"], question)
        if int(text_key(story["text"])[:8], 16) % WRONG_SHARE:
            correct.append(make_record(f"{prompt} {answer}", QA_SOURCE, story["license"]))
            continue
        for _ in range(50):  # another story's answer, different from the gold one
            j, other = rng.choice(all_answers)
            if j != i and other and other.lower() != answer.lower():
                wrong.append(
                    make_record(
                        f"{prompt} {other}",
                        QA_SOURCE,
                        story["license"],
                        planted="wrong_answer",
                        correct_answer=answer,
                    )
                )
                break
    return correct, wrong


def encode_blob(record: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A real passage as a base64 or hex blob (about 1,500 characters at most)."""
    raw = record["text"].encode("utf-8")[:700]
    if rng.random() < 0.5:
        encoding, blob = "base64", base64.b64encode(raw).decode("ascii")
        text = "\n".join(textwrap.wrap(blob, 76))
    else:
        encoding, blob = "hex", raw.hex()
        text = "\n".join(" ".join(textwrap.wrap(line, 4)) for line in textwrap.wrap(blob, 32))
    return make_record(
        text,
        "encoded_blob",
        record["license"],
        planted="encoded",
        encoding=encoding,
        encoded_from=record["source"],
    )
