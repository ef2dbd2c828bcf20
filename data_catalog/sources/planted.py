"""Bad data made from real text, for planting in the demo pool with a ground-truth label.

Two kinds are built here rather than read from a source:
- ``wrong_answer``: a real SQuAD-style context and question (squad_shifts new_wiki, never the SQuAD
  dev set) followed by *another* question's answer: the mislabelled data DsDm should avoid. The
  same split yields correct QA documents in the same format, the helpful counterpart.
- ``encoded``: a real passage turned into a base64 or hex blob.
The other planted kinds (spam, ASCII art, garble, entity swaps, ROT13) are whole sources.
"""

from __future__ import annotations

import base64
import random
import textwrap
from pathlib import Path
from typing import Any

from data_catalog.sources import bigbench
from data_catalog.sources.builtin_targets import qa_prompt
from data_catalog.sources.text import make_record, text_key

QA_SOURCE = "squad_shifts_new_wiki_qa"
WRONG_SHARE = 4  # one paragraph in WRONG_SHARE is used for a wrong-answer document


def qa_documents(root: Path, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(correct QA documents, wrong-answer documents), one question per new_wiki paragraph.

    Which paragraphs become wrong-answer documents depends on a hash of the paragraph, not the
    seed, so the two lists never share a context; the seed picks questions and wrong answers.
    """
    rng = random.Random(f"qa_documents:{seed}")
    license = bigbench.LICENSES["squad_shifts"]
    paragraphs = [
        (para["context"], [qa for qa in para["qas"] if qa.get("answers")])
        for article in bigbench.squad_articles(root, "new_wiki")
        for para in article["paragraphs"]
    ]
    paragraphs = [(ctx, qas) for ctx, qas in paragraphs if qas]
    all_answers = [
        (i, qa["answers"][0]["text"].strip()) for i, (_, qas) in enumerate(paragraphs) for qa in qas
    ]
    correct: list[dict[str, Any]] = []
    wrong: list[dict[str, Any]] = []
    for i, (context, qas) in enumerate(paragraphs):
        qa = rng.choice(qas)
        gold = {a["text"].strip().lower() for a in qa["answers"]}
        answer = qa["answers"][0]["text"].strip()
        prompt = qa_prompt(context, qa["question"])
        if int(text_key(context)[:8], 16) % WRONG_SHARE:
            correct.append(make_record(f"{prompt} {answer}", QA_SOURCE, license))
            continue
        for _ in range(50):  # another paragraph's answer, different from every gold answer
            j, other = rng.choice(all_answers)
            if j != i and other.lower() not in gold and other:
                wrong.append(
                    make_record(
                        f"{prompt} {other}",
                        QA_SOURCE,
                        license,
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
