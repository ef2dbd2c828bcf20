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
    assert progress_text({"kind": "select", "status": "done", "total": 0}) == "select · done"


def test_evidence_summary_says_what_each_target_favours():
    import pandas as pd

    from app.analysis import evidence_summary

    def lds(dsdm, lo, sim):
        rows = [("dsdm λ=10 none (s)", "dsdm", dsdm, lo), ("bm25", "similarity", sim, sim - 0.2)]
        return pd.DataFrame(
            [(p, k, "heldout", v, a, v + 0.2, 32, "t") for p, k, v, a in rows],
            columns=["predictor", "kind", "split", "aggregate_lds", "ci_lo", "ci_hi",
                     "n_subsets", "task_id"],
        )  # fmt: skip

    evals = pd.DataFrame(
        {
            "method": ["random"] * 3 + ["dsdm"] * 2,
            "budget": [1, 2, 4, 1, 2],
            "loss": [3.0, 2.8, 2.6, 2.8, 2.6],
        }  # fmt: skip
    )
    out = evidence_summary(
        ["a", "b", "c", "d"],
        {
            "a": lds(0.5, 0.2, 0.1),
            "b": lds(0.2, 0.05, 0.4),
            "c": lds(0.1, -0.1, 0.0),
            "d": pd.DataFrame(),
        },  # fmt: skip
        {"a": evals, "b": pd.DataFrame(), "c": pd.DataFrame(), "d": pd.DataFrame()},
    ).set_index("target")
    assert list(out["evidence favours"]) == [
        "DsDm", "bm25 (similarity)", "undecided (DsDm's CI includes 0)", "not validated yet"
    ]  # fmt: skip
    assert out.loc["a", "DsDm compute multiplier"] == 2.0  # dsdm at 1 and 2 = random at 2 and 4
    assert out.loc["a", "subsets"] == 32 and out.loc["d", "subsets"] == 0
