"""Target tasks: parsing, content-hash versioning, seeded splits, clear errors."""

from __future__ import annotations

import json

import pytest

from data_catalog.errors import InputError
from data_catalog.targets import add_target_task, read_target_file, split_examples

EXAMPLES = [(f"Q{i}: what is {i}+{i}?", f" {2 * i}") for i in range(10)]


def test_split_is_seeded_and_balanced():
    a = split_examples(10, 0.5, seed=1)
    assert a == split_examples(10, 0.5, seed=1)
    assert a != split_examples(10, 0.5, seed=2)
    assert a.count("heldout") == 5
    assert split_examples(3, 0.1, 0).count("heldout") == 1  # at least one of each
    with pytest.raises(InputError, match="between 0 and 1"):
        split_examples(4, 1.0, 0)


def test_versions_by_content_hash(catalog):
    t1 = add_target_task(catalog, "arith", EXAMPLES, origin="test", seed=3)
    assert (t1["task_id"], t1["created"]) == ("arith@v1", True)
    assert (t1["n_selection"], t1["n_heldout"], t1["split_seed"]) == (5, 5, 3)
    again = add_target_task(catalog, "arith", list(EXAMPLES), origin="test", seed=3)
    assert (again["task_id"], again["created"]) == ("arith@v1", False)
    t2 = add_target_task(catalog, "arith", EXAMPLES[:6], origin="test", seed=3)
    assert t2["task_id"] == "arith@v2" and t2["content_hash"] != t1["content_hash"]
    assert catalog.get_target_task("arith")["task_id"] == "arith@v2"  # name → latest
    assert catalog.get_target_task("arith@v1")["n_examples"] == 10
    held = catalog.target_examples("arith@v1", split="heldout")
    sel = catalog.target_examples("arith@v1", split="selection")
    assert len(held) == 5 and len(sel) == 5
    assert {e.completion for e in held}.isdisjoint({e.completion for e in sel})


def test_jsonl_prompt_completion_and_text(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(
        json.dumps({"prompt": "Capital of France?", "completion": " Paris"})
        + "\n\n"
        + json.dumps({"text": "A plain target document."})
        + "\n"
    )
    assert read_target_file(path) == [
        ("Capital of France?", " Paris"),
        ("", "A plain target document."),
    ]


def test_squad_format(tmp_path):
    squad = {
        "data": [
            {
                "title": "T",
                "paragraphs": [
                    {
                        "context": "Paris is the capital of France.",
                        "qas": [{"question": "Capital?", "answers": [{"text": "Paris"}]}],
                    }
                ],
            }
        ]
    }
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(squad))
    [(prompt, completion)] = read_target_file(path)
    assert prompt.endswith("Question: Capital?\nAnswer:") and completion == " Paris"


@pytest.mark.parametrize(
    "content,message",
    [
        ('{"prompt": "p"}\n', r"t.jsonl line 1: needs 'prompt' and 'completion'.*prompt"),
        ('{"prompt": "p", "completion": 3}\n', r"line 1: field 'completion' is int"),
        ('{"prompt": "p", "completion": "  "}\n', r"line 1: field 'completion' is empty"),
        ('{"text": "ok"}\n{bad\n', r"t.jsonl line 2: malformed JSON"),
        ("", r"t.jsonl: file is empty"),
    ],
)
def test_bad_target_files(catalog, tmp_path, content, message):
    path = tmp_path / "t.jsonl"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        read_target_file(path)
    assert catalog.list_target_tasks().empty


def test_bad_task_names_and_sizes(catalog):
    with pytest.raises(InputError, match="not valid"):
        add_target_task(catalog, "../x", EXAMPLES, origin="t")
    with pytest.raises(InputError, match="no examples"):
        add_target_task(catalog, "empty", [], origin="t")
    with pytest.raises(InputError, match="at least 2 examples"):
        add_target_task(catalog, "one", EXAMPLES[:1], origin="t")
    assert catalog.list_target_tasks().empty


def test_jsonl_targets_keep_unicode_line_separators(tmp_path):
    path = tmp_path / "t.jsonl"
    rec = {"prompt": "a\u2028b", "completion": " c\x85d"}
    path.write_text("\ufeff" + json.dumps(rec, ensure_ascii=False) + "\n", encoding="utf-8")
    assert read_target_file(path) == [("a\u2028b", " c\x85d")]
