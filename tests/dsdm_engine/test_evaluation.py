"""Evaluation harness: completion-only held-out loss, stored and resumable rows, equal budgets,
seeded reproducibility, a target-like selection beating an unrelated one, planted metrics,
compute multipliers."""

from __future__ import annotations

import argparse
import json
import math
import random

import numpy as np
import pandas as pd
import pytest
import torch

from data_catalog.catalog import Catalog
from data_catalog.errors import InputError
from data_catalog.ingest import ingest
from data_catalog.records import Selection, TargetExample
from data_catalog.targets import add_target_task
from dsdm_engine.cli.evaluate import register_eval_commands
from dsdm_engine.compute.models import build_model
from dsdm_engine.compute.tokenizer import encode_targets, train_tokenizer
from dsdm_engine.evaluation import harness as ev
from dsdm_engine.evaluation import planted

COOK = "flour sugar butter oven bake stir whisk dough salt pepper simmer boil knead".split()
SKY = "star planet orbit comet galaxy moon telescope nebula asteroid quasar solar".split()
RECIPE = ev.EvalRecipe(
    preset="tiny", vocab_size=300, seq_len=32, lr=1e-2, batch_size=8, passes=3.0,
    max_heldout=None, device="cpu",
)  # fmt: skip
BUDGET = 32 * 48


