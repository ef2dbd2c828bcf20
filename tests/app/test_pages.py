"""AppTest page tests on the tiny workspace: every page renders its elements without an
exception, widgets interact, and user errors appear as messages that change nothing stored."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from data_catalog.catalog import Catalog
from dsdm_engine.cli import launch as launcher

# Another process writing the catalog in short transactions, as a long job does.
WRITER = """
import sys, numpy as np
from data_catalog.catalog import Catalog
cat = Catalog.open(sys.argv[1])
ids = cat.doc_ids("tiny")
job = cat.create_job("score", {})
for i in range(10_000):
    scores = np.random.default_rng(i).random(len(ids))
    cat.save_scores("writer-run", "cooking@v1", "tiny", ids, scores)
    cat.update_job(job, status="running", done=i, total=10_000)
"""
MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


def open_page(page: str, **params: str) -> AppTest:
    """Run the app once (so navigation registers its pages), then open `page`."""
    at = AppTest.from_file(MAIN, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_workspace_page_shows_pools_sources_planted_and_estimate(tiny_workspace: Catalog):
    at = open_page("workspace")
    assert texts(at.title) == ["Workspace"]
    first = next(iter(at.main.children.values()))
    assert type(first).__name__ == "Title"  # nothing stray (e.g. "magic" output) before it
    landing = at.dataframe[0].value  # the first table answers "what did the evidence find?"
    row = landing.set_index("target").loc["cooking@v1"]
    assert row["evidence favours"] == "DsDm" and row["DsDm held-out LDS"] == 0.45
    assert row["95% CI"] == "[0.12, 0.70]" and row["best similarity"] == "embedding"
    assert row["DsDm compute multiplier"] > 1  # the fixture's dsdm curve lies below random's
    assert landing.set_index("target").loc["finance@v1", "evidence favours"] == (
        "not validated yet"
    )
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["documents"] == "24"
    assert any("Planted labels" in m for m in texts(at.markdown))
    at.number_input[0].set_value(8)  # proxy models
    next(b for b in at.button if b.label == "Estimate").click().run()
    metrics = {m.label: m.value for m in ok(at).metric}
    assert "feature files on disk" in metrics and "peak memory" in metrics
    assert any("24 chunks" in c for c in texts(at.caption))


def test_workspace_add_pool_from_path_and_bad_file(
    tiny_workspace: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("DSDM_DATA_ROOTS", str(root))
    bad = root / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": 5}\n')
    at = open_page("workspace")
    at.text_input[0].set_value("second")
    at.text_input[1].set_value(str(bad))
    at.button[0].click().run()
    assert "line 2" in " ".join(texts(ok(at).error))
    assert list(tiny_workspace.list_pools()["pool_id"]) == ["tiny"]  # nothing stored
    good = root / "good.jsonl"
    good.write_text('{"text": "a new document"}\n{"text": "another one"}\n')
    at.text_input[1].set_value(str(good))
    at.button[0].click().run()
    assert "2 documents added" in " ".join(texts(ok(at).success))
    assert list(tiny_workspace.list_pools()["pool_id"]) == ["tiny", "second"]


def test_workspace_page_never_reads_outside_the_workspace_and_data_roots(
    tiny_workspace: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "credentials.txt").write_text("aws_secret_access_key = hunter2\n")
    at = open_page("workspace")  # no --data-root: upload only, no path field at all
    assert len(at.text_input) == 1 and "Paths on the server are off" in " ".join(texts(at.caption))
    root = tmp_path / "data"
    root.mkdir()
    (root / "link.txt").symlink_to(secret / "credentials.txt")
    (root / "dirlink").symlink_to(secret)
    monkeypatch.setenv("DSDM_DATA_ROOTS", str(root))
    at = open_page("workspace")
    for attempt in [
        str(secret / "credentials.txt"),  # a file outside
        str(secret),  # a folder outside
        str(tmp_path / "*" / "*.txt"),  # a glob whose literal part is outside
        str(root / ".." / "secret" / "credentials.txt"),  # climbing out
        str(root / "link.txt"),  # a symlink inside pointing out
        str(root / "*.txt"),  # a glob inside matching that symlink
        str(root / "dirlink"),  # a symlinked folder
        "~/.ssh/*",
    ]:
        at.text_input[0].set_value("leak")
        at.text_input[1].set_value(attempt)
        at.button[0].click().run()
        assert "outside the folders this app may read" in " ".join(texts(ok(at).error)), attempt
    assert "leak" not in list(tiny_workspace.list_pools()["pool_id"])
    leaked = tiny_workspace.query_one("SELECT count(*) FROM documents WHERE text LIKE '%hunter2%'")
    assert leaked == (0,)


def test_targets_page_creates_a_task_from_pasted_examples(tiny_workspace: Catalog):
    at = open_page("targets")
    at.text_input[0].set_value("soup")
    at.text_area[0].set_value(
        "Simmer the soup with garlic.\n\nSalt the pasta water well.\n\n"
        "Roast the peppers.\n\nBake the bread."
    )
    at.button[0].click().run()
    assert "soup@v1 created" in " ".join(texts(ok(at).success))
    task = tiny_workspace.get_target_task("soup")
    assert (task["n_selection"], task["n_heldout"]) == (2, 2)
    assert at.query_params["target"] == "soup@v1"
    assert any(m.label == "held out" and m.value == "2" for m in at.metric)
    at.radio[1].set_value("heldout").run()  # show only the held-out split
    assert ok(at).dataframe


def test_targets_page_rejects_an_empty_paste_and_changes_nothing(tiny_workspace: Catalog):
    before = len(tiny_workspace.list_target_tasks())
    at = open_page("targets")
    at.text_input[0].set_value("empty")
    at.text_area[0].set_value("   \n\n ")
    at.button[0].click().run()
    assert "empty" in " ".join(texts(ok(at).error))
    assert len(tiny_workspace.list_target_tasks()) == before


def test_jobs_page_shows_progress_and_cancels(tiny_workspace: Catalog):
    job_id = tiny_workspace.create_job("score", {"pool": "tiny"})  # pid = this (live) process
    tiny_workspace.update_job(
        job_id, status="running", done=3, total=10, rate=1.5, eta_s=4.7, message="shard 3"
    )
    failed = tiny_workspace.create_job("featurize", {})
    tiny_workspace.update_job(failed, status="failed", message="out of disk", error="out of disk")
    died = tiny_workspace.create_job("featurize", {"pool": "tiny"})
    tiny_workspace.update_job(died, status="running", done=7, total=9, message="shard 7")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with tiny_workspace.connect() as con:  # its process was killed (kill -9) long ago
        con.execute("UPDATE jobs SET pid = ? WHERE job_id = ?", [gone.pid, died])
    at = open_page("jobs")
    bars = at.get("progress")
    assert any("3/10" in p.proto.text and "ETA 5 s" in p.proto.text for p in bars)
    assert any("featurize · died · 7/9" in p.proto.text for p in bars)
    assert any("process" in w and "gone" in w and "shard 7" in w for w in texts(at.warning))
    assert any("out of disk" in e for e in texts(at.error))
    cancel = [b for b in at.button if b.label == "Cancel"]
    assert len(cancel) == 1  # the live job only
    cancel[0].click().run()
    assert tiny_workspace.get_job(job_id)["cancel_requested"]


def test_jobs_page_refuses_k_larger_than_the_pool(tiny_workspace: Catalog):
    at = open_page("jobs")
    at.number_input[0].set_value(25)  # the pool has 24 documents
    at.button[0].click().run()
    assert "larger than the pool" in " ".join(texts(ok(at).error))
    logs = tiny_workspace.workspace.artifacts / "logs"
    assert not logs.exists() or not list(logs.glob("*.json"))  # nothing launched


def test_jobs_page_checks_selections_with_the_engine_including_exclusions(tiny_workspace):
    ids = tiny_workspace.doc_ids("tiny")
    tiny_workspace.add_exclusions("tiny", ids[:6], "test")  # 18 documents left to select
    at = open_page("jobs")
    at.number_input[0].set_value(20)
    at.button[0].click().run()
    assert "18 after excludes" in " ".join(texts(ok(at).error))
    logs = tiny_workspace.workspace.artifacts / "logs"
    assert not logs.exists() or not list(logs.glob("*.json"))  # nothing launched


def test_jobs_page_shows_why_a_launch_failed(tiny_workspace: Catalog):
    at = open_page("jobs")
    at.selectbox[0].set_value("featurize").run()  # the tiny workspace has no proxies
    at.button[0].click().run()
    assert any("Launched" in s for s in texts(ok(at).success))
    [launch] = launcher.list_launches(tiny_workspace.workspace.root)
    deadline = time.monotonic() + 60
    while launcher.refresh(launch).state == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    at.run()
    assert "failed before it started a job" in " ".join(texts(ok(at).error))
    assert any("no finished proxies run" in c.value for c in at.code)


def test_jobs_page_settings_are_widgets_checked_before_launch(tiny_workspace: Catalog):
    at = open_page("jobs")
    at.selectbox[0].set_value("featurize").run()
    assert not [t for t in at.text_input if t.label == "Other flags"]
    proj = next(t for t in at.text_input if t.label == "--proj-dim")
    assert proj.value == "2048"
    proj.set_value("many")
    at.button[0].click().run()
    assert "--proj-dim must be a number" in " ".join(texts(ok(at).error))
    next(t for t in at.text_input if t.label == "--proj-dim").set_value("-3")
    at.button[0].click().run()
    assert "--proj-dim must be positive" in " ".join(texts(ok(at).error))
    logs = tiny_workspace.workspace.artifacts / "logs"
    assert not logs.exists() or not list(logs.glob("*.json"))  # nothing launched


def test_pages_keep_reading_while_another_process_writes(tiny_workspace: Catalog):
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tiny_workspace.workspace.root)])
    try:
        for _ in range(3):
            for page in ("inspector", "compare", "harmful", "jobs"):
                open_page(page, target="cooking@v1")
    finally:
        writer.terminate()
        writer.wait(timeout=30)
    jobs = tiny_workspace.list_jobs()
    assert jobs["done"].max() > 3  # the writer really wrote while the pages rendered


def test_compare_page_renders_metrics_and_diff(tiny_workspace: Catalog):
    at = open_page("compare", target="cooking@v1", method="dsdm,random")
    assert texts(at.title) == ["Compare selection methods"]
    assert len(at.get("plotly_chart")) == 4  # overlap, composition, histograms, loss curves
    frames = [d.value for d in at.dataframe]
    corr = next(f for f in frames if "spearman" in f.columns)
    sels = tiny_workspace.list_selections("tiny")
    members = {
        m: set(
            tiny_workspace.selection_members(sels[sels["method"] == m]["selection_id"].iloc[-1])[
                "doc_id"
            ]
        )
        for m in ("dsdm", "random")
    }
    shared = len(members["dsdm"] & members["random"])
    assert 0 < shared < len(members["dsdm"])  # the fixture makes this a non-trivial overlap
    assert int(corr.iloc[0]["shared docs"]) == shared
    mult = next(f for f in frames if "compute multiplier" in f.columns)
    assert set(mult["method"]) == {"dsdm"}
    assert any("not in random's" in c for c in texts(at.caption))
    at.multiselect[0].set_value(["dsdm", "random", "dsir"]).run()
    assert any("dsir" in i for i in texts(ok(at).info))
    assert at.query_params["method"] == "dsdm,random,dsir"


def test_inspect_page_top_bottom_search_and_document(tiny_workspace: Catalog):
    at = open_page("inspector", target="cooking@v1")
    assert any("positive = predicted to lower target loss" in c for c in texts(at.caption))
    assert any("Most helpful" in m for m in texts(at.markdown))
    at.text_input[0].set_value("pasta")
    at.button[0].click().run()  # the search form's submit
    assert any(c.startswith("1 matching") for c in texts(ok(at).caption))
    doc_id = tiny_workspace.documents("tiny", limit=1)["doc_id"][0]
    at = open_page("inspector", target="cooking@v1", doc=doc_id)
    assert any(doc_id in s for s in texts(at.subheader))
    assert len(at.dataframe) >= 2  # its scores and the selections that include it


def test_inspect_page_unknown_document_is_a_message(tiny_workspace: Catalog):
    at = open_page("inspector", doc="no-such-doc")
    assert "not in pool" in " ".join(texts(at.error))


def test_harmful_page_precision_conflicts_and_exclusion(tiny_workspace: Catalog):
    at = open_page("harmful", target="cooking@v1")
    assert any(m.label.startswith("precision@") for m in at.metric)
    assert at.get("plotly_chart")
    at2 = open_page("harmful", target="finance@v1")
    assert any("Helps one target" in s for s in texts(at2.subheader))
    exclude_all = next(b for b in at.button if b.label.startswith("Exclude all"))
    exclude_all.click().run()
    assert "added to tiny's exclusion list" in " ".join(texts(ok(at).success))
    assert len(tiny_workspace.exclusions("tiny")) == 20


def test_export_page_previews_writes_and_refuses_overwrite(tiny_workspace: Catalog):
    at = open_page("export")
    manifest = json.loads(at.code[0].value)
    assert manifest["format"] == "parquet" and "sha256" not in manifest
    write = next(b for b in at.button if b.label == "Write export")
    write.click().run()
    assert any("Wrote 8 rows" in s for s in texts(ok(at).success))
    assert at.get("download_button")
    folder = Path(tiny_workspace.workspace.exports)
    assert any(p.name == "data.parquet" for p in folder.rglob("*.parquet"))
    next(b for b in at.button if b.label == "Write export").click().run()
    assert "already exists" in " ".join(texts(ok(at).error))


def test_evidence_page_shows_the_validation_verdict_and_noise(tiny_workspace: Catalog):
    at = open_page("evidence", target="cooking@v1")
    assert texts(at.title) == ["Evidence: do the scores predict?"]
    assert any("predict held-out loss" in s and "0.45" in s for s in texts(at.success))
    frames = [d.value for d in at.dataframe]
    lds = next(f for f in frames if "held-out LDS" in f.columns)
    assert list(lds["predictor"])[0].startswith("dsdm") and len(lds) == 4
    assert any("noise_ratio" in f.columns for f in frames)
    assert len(at.get("plotly_chart")) == 2  # the LDS intervals and the loss curves
    at = open_page("evidence", target="finance@v1")
    assert any("No validation for finance@v1" in i for i in texts(at.info))


def test_pages_showing_scores_say_whether_the_scores_were_validated(tiny_workspace: Catalog):
    at = open_page("inspector", target="cooking@v1")
    assert any("Evidence" in s and "0.45" in s for s in texts(at.success))
    at = open_page("harmful", target="finance@v1")
    assert any("No validation of these scores" in c for c in texts(at.caption))


@pytest.mark.parametrize("page", ["compare", "inspect", "harmful"])
def test_a_shared_url_opens_its_page_with_its_target(tiny_workspace: Catalog, page: str):
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.query_params.update({"page": page, "target": "finance@v1"})
    at.run()
    assert not at.exception
    assert at.query_params["page"] == page
    assert "finance@v1" in [s.value for s in at.selectbox if s.label == "Target task"]


def test_the_chosen_target_stays_chosen_on_the_next_page(tiny_workspace: Catalog):
    """The sidebar opens a page without the last page's URL; the session keeps the choice (a
    shared link's included), where pages used to fall back to the first target."""
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.query_params.update({"target": "finance@v1"})  # a link to the Workspace page
    at.run()
    at.query_params.clear()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    assert [s.value for s in at.selectbox if s.label == "Target task"] == ["finance@v1"]
    next(s for s in at.selectbox if s.label == "Target task").set_value("cooking@v1").run()
    at.query_params.clear()
    at.switch_page("app_pages/inspector.py").run()
    assert [s.value for s in at.selectbox if s.label == "Target task"] == ["cooking@v1"]


