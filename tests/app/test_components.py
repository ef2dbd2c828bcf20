"""Pasted target examples: JSONL lines or blank-line-separated paragraphs; empty is an error."""

from __future__ import annotations

import pytest

from app.components import parse_pasted
from data_catalog.errors import InputError


def test_paragraphs_become_text_examples():
    assert parse_pasted("First example\nstill first.\n\n\nSecond one.\r\n") == [
        ("", "First example\nstill first."),
        ("", "Second one."),
    ]


def test_jsonl_lines_keep_prompt_and_completion():
    text = '{"prompt": "Q: 2+2? A:", "completion": " 4"}\n\n{"text": "plain"}\n'
    assert parse_pasted(text) == [("Q: 2+2? A:", " 4"), ("", "plain")]


@pytest.mark.parametrize("text", ["", "  \n\n \t\n"])
def test_an_empty_paste_is_a_clear_error(text):
    with pytest.raises(InputError, match="pasted text is empty"):
        parse_pasted(text)


def test_a_bad_jsonl_line_names_its_line():
    with pytest.raises(InputError, match="line 3"):
        parse_pasted('{"text": "ok"}\n\n{"text": 3}\n')  # line 3 of the paste
