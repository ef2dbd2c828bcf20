"""The engine wired to the catalog, end to end on a tiny topical pool (ingest → select → export).

The pool mixes three topics; the target task is cooking. With tiny proxies DsDm must still prefer
cooking documents, every stage must store what it made, and reruns must resume instead of redo.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import TOPICS  # noqa: E402

from data_catalog.catalog import Catalog
from data_catalog.errors import InputError
from data_catalog.export import export_selection
from data_catalog.ingest import ingest
from data_catalog.targets import add_target_task
from dsdm_engine import stages
from dsdm_engine.selectors import SelectionRule


def test_every_document_gets_a_score_and_dsdm_prefers_the_target_topic(scored):
    cat, _, _, scores_run = scored
    df = cat.scores(scores_run, "cook@v1")
    assert len(df) == 240 and np.isfinite(df["score"]).all()
    assert df["percentile"].between(0, 100).all()
    sid = stages.run_selection(cat, "dsdm", "p", task_ref="cook", rule=SelectionRule(k=40))
    members = cat.selection_members(sid)
    sources = cat.documents("p", ids=list(members["doc_id"]), limit=1000)["source"]
    assert (sources == "cooking").mean() >= 0.6, sources.value_counts().to_dict()
    # the stored scores of the selection are the top 40 DsDm scores, in rank order
    top = df.sort_values("score", ascending=False)["doc_id"].head(40)
    assert set(members["doc_id"]) == set(top)


def test_reruns_resume_instead_of_recomputing(scored):
    cat, proxies, features, scores_run = scored
    run = cat.get_run(features)
    phi_path = f"{run['artifact_path']}/model_0/features.npy"
    before = np.load(phi_path).copy()
    calls = []
    cfg = stages.ProxyConfig.make(n_models=2, preset="tiny", vocab_size=300, seq_len=32)
    assert stages.train_proxies(cat, "p", cfg, lambda d, t, m="": calls.append(m)) == proxies
    assert all("skipped" in m for m in calls if "model" in m)
    again = stages.featurize(cat, proxies, stages.FeatureConfig(proj_dim=128, shard_size=64))
    assert again == features
    assert np.array_equal(np.load(phi_path), before)


def test_selections_are_seeded_and_honour_exclusions(scored):
    cat = scored[0]
    rule = SelectionRule(k=30)
    a = stages.run_selection(cat, "random", "p", rule=rule, seed=5)
    b = stages.run_selection(cat, "random", "p", rule=rule, seed=5)
    c = stages.run_selection(cat, "random", "p", rule=rule, seed=6)
    ids = [list(cat.selection_members(s)["doc_id"]) for s in (a, b, c)]
    assert ids[0] == ids[1] != ids[2]
    assert cat.get_selection(a)["seed"] == 5
    best = list(
        cat.selection_members(stages.run_selection(cat, "dsdm", "p", task_ref="cook", rule=rule))[
            "doc_id"
        ]
    )
    assert cat.add_exclusions("p", best[:5], "harmful") == 5
    after = stages.run_selection(cat, "dsdm", "p", task_ref="cook", rule=rule)
    got = set(cat.selection_members(after)["doc_id"])
    assert got.isdisjoint(best[:5])
    assert set(cat.get_selection(after)["overrides"]["exclude"]) >= set(best[:5])


def test_score_based_selections_read_the_pool_once_without_texts(scored, monkeypatch):
    """DsDm and random rank stored scores: at a million documents reading every text (and the
    pool twice, then in 100 batches) was most of a selection's time."""
    cat = scored[0]
    reads: list[str] = []
    batched, columns = cat.iter_documents, cat.pool_columns

    def counting(real, kind):
        def wrapped(pool_id, *args, **kwargs):
            reads.append(kind)
            return real(pool_id, *args, **kwargs)

        return wrapped

    monkeypatch.setattr(cat, "iter_documents", counting(batched, "with texts"))
    monkeypatch.setattr(cat, "pool_columns", counting(columns, "columns"))
    want = cat.query_df("SELECT doc_id, source, n_tokens FROM documents ORDER BY row_idx")
    got = cat.pool_columns("p")
    assert got["doc_id"] == list(want["doc_id"]) and got["source"] == list(want["source"])
    assert got["n_tokens"].tolist() == want["n_tokens"].tolist()
    for method, task in (("dsdm", "cook"), ("random", None)):
        reads.clear()
        stages.run_selection(cat, method, "p", task_ref=task, rule=SelectionRule(k=7), seed=11)
        assert reads == ["columns"]