def _sentences(words: list[str], n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(12, 20))) + "." for _ in range(n)]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A two-topic pool (cooking / astronomy, 2 planted), a cooking target, two selections."""
    root = tmp_path_factory.mktemp("eval")
    cat = Catalog.open(root / "ws")
    docs = [{"text": t, "source": "cook"} for t in _sentences(COOK, 60, 1)]
    docs += [{"text": t, "source": "sky"} for t in _sentences(SKY, 60, 2)]
    path = root / "pool.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    ingest(cat, "toy", [str(path)])
    examples = [
        (p, " " + c) for p, c in zip(_sentences(COOK, 40, 3), _sentences(COOK, 40, 4), strict=True)
    ]
    task = add_target_task(cat, "cook", examples, origin="test")
    ids = cat.doc_ids("toy")
    cook = Selection("cook_docs", tuple(ids[:60]), (0.0,) * 60, {}, 0)
    sky = Selection("sky_docs", tuple(ids[60:]), (0.0,) * 60, {}, 0)
    sel_cook = cat.save_selection("toy", cook, task_id=task["task_id"])
    sel_sky = cat.save_selection("toy", sky, task_id=task["task_id"])
    first = ev.evaluate_selections(cat, [sel_cook, sel_sky], ["cook"], [BUDGET], [0, 1], RECIPE)
    return {"cat": cat, "task": task["task_id"], "sels": (sel_cook, sel_sky), "first": first}


def test_heldout_loss_equals_hf_loss_on_completion_tokens_only():
    tok = train_tokenizer(_sentences(COOK + SKY, 50, 0), vocab_size=300)
    model = build_model("tiny", 300, 32, seed=0)
    ex = [
        TargetExample("a", "flour sugar oven", " bake bake"),
        TargetExample("b", "star", " moon comet galaxy"),
    ]
    arr = encode_targets([e.prompt for e in ex], [e.completion for e in ex], tok, 32)
    ids = torch.as_tensor(arr.input_ids, dtype=torch.long)
    labels = torch.where(torch.as_tensor(arr.loss_mask), ids, -100)  # prompts ignored
    with torch.no_grad():
        ref = model(input_ids=ids, attention_mask=torch.as_tensor(arr.attention_mask).long(),
                    labels=labels).loss.item()  # fmt: skip
    got = ev.heldout_loss(model, ex, tok, 32, batch_size=1)
    assert got == pytest.approx(ref, rel=1e-5)


def test_selection_chunks_take_rank_order_and_exact_budget(toy):
    cat = toy["cat"]
    tok = ev._tokenizer_for(cat, "toy", RECIPE)
    chunks = ev.selection_chunks(cat, toy["sels"][1], BUDGET, tok, 32)
    assert chunks.shape == (BUDGET // 32, 32)
    top_doc = cat.documents("toy", ids=[cat.selection_members(toy["sels"][1])["doc_id"][0]])
    first_ids = tok.encode(top_doc["text"][0]).ids
    assert chunks.ravel()[: len(first_ids)].tolist() == first_ids
    with pytest.raises(InputError, match="fewer than the budget"):
        ev.selection_chunks(cat, toy["sels"][1], 10**6, tok, 32)


def test_rows_are_stored_and_a_rerun_trains_nothing(toy, monkeypatch):
    cat, first = toy["cat"], toy["first"]
    assert len(first) == 4 and not first["reused"].any()
    stored = cat.list_evaluations(toy["task"])
    assert len(stored) == 4
    cfg = json.loads(stored["config"][0])
    assert cfg["train_tokens"] == 3 * BUDGET and cfg["data_tokens"] == BUDGET

    def boom(*a, **k):
        raise AssertionError("trained again")

    monkeypatch.setattr(ev, "train_fresh", boom)
    again = ev.evaluate_selections(cat, list(toy["sels"]), ["cook"], [BUDGET], [0, 1], RECIPE)
    assert again["reused"].all()
    key = ["selection_id", "seed"]
    pd.testing.assert_series_equal(
        again.sort_values(key)["heldout_loss"].reset_index(drop=True),
        first.sort_values(key)["heldout_loss"].reset_index(drop=True),
    )
    assert len(cat.list_evaluations(toy["task"])) == 4


def test_same_seed_same_loss_other_seed_differs(toy):
    cat = toy["cat"]
    tok = ev._tokenizer_for(cat, "toy", RECIPE)
    chunks = ev.selection_chunks(cat, toy["sels"][0], 32 * 16, tok, 32)
    ex = ev.heldout_examples(cat, toy["task"], 8)
    losses = [
        ev.heldout_loss(ev.train_fresh(chunks, RECIPE, 32 * 16, s), ex, tok, 32) for s in (7, 7, 8)
    ]
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]


def test_target_like_documents_give_lower_heldout_loss(toy):
    s = ev.summarise(toy["first"])
    loss = dict(zip(s["method"], s["loss"], strict=True))
    assert loss["cook_docs"] < loss["sky_docs"] - 0.5, loss
    assert (s["n_seeds"] == 2).all()


def test_cli_prints_summary_from_stored_rows(toy, capsys, monkeypatch):
    monkeypatch.setattr(ev, "train_fresh", lambda *a, **k: pytest.fail("trained again"))
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace")
    register_eval_commands(parser.add_subparsers(dest="command"))
    sels = list(toy["sels"])
    args = parser.parse_args(
        ["--workspace", str(toy["cat"].workspace.root), "evaluate", "--selections", *sels,
         "--target", "cook", "--budgets", str(BUDGET), "--seeds", "0", "1", "--preset", "tiny",
         "--vocab-size", "300", "--seq-len", "32", "--lr", "0.01", "--batch-size", "8",
         "--passes", "3", "--max-heldout", "0", "--device", "cpu"]
    )  # fmt: skip
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "4 evaluations (0 trained now, 4 already stored)" in out
    assert "cook_docs" in out and "sky_docs" in out


def test_planted_metrics_on_a_known_ranking(tmp_path):
    cat = Catalog.open(tmp_path / "ws")
    labels = ["wrong_answer", None, "spam", None, "wrong_answer", None, None, "spam"]
    sources = ["qa", "qa", "web", "web", "qa", "web", "qa", "web"]
    recs = [
        {"text": f"doc {i}", "source": src, **({"planted": lab} if lab else {})}
        for i, (lab, src) in enumerate(zip(labels, sources, strict=True))
    ]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    ingest(cat, "p", [str(tmp_path / "p.jsonl")])
    task = add_target_task(cat, "t", [("q", " a"), ("r", " b")], origin="test")
    run = cat.create_run("scores", {"features_run_id": "f", "task_id": task["task_id"],
                                    "lambda_rel": 0.1}, "h" * 12, pool_id="p",
                         task_id=task["task_id"])  # fmt: skip
    # wrong answers score lowest; one spam doc is among the cleanest, one is the worst clean-ish
    scores = np.array([-3.0, 1.0, 2.5, 2.0, -2.0, 3.0, 0.5, -1.0])
    cat.save_scores(run, task["task_id"], "p", cat.doc_ids("p"), scores)
    wrong = planted.planted_metrics(cat, run, "wrong_answer")
    assert wrong["auroc"] == 1.0 and wrong["precision_at_k"] == 1.0 and wrong["n_planted"] == 2
    # same-source: wrong answers (-3, -2) against the clean qa docs (1.0, 0.5) only
    assert wrong["n_clean_same_source"] == 2 and wrong["auroc_same_source"] == 1.0
    spam = planted.planted_metrics(cat, run, "spam")
    # spam -1.0 beats all 4 clean, spam 2.5 beats only 3.0: (4 + 1) / (2 · 4)
    assert spam["auroc"] == pytest.approx(5 / 8)
    assert spam["precision_at_k"] == 0.5 and spam["n_clean"] == 4
    table = planted.planted_table(cat, run)
    assert list(table["label"]) == ["all", "spam", "wrong_answer"]
    assert table["n_planted"].tolist() == [4, 2, 2]


def test_compute_multiplier_and_summary_on_a_hand_made_curve():
    rows = [("random", b, s, loss + 0.01 * s) for b, loss in [(100, 3.0), (200, 2.5), (400, 2.0)]
            for s in (0, 1)]  # fmt: skip
    rows += [("dsdm", 100, s, 2.5 + 0.01 * s) for s in (0, 1)]
    df = pd.DataFrame(rows, columns=["method", "budget_tokens", "seed", "heldout_loss"])
    df["task_id"] = "t@v1"
    s = ev.summarise(df)
    assert s.loc[s["method"] == "dsdm", "loss_std"].item() == pytest.approx(0.01 / math.sqrt(2))
    m = ev.compute_multipliers(s)
    assert m["multiplier"].item() == pytest.approx(2.0) and m["bound"].item() == "exact"
    assert ev.headline_multipliers(m) == {"t@v1": {"dsdm": pytest.approx(2.0)}}


def test_recipe_is_validated_and_hash_ignores_device():
    with pytest.raises(InputError):
        ev.EvalRecipe(preset="nope")
    with pytest.raises(InputError):
        ev.EvalRecipe(passes=0)
    assert (
        RECIPE.recipe_hash()
        == ev.EvalRecipe(**{**RECIPE.to_dict(), "device": "auto"}).recipe_hash()
    )
    assert RECIPE.recipe_hash() != ev.EvalRecipe(**{**RECIPE.to_dict(), "lr": 0.1}).recipe_hash()
    assert RECIPE.train_config(1000, 3).token_budget == 3000


def test_cli_prints_compute_multipliers_when_random_is_evaluated(toy, capsys):
    cat = toy["cat"]
    ids = cat.doc_ids("toy")
    rnd = cat.save_selection("toy", Selection("random", tuple(ids[::2]), (0.0,) * 60, {}, 0))
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace")
    register_eval_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["--workspace", str(cat.workspace.root), "evaluate", "--selections", toy["sels"][0], rnd,
         "--target", "cook", "--budgets", str(BUDGET), "--seeds", "0", "--preset", "tiny",
         "--vocab-size", "300", "--seq-len", "32", "--lr", "0.01", "--batch-size", "8",
         "--passes", "3", "--max-heldout", "0", "--device", "cpu"]
    )  # fmt: skip
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "compute multiplier vs random" in out
    assert "cook_docs" in out.split("compute multiplier vs random")[1]
