"""Target tasks: duplicate examples are dropped and counted, and no text sits on both sides."""

from __future__ import annotations

import pytest

from data_catalog.errors import InputError
from data_catalog.ingest import normalise
from data_catalog.targets import add_target_task, dedupe_examples, split_examples

BASE = [(f"What is {i} plus {i}?", f" {2 * i}") for i in range(12)]


def _sides(catalog, task_id):
    out: dict[str, set[str]] = {"selection": set(), "heldout": set()}
    for ex in catalog.target_examples(task_id):
        out[ex.split].add(normalise(ex.prompt + ex.completion))
    return out


def test_duplicates_dropped_counted_and_never_on_both_sides(catalog):
    # Every example twice, the copies differing only in whitespace.
    noisy = [(p.replace(" ", "  ") + " ", "\t" + c) for p, c in BASE]
    task = add_target_task(catalog, "dup", BASE + noisy, origin="test", seed=1)
    assert task["n_duplicates"] == len(BASE)
    assert task["n_examples"] == len(BASE)
    sides = _sides(catalog, task["task_id"])
    assert not sides["selection"] & sides["heldout"]
    assert sides["selection"] and sides["heldout"]
    stored = [(e.prompt, e.completion) for e in catalog.target_examples(task["task_id"])]
    assert stored == BASE  # the first spelling of each example is kept, in input order


def test_same_prompt_other_completion_is_kept_but_on_one_side(catalog):
    # Several valid answers to one question are distinct examples, but the prompt text must not
    # be trained on (selection) and evaluated on (held out) at once.
    multi = [(p, c) for p, c in BASE] + [(p, c + " (exactly)") for p, c in BASE[:6]]
    for seed in range(5):
        task = add_target_task(catalog, f"multi{seed}", multi, origin="test", seed=seed)
        assert task["n_duplicates"] == 0 and task["n_examples"] == len(multi)
        side_of: dict[str, str] = {}
        for ex in catalog.target_examples(task["task_id"]):
            assert side_of.setdefault(normalise(ex.prompt), ex.split) == ex.split


def test_text_only_duplicates(catalog):
    texts = [("", f"sentence number {i}.") for i in range(6)]
    task = add_target_task(catalog, "txt", texts + [("", "sentence  number 0. ")], origin="t")
    assert task["n_duplicates"] == 1 and task["n_examples"] == 6


def test_too_few_distinct_examples(catalog):
    with pytest.raises(
        InputError, match="at least 2 examples.*1 distinct after dropping 1 duplicate"
    ):
        add_target_task(catalog, "one", [("q", " a"), ("q ", " a")], origin="t")
    with pytest.raises(InputError, match="needs at least 2 distinct prompts"):
        add_target_task(catalog, "p", [("q", " a"), ("q", " b")], origin="t")


def test_dedupe_examples_and_grouped_split_are_deterministic():
    unique, dropped = dedupe_examples(BASE + BASE[:3])
    assert unique == BASE and dropped == 3
    groups = [i // 3 for i in range(12)]
    a = split_examples(12, 0.5, 7, groups=groups)
    assert a == split_examples(12, 0.5, 7, groups=groups)
    for g in set(groups):
        assert len({a[i] for i in range(12) if groups[i] == g}) == 1
    assert {"selection", "heldout"} <= set(a)
    # Without groups the split is the one earlier versions stored (one group per example).
    assert split_examples(12, 0.5, 7) == split_examples(12, 0.5, 7, groups=list(range(12)))
