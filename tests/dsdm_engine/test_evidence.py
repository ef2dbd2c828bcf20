"""The trust verdict: DsDm trusted only with a held-out CI above zero and no similarity
predictor ahead; otherwise the message names what fails, with the numbers."""

import math

import pandas as pd

from dsdm_engine.evaluation.evidence import verdict


def rows(dsdm=(0.4, 0.1, 0.6), sims=(("embedding", 0.3),), other_run=None) -> pd.DataFrame:
    out = []
    for split in ("selection", "heldout"):
        lds, lo, hi = dsdm
        out.append(("dsdm λ=10 none (scores-a)", "dsdm", split, lds, lo, hi))
        if other_run:
            out.append((f"dsdm λ=1 none ({other_run})", "dsdm", split, *other_run_vals))
        out += [(n, "similarity", split, v, v - 0.2, v + 0.2) for n, v in sims]
        out.append(("token count", "trivial", split, 0.9, 0.8, 1.0))  # trivial: never compared
    cols = ["predictor", "kind", "split", "aggregate_lds", "ci_lo", "ci_hi"]
    df = pd.DataFrame(out, columns=cols)
    return df.assign(task_id="t@v1", n_subsets=64, per_example_lds=math.nan)


other_run_vals = (-0.1, -0.3, 0.1)


def test_trusted_when_the_ci_is_above_zero_and_similarity_is_behind():
    v = verdict(rows())
    assert v.trusted and v.lds == 0.4 and v.ci == (0.1, 0.6) and v.n_subsets == 64
    assert v.best_similarity == "embedding" and "above every similarity" in v.message


def test_beaten_by_similarity_names_the_predictor_and_numbers():
    v = verdict(rows(sims=(("embedding", 0.3), ("bm25", 0.5))))
    assert not v.trusted and v.best_similarity == "bm25"
    assert "not yet better than bm25" in v.message and "0.50" in v.message


def test_an_interval_including_zero_is_not_trusted():
    v = verdict(rows(dsdm=(0.2, -0.05, 0.45), sims=(("dsir", 0.1),)))
    assert not v.trusted and "includes zero" in v.message
    v = verdict(rows(dsdm=(0.2, -0.05, 0.45), sims=(("dsir", 0.3),)))
    assert "not yet better than dsir" in v.message and "also includes zero" in v.message


def test_the_named_scores_run_is_judged_and_no_dsdm_row_gives_none():
    v = verdict(rows(other_run="scores-b"), scores_run_id="scores-b")
    assert v.lds == -0.1 and not v.trusted
    assert verdict(rows(other_run="scores-b"), scores_run_id="never-validated").lds == 0.4
    assert verdict(rows()[lambda d: d["kind"] != "dsdm"]) is None
    assert verdict(rows(sims=())).trusted  # no similarity predictor validated: CI decides