EMPTY_HINTS = {
    "workspace": ("Workspace", "No pools yet"),
    "targets": ("Target tasks", "No target tasks yet"),
    "map": ("Pool map", "No pools yet"),
    "compare": ("Compare selection methods", "Add a pool and a target task first"),
    "inspector": ("Inspect documents", "No pools yet"),
    "harmful": ("Harmful data", "No target tasks yet"),
    "evidence": ("Evidence: do the scores predict?", "No target tasks yet"),
    "select": ("Build a selection", "No pools yet"),
    "export": ("Export a subset", "No selections yet"),
}


def test_empty_workspace_pages_say_what_to_do_first(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DSDM_WORKSPACE", str(tmp_path / "empty"))
    for page, (title, hint) in EMPTY_HINTS.items():
        at = open_page(page)
        assert texts(at.title) == [title], page
        assert any(i.startswith(hint) for i in texts(at.info)), (page, texts(at.info))
        assert not at.dataframe and not at.get("plotly_chart"), page  # nothing to show yet
    at = open_page("jobs")  # the launcher still renders: a first stage can be started from here
    assert texts(at.title) == ["Jobs"] and any(b.label == "Launch" for b in at.button)
    assert not Catalog.open(tmp_path / "empty").list_pools().shape[0]


def test_workspace_page_imports_a_model_folder_only_from_a_data_root(
    tiny_workspace: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from tests.dsdm_engine.test_imported import save_model

    root = tmp_path / "data"
    root.mkdir()
    outside = save_model(tmp_path / "outside_model", "gpt2")
    inside = save_model(root / "my_model", "llama")
    monkeypatch.setenv("DSDM_DATA_ROOTS", str(root))
    at = open_page("workspace")
    folder = next(t for t in at.text_input if t.key == "import_folder")
    submit = at.button[-1]
    folder.set_value(str(outside))
    submit.click().run()
    assert "outside the folders this app may read" in " ".join(texts(ok(at).error))
    folder.set_value(str(inside))
    submit.click().run()
    assert "proxy import" in " ".join(texts(ok(at).success))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        launches = launcher.list_launches(tiny_workspace.workspace.root)
        if launches and launches[0].state != "running":
            break
        time.sleep(0.5)
    assert launches[0].returncode == 0, Path(launches[0].log_path).read_text()
    runs = tiny_workspace.list_runs("proxies")
    imported = [tiny_workspace.run(r).config.get("imported") for r in runs["run_id"]]
    assert any(i and i["path"] == str(inside.resolve()) for i in imported)
