"""Target tasks: parse examples (JSONL prompt/completion or text, SQuAD JSON), hash, split, store.

A task is versioned by the sha256 of its examples: adding the same examples under the same name
reuses the stored version, different examples make version N+1. Exact duplicates (prompt and
completion equal after whitespace normalisation) are dropped and counted before hashing. Every
example gets a seeded split into `selection` (used to compute scores) and `heldout` (used only
to evaluate); the split moves whole content-hash groups (examples sharing a prompt), so no
prompt or text is ever on both sides.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from data_catalog.catalog import Catalog
from data_catalog.errors import InputError
from data_catalog.ingest import check_positive_int, normalise
from data_catalog.jsontext import JsonProblem, parse_json

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def example_id(prompt: str, completion: str) -> str:
    return hashlib.sha256(json.dumps([prompt, completion]).encode("utf-8")).hexdigest()[:16]


def content_hash(examples: Iterable[tuple[str, str]]) -> str:
    """sha256 over the ordered examples: the task's identity."""
    h = hashlib.sha256()
    for p, c in examples:
        h.update(json.dumps([p, c]).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def check_split_params(heldout_fraction: object, seed: object) -> None:
    """The held-out fraction is a number strictly between 0 and 1; the seed an int >= 0."""
    if (
        isinstance(heldout_fraction, bool)
        or not isinstance(heldout_fraction, int | float)
        or not 0.0 < heldout_fraction < 1.0  # also refuses NaN
    ):
        raise InputError(
            "--heldout-fraction must be a number between 0 and 1 (exclusive), "
            f"not {heldout_fraction!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"--seed must be a non-negative integer, not {seed!r}")


def split_examples(
    n: int, heldout_fraction: float, seed: int, groups: Sequence[Hashable] | None = None
) -> list[str]:
    """Seeded split labels: about round(n * heldout_fraction) held out, at least one of each.

    Examples with the same `groups` key always land on the same side, so one text can never be
    both selected for and evaluated on. Whole groups are drawn in a seeded order until the
    held-out count is reached; without `groups` each example is its own group, which gives
    exactly the labels earlier versions stored.
    """
    check_split_params(heldout_fraction, seed)
    keys = list(range(n)) if groups is None else list(groups)
    if len(keys) != n:
        raise ValueError(f"{len(keys)} group keys for {n} examples")
    members: dict[Hashable, list[int]] = {}
    for i, key in enumerate(keys):
        members.setdefault(key, []).append(i)
    ordered = list(members.values())
    n_held = int(round(n * heldout_fraction))
    if len(ordered) > 1:
        n_held = min(max(n_held, 1), n - 1)
    labels = ["selection"] * n
    held = 0
    for gi in np.random.default_rng(seed).permutation(len(ordered))[:-1]:
        if held >= n_held:
            break
        for i in ordered[int(gi)]:
            labels[i] = "heldout"
        held += len(ordered[int(gi)])
    return labels


def dedupe_examples(examples: Iterable[tuple[str, str]]) -> tuple[list[tuple[str, str]], int]:
    """(unique examples in input order, number dropped).

    Two examples are duplicates when prompt and completion are equal after Unicode NFC and
    whitespace collapsing; the first spelling is kept. The same prompt with a different
    completion is NOT a duplicate (several valid answers are distinct loss targets), but
    `split_group` keeps such examples on one side of the split.
    """
    seen: set[tuple[str, str]] = set()
    out: list[tuple[str, str]] = []
    n_in = 0
    for p, c in examples:
        n_in += 1
        key = (normalise(p), normalise(c))
        if key not in seen:
            seen.add(key)
            out.append((p, c))
    return out, n_in - len(out)


def split_group(prompt: str, completion: str) -> str:
    """Content hash of the text an example shares with others: its prompt, or its text alone."""
    shared = normalise(prompt) if prompt.strip() else normalise(completion)
    return hashlib.sha256(shared.encode("utf-8")).hexdigest()[:16]


def parse_examples_jsonl(lines: Iterable[str], where: str) -> list[tuple[str, str]]:
    """JSONL records with `prompt` + `completion`, or `text` (all of it carries loss)."""
    out: list[tuple[str, str]] = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        loc = f"{where} line {lineno}"
        try:
            obj = parse_json(line)
        except JsonProblem as exc:
            raise InputError(f"{loc}: {str(exc).replace(', line 1 column', ', column')}") from exc
        if not isinstance(obj, dict):
            raise InputError(f"{loc}: expected a JSON object, found {type(obj).__name__}")
        out.append(_example_from_obj(obj, loc))
    if not out:
        raise InputError(f"{where}: no examples found (empty input)")
    return out


def _no_nul(loc: str, **fields: str) -> None:
    for name, value in fields.items():
        if "\x00" in value:
            raise InputError(f"{loc}: field {name!r} holds a NUL byte (\\u0000), not text")


def _example_from_obj(obj: dict[str, Any], loc: str) -> tuple[str, str]:
    if "completion" in obj:
        prompt, completion = obj.get("prompt", ""), obj["completion"]
        for name, value in (("prompt", prompt), ("completion", completion)):
            if not isinstance(value, str):
                raise InputError(
                    f"{loc}: field {name!r} is {type(value).__name__}, expected a string"
                )
        if not completion.strip():
            raise InputError(f"{loc}: field 'completion' is empty (loss is measured on it)")
        if "prompt" in obj and not prompt.strip():
            raise InputError(
                f"{loc}: field 'prompt' is empty; give a prompt, or a 'text' record when the "
                "whole text carries the loss"
            )
        _no_nul(loc, prompt=prompt, completion=completion)
        return prompt, completion
    if "text" in obj:
        if not isinstance(obj["text"], str):
            raise InputError(
                f"{loc}: field 'text' is {type(obj['text']).__name__}, expected a string"
            )
        if not obj["text"].strip():
            raise InputError(f"{loc}: field 'text' is empty")
        _no_nul(loc, text=obj["text"])
        return "", obj["text"]
    found = ", ".join(sorted(obj)[:10]) or "none"
    raise InputError(f"{loc}: needs 'prompt' and 'completion' (or 'text'); fields found: {found}")


def parse_squad(data: Any, where: str) -> list[tuple[str, str]]:
    """SQuAD-format JSON (data → paragraphs → qas): context + question → first answer.

    Every level is type-checked, so a malformed file is named with its JSON path
    (`data[2].paragraphs[0].qas[5]`) instead of failing inside the loop.
    """
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise InputError(f"{where}: not SQuAD format (expected a top-level 'data' list)")
    out = []
    for ai, article in enumerate(data["data"]):
        loc = _squad_obj(article, f"{where}: data[{ai}]")
        for pi, para in enumerate(_squad_list(article, "paragraphs", loc)):
            ploc = _squad_obj(para, f"{loc}.paragraphs[{pi}]")
            ctx = para.get("context")
            if not isinstance(ctx, str):
                raise InputError(f"{ploc}: missing 'context' (expected a string)")
            for qi, qa in enumerate(_squad_list(para, "qas", ploc)):
                qloc = _squad_obj(qa, f"{ploc}.qas[{qi}]")
                question = qa.get("question", "")
                answers = qa.get("answers") or []
                first = answers[0] if isinstance(answers, list) and answers else None
                if not isinstance(first, dict) or not isinstance(first.get("text"), str):
                    raise InputError(f"{qloc}: no answer text (expected answers[0].text)")
                if not isinstance(question, str):
                    raise InputError(f"{qloc}: 'question' is {type(question).__name__}")
                out.append(squad_example(ctx, question, first["text"]))
    if not out:
        raise InputError(f"{where}: SQuAD file has no questions")
    return out


def _squad_obj(value: Any, loc: str) -> str:
    if not isinstance(value, dict):
        raise InputError(f"{loc}: expected an object, found {type(value).__name__}")
    return loc


def _squad_list(obj: dict[str, Any], key: str, loc: str) -> list[Any]:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise InputError(f"{loc}.{key}: expected a list, found {type(value).__name__}")
    return value


def squad_example(context: str, question: str, answer: str) -> tuple[str, str]:
    return f"{context.strip()}\nQuestion: {question.strip()}\nAnswer:", f" {answer.strip()}"


def read_target_file(path: str | Path, max_examples: int | None = None) -> list[tuple[str, str]]:
    """Examples from a JSONL file (prompt/completion or text) or a SQuAD-format .json file.

    With `max_examples`, only the first that many (checked: a positive integer).
    """
    if max_examples is not None:
        check_positive_int("--max-examples", max_examples)
        return read_target_file(path)[:max_examples]
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"{p} line {line}: invalid UTF-8") from exc
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise InputError(f"{p}: file is empty")
    if p.suffix.lower() == ".json":
        try:
            data = parse_json(text)
        except JsonProblem as exc:
            raise InputError(f"{p}: {exc}") from exc
        return parse_squad(data, str(p))
    if p.suffix.lower() in (".jsonl", ".ndjson"):
        return parse_examples_jsonl(text.split("\n"), str(p))  # not splitlines(): U+2028 is JSON
    raise InputError(f"{p}: unknown target format {p.suffix!r} (known: .jsonl, .json for SQuAD)")


def add_target_task(
    catalog: Catalog,
    name: str,
    examples: list[tuple[str, str]],
    *,
    origin: str,
    seed: int = 0,
    heldout_fraction: float = 0.5,
) -> dict[str, Any]:
    """Validate, de-duplicate, hash, split and store a target task; returns the stored task.

    The returned dict also carries `n_duplicates`: how many input examples were dropped as
    duplicates of an earlier one (see `dedupe_examples`), for the caller to report.
    """
    if not NAME_RE.fullmatch(name or ""):
        raise InputError(
            f"target name {name!r} is not valid: letters, digits, '.', '_' and '-' "
            "(at most 64, starting with a letter or digit)"
        )
    check_split_params(heldout_fraction, seed)
    if not examples:
        raise InputError(f"target task {name!r} has no examples")
    unique, n_dups = dedupe_examples(examples)
    if len(unique) < 2:
        raise InputError(
            f"target task {name!r} needs at least 2 examples (one for selection, one held "
            f"out); it has {len(unique)} distinct after dropping {n_dups} duplicate(s)"
        )
    groups = [split_group(p, c) for p, c in unique]
    if len(set(groups)) < 2:
        raise InputError(
            f"target task {name!r} needs at least 2 distinct prompts: examples sharing a prompt "
            "stay on one side of the selection/held-out split"
        )
    labels = split_examples(len(unique), heldout_fraction, seed, groups=groups)
    task = catalog.save_target_task(
        name,
        unique,
        origin=origin,
        content_hash=content_hash(unique),
        example_ids=[example_id(p, c) for p, c in unique],
        splits=labels,
        split_seed=seed,
        heldout_fraction=heldout_fraction,
    )
    task["n_duplicates"] = n_dups
    return task