def test_multi_target_mix_and_errors(scored):
    cat = scored[0]
    with pytest.raises(InputError, match="unknown selection method 'nope'.*dsdm"):
        stages.run_selection(cat, "nope", "p", rule=SelectionRule(k=3))
    with pytest.raises(InputError, match="k"):
        stages.run_selection(cat, "random", "p", rule=SelectionRule(k=10_000))
    sid = stages.run_selection(
        cat, "dsdm", "p", mix={"cook": 2.0}, rule=SelectionRule(token_budget=300)
    )
    sel = cat.get_selection(sid)
    assert sel["params"]["targets"]["cook@v1"]["weight"] == 2.0
    assert sel["params"]["n_tokens_selected"] <= 300


def test_drilldown_and_export(scored):
    cat, _, _, scores_run = scored
    top_doc = cat.scores(scores_run, "cook@v1").sort_values("score")["doc_id"].iloc[-1]
    d = stages.example_drilldown(cat, scores_run, top_doc, top=3)
    assert len(d["helps"]) == 3 and len(d["hurts"]) == 3
    assert d["helps"][0]["score"] >= d["hurts"][0]["score"]
    sid = stages.run_selection(cat, "dsdm", "p", task_ref="cook", rule=SelectionRule(k=10))
    m = export_selection(cat, sid, "jsonl", name="top10")
    assert m["row_count"] == 10 and m["target_task_hash"]


def test_a_new_split_gets_its_own_target_features(scored):
    cat, _, features, _ = scored
    v1 = cat.get_target_task("cook@v1")
    examples = [(e.prompt, e.completion) for e in cat.target_examples("cook@v1")]
    v2 = add_target_task(cat, "cook", examples, origin="test", seed=1)  # same content, new split
    assert v2["task_id"] == "cook@v2" and v2["content_hash"] == v1["content_hash"]
    stages.score_task(cat, features, "cook@v2")
    cached = sorted(
        p.name for p in (cat.workspace.artifacts / "runs" / features / "targets").iterdir()
    )
    assert cached == ["cook@v1-selection", "cook@v2-selection"]


def test_cosine_normalisation_divides_by_feature_norms(scored):
    cat, _, features, default_run = scored  # the default: a finite λ, raw TRAK scores
    assert cat.get_run(default_run)["config"]["normalize"] == "none"
    dot_run = stages.score_task(cat, features, "cook@v1", float("inf"), normalize="none")
    cos_run = stages.score_task(cat, features, "cook@v1", float("inf"), normalize="cosine")
    assert len({cos_run, dot_run, default_run}) == 3
    dot = cat.scores(dot_run, "cook@v1")["score"].to_numpy()
    cos = cat.scores(cos_run, "cook@v1")["score"].to_numpy()
    norms = stages.feature_norms(stages.pool_models(cat, features, float("inf")))
    np.testing.assert_allclose(cos, dot / norms, rtol=1e-9)
    assert np.array_equal(np.sign(cos), np.sign(dot))
    with pytest.raises(InputError, match="unknown --normalize"):
        stages.score_task(cat, features, "cook@v1", normalize="l3")
    with pytest.raises(InputError, match="--lambda-rel"):
        stages.score_task(cat, features, "cook@v1", lambda_rel=0.0)


