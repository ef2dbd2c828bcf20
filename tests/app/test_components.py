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


def test_job_progress_reads_slow_units_per_minute():
    from app.components import progress_text

    job = {"kind": "validate", "status": "done", "done": 12, "total": 12, "rate": 0.05}
    assert progress_text(job) == "validate · done · 12/12 · 3.0/min"
    fast = {**job, "kind": "featurize", "status": "running", "rate": 140.0, "eta_s": 90}
    assert progress_text(fast) == "featurize · running · 12/12 · 140.0/s · ETA 90 s"
    assert progress_text({**job, "rate": 0.0}) == "validate · done · 12/12"
