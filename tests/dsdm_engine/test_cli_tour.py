"""The subcommands no other test runs, each run once for real on the tiny offline demo.

`dsdm demo --size tiny --fixtures tests/fixtures/sources --no-app` builds the workspace from the
committed excerpts (two tiny proxies, every selector); then `target list`, `planted`, a minimal
`evaluate` (one model per selection, one seed) and a minimal `validate` (four subset models)
run on it as a user would type them. The session's check in `tests/conftest.py` fails the
default suite when any subcommand never runs.
"""

from __future__ import annotations

from pathlib import Path

from data_catalog.catalog import Catalog
from dsdm_engine.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"


def test_demo_then_target_list_planted_evaluate_validate(tmp_path, capsys, monkeypatch):
    ws = str(tmp_path / "ws")

    def dsdm(*argv: str) -> str:
        assert main(["--workspace", ws, *argv]) == 0, argv
        return capsys.readouterr().out

    out = dsdm("demo", "--size", "tiny", "--fixtures", str(FIXTURES), "--no-app")
    assert "== demo workspace" in out and "LDS" not in out  # tiny plan: no validation
    listed = dsdm("target", "list")
    assert all(name in listed for name in ("squad@v1", "cs_algorithms@v1", "lambada@v1"))
    planted = dsdm("planted", "--target", "squad", "--pool", "demo")
    assert "auroc" in planted.lower()
    cat = Catalog.open(ws)
    sels = cat.list_selections("demo")
    picked = list(sels[sels["name"].str.endswith("squad-k57")]["selection_id"])[:2]
    evaluated = dsdm("evaluate", "--selections", *picked, "--target", "squad",
                     "--budgets", "2000", "--seeds", "0", "--max-heldout", "8")  # fmt: skip
    assert "held-out" in evaluated.lower() or "loss" in evaluated.lower()
    assert len(cat.list_evaluations()) >= 2
    validated = dsdm("validate", "--pool", "demo", "--target", "squad", "--subsets", "4",
                     "--noise-seeds", "0", "--max-examples", "8", "--workers", "1",
                     "--replicates", "2")  # fmt: skip
    assert "ceiling (2 models per subset)" in validated and "lds_ceiling" in validated
    res = cat.lds_results()
    assert {"selection", "heldout"} <= set(res["split"]) and len(res) >= 4
    assert {"dsdm", "similarity", "trivial"} <= set(res["kind"])  # every predictor family
    assert set(res["n_subsets"]) == {4}
    # the demo's quick evaluation (the small plan's; here at tiny budgets): every target gets
    # loss curves for every method, random at twice the largest budget too
    from dataclasses import replace

    from data_catalog.queries import evaluation_results
    from dsdm_engine.stages import demo

    demo._evaluation(cat, replace(demo.PLANS["tiny"], evaluation_budgets=(256,)), "cpu")
    for target in demo.TARGETS:
        res = evaluation_results(cat, cat.get_target_task(target)["task_id"])
        assert {256, 512} <= set(res[res["method"] == "random"]["budget"]), target
        assert {"dsdm", "bm25", "embedding"} <= set(res["method"]), res
    # the second lane (demo.side_lane, started by demo_side.py) trains the quick validation's
    # subset models for the proxies run the main lane trains (known by id before it starts);
    # the validation reuses them
    from dsdm_engine.evaluation.subsets import ValidateConfig
    from dsdm_engine.stages.proxies import proxies_run_id

    quick = ValidateConfig(n_subsets=4, noise_seeds=0, max_examples=6, workers=1)
    monkeypatch.setitem(demo.PLANS, "tiny", replace(demo.PLANS["tiny"], validation=quick))
    plan = demo.PLANS["tiny"]
    proxies = proxies_run_id(cat, "demo", plan.proxies.with_train(seed=0, device="auto"))
    assert cat.get_run(proxies)["status"] == "done"
    before = set(Path(ws).rglob("subset_*/COMPLETE"))
    demo.side_lane(cat, "tiny", 0, "auto", validation=True)
    jobs = cat.list_jobs()
    assert (jobs["kind"] == "subset_models").sum() == 1
    trained = {p: p.stat().st_mtime_ns for p in Path(ws).rglob("subset_*/COMPLETE")}
    assert len(set(trained) - before) == 4
    lds = cat.get_run(demo._validation(cat, plan, "auto"))
    assert lds["status"] == "done"
    assert {p: p.stat().st_mtime_ns for p in Path(ws).rglob("subset_*/COMPLETE")} == trained
    capsys.readouterr()
    demo.print_summary(cat, {"timings": {"evaluation_s": 1.0}})
    lines = capsys.readouterr().out.splitlines()
    lambada = next(line for line in lines if line.strip().startswith("lambada at 256 tokens"))
    assert "dsdm" in lambada and "random" in lambada


def test_the_quick_evaluation_budgets_fit_every_selection():
    from dsdm_engine.stages.demo import fitting_budgets

    class Stub:  # selections of 30,356 and 600,000 tokens (DSIR on cs_algorithms picks short ones)
        def get_selection(self, sid):
            return {"params": {"n_tokens_selected": {"a": 30_356, "b": 600_000}[sid]}}

    assert fitting_budgets(Stub(), ["b"], (16_384, 32_768)) == [16_384, 32_768]
    assert fitting_budgets(Stub(), ["a", "b"], (16_384, 32_768)) == [16_384]
    assert fitting_budgets(Stub(), ["a"], (65_536,)) == [13_660, 27_320]