def test_query_side_kfac_scores_a_new_run_on_the_same_pool_features(scored):
    """--query-precondition kfac: the pool features are untouched (no re-featurisation), each
    member's factors are estimated once beside them, the target features are cached apart, and
    the run's drill-down and validation predictor use the same preconditioned targets."""
    from dsdm_engine.compute.scoring import task_scores
    from dsdm_engine.evaluation.validate import dsdm_predictors, per_example_scores

    cat, _, features, default_run = scored
    art = Path(cat.get_run(features)["artifact_path"])
    before = {p: p.stat().st_mtime_ns for p in art.glob("model_*/features.npy")}
    run = stages.score_task(cat, features, "cook@v1", float("inf"), query_precondition="kfac",
                            query_damping=0.1)  # fmt: skip
    cfg = cat.get_run(run)["config"]
    assert run != default_run and cfg["query_precondition"] == "kfac"
    assert cfg["query_damping"] == 0.1
    assert {p: p.stat().st_mtime_ns for p in art.glob("model_*/features.npy")} == before
    assert all((art / f"model_{m}" / "kfac.npz").exists() for m in range(2))
    plain, _ = stages.target_features(cat, features, "cook@v1")
    pre, _ = stages.target_features(cat, features, "cook@v1", query_damping=0.1)
    assert (art / "targets" / "cook@v1-selection" / "query-kfac-0.1" / "model_0.npy").exists()
    assert not np.allclose(plain[0], pre[0], rtol=1e-2)
    scores = cat.scores(run, "cook@v1")["score"].to_numpy()
    models = stages.pool_models(cat, features, float("inf"))
    np.testing.assert_allclose(scores, task_scores(models, pre), rtol=1e-6)
    np.testing.assert_allclose(per_example_scores(cat, run).mean(axis=1), scores, rtol=1e-4,
                               atol=1e-9 * np.abs(scores).max())  # fmt: skip
    names = [p.name for p in dsdm_predictors(cat, "p", "cook@v1")]
    assert any("K-FAC query d=0.1" in n and run in n for n in names)
    doc = cat.doc_ids("p")[0]
    assert stages.example_drilldown(cat, run, doc)["helps"]
    with pytest.raises(InputError, match="--query-precondition"):
        stages.score_task(cat, features, "cook@v1", query_precondition="shampoo")
    with pytest.raises(InputError, match="--query-damping"):
        stages.score_task(cat, features, "cook@v1", query_precondition="kfac", query_damping=0)


def test_checkpoint_ensembles_featurise_every_member(scored, tmp_path):
    cat, proxies, _, _ = scored
    cfg = stages.ProxyConfig.make(
        n_models=2, preset="tiny", vocab_size=300, seq_len=32, checkpoints=2
    )
    run = stages.train_proxies(cat, "p", cfg)
    assert run != proxies
    members = stages.ensemble_dirs(cat, run)
    assert len(members) == 4 and members[1].parent == members[0].parent.parent
    features = stages.featurize(cat, run, stages.FeatureConfig(proj_dim=64, shard_size=64))
    art = cat.get_run(features)["artifact_path"]
    phis = [np.load(f"{art}/model_{m}/features.npy") for m in range(4)]
    n = len(cat.doc_ids("p"))
    assert all(p.shape == (n, phis[0].shape[1]) for p in phis), [p.shape for p in phis]
    assert not np.allclose(phis[0], phis[1])  # a checkpoint is not its final model
    task = cat.get_target_task("cook")["task_id"]
    scores = cat.scores(stages.score_task(cat, features, task), task)["score"]
    assert len(scores) == n and np.isfinite(scores).all()


def test_kfac_preconditioned_features_store_their_factors_and_score(scored):
    cat, proxies, features, _ = scored
    cfg = stages.FeatureConfig(proj_dim=128, shard_size=64, precondition="kfac-body", damping=0.5)
    run = stages.featurize(cat, proxies, cfg)
    assert run != features and cat.run(run).config["precondition"] == "kfac-body"
    art = cat.get_run(run)["artifact_path"]
    assert all((cat.layout.model_dir(run, m) / "kfac.npz").exists() for m in range(2))
    plain = np.load(f"{cat.get_run(features)['artifact_path']}/model_0/features.npy")
    assert not np.allclose(np.load(f"{art}/model_0/features.npy"), plain)
    task = cat.get_target_task("cook")["task_id"]
    targets, _ = stages.target_features(cat, run, task)
    assert targets[0].shape[1] == plain.shape[1] and np.isfinite(targets[0]).all()
    scores = cat.scores(stages.score_task(cat, run, task), task)["score"]
    assert np.isfinite(scores).all()


