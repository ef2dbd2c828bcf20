"""Every user-supplied number and name is checked where it enters, naming the flag or field."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from data_catalog.errors import InputError
from data_catalog.ingest import Chunking, chunking_from_flags, ingest
from data_catalog.sources.builtin_targets import builtin_target_examples
from data_catalog.targets import add_target_task, read_target_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"
EXAMPLES = [("1+1=", " 2"), ("2+2=", " 4"), ("3+3=", " 6"), ("4+4=", " 8")]


@pytest.mark.parametrize(
    "chars, tokens, flag",
    [
        (0, None, "--chunk-chars"),
        (-5, None, "--chunk-chars"),
        (None, 0, "--chunk-tokens"),
        (None, -1, "--chunk-tokens"),
        (2.5, None, "--chunk-chars"),
        (True, None, "--chunk-chars"),
    ],
)
def test_chunk_flags_zero_or_negative_are_errors(chars, tokens, flag):
    # 0 used to mean "no chunking" because the CLI tested the flag for truth.
    with pytest.raises(InputError, match=flag + " must be a positive integer"):
        chunking_from_flags(chars, tokens)


def test_chunk_flags_valid_and_exclusive():
    assert chunking_from_flags(None, None) is None
    assert chunking_from_flags(120, None) == Chunking("chars", 120)
    assert chunking_from_flags(None, 30) == Chunking("tokens", 30)
    with pytest.raises(InputError, match="--chunk-chars or --chunk-tokens, not both"):
        chunking_from_flags(100, 30)
    with pytest.raises(InputError, match=r"--chunk-chars must be a positive integer .*, not 0"):
        Chunking("chars", 0)


@pytest.mark.parametrize(
    "field, value", [("text_field", ""), ("text_field", "  "), ("source", " ")]
)
def test_ingest_names_are_checked(catalog, jsonl_file, field, value):
    flag = "--" + field.replace("_", "-")
    with pytest.raises(InputError, match=flag):
        ingest(catalog, "p", [str(jsonl_file([{"text": "a"}]))], **{field: value})
    assert not catalog.pool_exists("p")


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
def test_target_seed_is_checked(catalog, seed):
    with pytest.raises(InputError, match="--seed must be a non-negative integer"):
        add_target_task(catalog, "t", EXAMPLES, origin="test", seed=seed)
    assert catalog.list_target_tasks().empty


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5, math.nan, "0.5", True])
def test_target_heldout_fraction_is_checked(catalog, fraction):
    with pytest.raises(InputError, match="--heldout-fraction must be a number between 0 and 1"):
        add_target_task(catalog, "t", EXAMPLES, origin="test", heldout_fraction=fraction)


@pytest.mark.parametrize("n", [0, -3, 2.0])
def test_builtin_max_examples_is_checked(n):
    with pytest.raises(InputError, match="--max-examples must be a positive integer"):
        builtin_target_examples("squad", max_examples=n, fixtures_dir=FIXTURES)


def test_target_file_max_examples(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text("".join(f'{{"prompt": "{p}", "completion": "{c}"}}\n' for p, c in EXAMPLES))
    assert read_target_file(path, max_examples=2) == EXAMPLES[:2]
    for bad in (0, -1):  # -1 used to drop the last example silently (a negative slice)
        with pytest.raises(InputError, match="--max-examples must be a positive integer"):
            read_target_file(path, max_examples=bad)