def test_float16_feature_store_scores_like_float32(scored):
    from data_catalog.ranks import spearman

    cat, proxies, features, _ = scored
    assert cat.run(features).config.get("store", "float16") == "float16"
    f32 = stages.featurize(cat, proxies, stages.FeatureConfig(proj_dim=128, shard_size=64,
                                                              store="float32"))  # fmt: skip
    art16, art32 = (cat.get_run(r)["artifact_path"] for r in (features, f32))
    assert np.load(f"{art16}/model_0/features.npy", mmap_mode="r").dtype == np.float16
    assert np.load(f"{art32}/model_0/features.npy", mmap_mode="r").dtype == np.float32
    task = cat.get_target_task("cook")["task_id"]
    a, b = (cat.scores(stages.score_task(cat, r, task), task)["score"].to_numpy()
            for r in (features, f32))  # fmt: skip
    assert spearman(a, b) > 0.999 and np.abs(a - b).max() < 1e-2 * np.abs(b).max()


def test_workspace_info_reports_feature_bytes_per_document(scored, capsys):
    from dsdm_engine.cli import main
    from dsdm_engine.stages.features import feature_storage

    cat, _, features, _ = scored
    s = feature_storage(cat, features)
    n_docs = len(cat.doc_ids("p"))
    assert s["members"] == 2 and s["dtype"] == "float16"
    header = 128  # each .npy file's header
    per_member = n_docs * (2 * s["k"] + 4 + 4) + 3 * header  # float16 Φ, row scale, Q
    assert abs(s["bytes"] - 2 * per_member) <= 2 * 3 * 64  # headers may be 64 or 128 bytes
    assert main(["--workspace", str(cat.workspace.root), "workspace", "info"]) == 0
    out = capsys.readouterr().out
    assert f"{features}  pool p: 2 members x k={s['k']} float16" in out and "bytes/doc" in out


def test_a_pool_changed_after_training_is_refused(scored, tmp_path):
    """Runs last in this module: it appends to the shared pool."""
    cat, proxies, _, _ = scored
    extra = tmp_path / "more.jsonl"
    extra.write_text(json.dumps({"text": "a brand new document about soup"}) + "\n")
    ingest(cat, "p", [str(extra)], append=True)
    with pytest.raises(InputError, match="changed since proxies"):
        stages.featurize(cat, proxies, stages.FeatureConfig(proj_dim=128, shard_size=64))


def test_a_moved_workspace_still_scores_selects_and_exports(tmp_path):
    """Paths are stored relative to the workspace: move the folder and keep working in it."""
    import shutil

    rng = random.Random(2)
    words = TOPICS["cooking"].split() + TOPICS["code"].split()
    path = tmp_path / "pool.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"text": " ".join(rng.choice(words) for _ in range(rng.randint(20, 60)))})
            for _ in range(60)
        )
    )
    cat = Catalog.open(tmp_path / "ws")
    ingest(cat, "p", [str(path)])
    add_target_task(cat, "cook", [("stir the", " sauce"), ("bake the", " bread")] * 3, origin="t")
    pcfg = stages.ProxyConfig.make(
        n_models=1, preset="tiny", vocab_size=300, seq_len=32, token_budget=2048
    )
    features = stages.featurize(
        cat, stages.train_proxies(cat, "p", pcfg), stages.FeatureConfig(proj_dim=64)
    )
    first = stages.score_task(cat, features, "cook")
    shutil.move(str(tmp_path / "ws"), str(tmp_path / "moved"))
    moved = Catalog.open(tmp_path / "moved")
    again = stages.score_task(moved, features, "cook", lambda_rel=1.0)  # new A, cached targets
    assert again != first
    assert moved.run(features).artifact_dir.parent.parent.parent == tmp_path / "moved"
    sel = stages.run_selection(moved, "dsdm", "p", task_ref="cook", rule=SelectionRule(k=10))
    manifest = export_selection(moved, sel, fmt="jsonl", name="pick")
    assert manifest["path"].startswith(str(tmp_path / "moved"))
    assert (tmp_path / "moved" / "exports" / "pick" / "data.jsonl").exists()
    assert not (tmp_path / "ws").exists()  # nothing was written to the old place
