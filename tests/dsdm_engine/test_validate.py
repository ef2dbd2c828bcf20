"""`dsdm validate`: LDS on known-answer cases, the subset protocol, a tiny run end to end."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from data_catalog.catalog import Catalog
from data_catalog.ingest import ingest
from data_catalog.targets import add_target_task
from dsdm_engine import stages
from dsdm_engine.evaluation.lds import (
    Predictor,
    bootstrap_ci,
    lds_ceiling,
    lds_table,
    noise_floor,
    replicate_agreement,
)
from dsdm_engine.evaluation.subsets import ValidateConfig, pack, subset_masks, train_subset_models
from dsdm_engine.evaluation.validate import validate


def planted(n_docs=300, m=80, n_ex=6, noise=0.5, seed=0):
    """Subset outcomes that ARE a linear function of membership (plus noise): the known answer."""
    rng = np.random.default_rng(seed)
    masks = subset_masks(n_docs, m, 0.5, seed)
    w = rng.normal(size=(n_docs, n_ex))  # per-example true effects
    out = masks.astype(float) @ w + noise * rng.normal(size=(m, n_ex))
    return masks, w, {"t|selection": out, "t|heldout": out + noise * rng.normal(size=out.shape)}


def test_the_true_datamodel_has_lds_near_one_and_noise_near_zero():
    masks, w, outcomes = planted()
    rng = np.random.default_rng(9)
    preds = [
        Predictor("truth", "t", w.mean(1), w),
        Predictor("negated", "t", -w.mean(1), -w),
        Predictor("noise", "t", rng.normal(size=w.shape[0]), rng.normal(size=w.shape)),
    ]
    df = lds_table(masks, outcomes, preds, n_boot=200).set_index(["predictor", "split"])
    truth = df.loc[("truth", "selection")]
    assert truth["aggregate_lds"] > 0.9 and truth["per_example_lds"] > 0.9
    assert truth["ci_lo"] > 0.8 and truth["ci_lo"] <= truth["aggregate_lds"] <= truth["ci_hi"]
    assert df.loc[("truth", "heldout"), "aggregate_lds"] > 0.9
    assert df.loc[("negated", "selection"), "aggregate_lds"] < -0.9  # the sign convention shows
    rand = df.loc[("noise", "selection")]
    assert abs(rand["aggregate_lds"]) < 0.35 and rand["ci_lo"] < 0 < rand["ci_hi"]
    assert np.isnan(df.loc[("truth", "heldout"), "per_example_lds"])  # never saw held-out data


def test_bootstrap_interval_narrows_with_more_subsets():
    widths = []
    for m in (20, 200):
        masks, w, outcomes = planted(m=m, noise=3.0, seed=1)
        pred = masks.astype(float) @ w.mean(1)
        lo, hi = bootstrap_ci(pred, outcomes["t|selection"].mean(1), n_boot=300)
        widths.append(hi - lo)
    assert widths[1] < 0.6 * widths[0]


def test_subset_masks_are_exact_seeded_and_distinct():
    a = subset_masks(101, 10, 0.5, seed=3)
    assert (a.sum(1) == 50).all() or (a.sum(1) == 51).all()
    assert np.array_equal(a, subset_masks(101, 10, 0.5, seed=3))
    assert not np.array_equal(a, subset_masks(101, 10, 0.5, seed=4))
    assert len({r.tobytes() for r in a}) == 10


def test_pack_matches_the_pool_packing_of_the_member_documents():
    docs = [np.arange(s, s + n, dtype=np.int32) for s, n in ((10, 5), (30, 9), (60, 3), (90, 7))]
    docs = [np.append(d, 0) for d in docs]  # each document ends with EOS (id 0)
    flat = np.concatenate(docs)
    offsets = np.concatenate([[0], np.cumsum([len(d) for d in docs])])
    member = np.array([True, False, True, True])
    chunks = pack(flat, offsets, member, seq_len=4)
    joined = np.concatenate([docs[0], docs[2], docs[3]])
    assert chunks.shape == (len(joined) // 4, 4)
    assert np.array_equal(chunks.ravel(), joined[: chunks.size])


def test_noise_floor_compares_seed_spread_with_subset_spread():
    out = {"t|selection": np.array([[1.0], [2.0], [3.0], [4.0]])}
    noise = {"t|selection": np.array([[1.1], [0.9]])}
    row = noise_floor(out, noise).iloc[0]
    assert row["seed_sd"] == pytest.approx(np.std([1.0, 1.1, 0.9], ddof=1))
    assert row["subset_sd"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert 0 < row["noise_ratio"] < 0.2


def test_replicate_agreement_and_the_lds_ceiling_it_implies():
    """Replicates = a shared subset effect plus independent noise of equal variance: one
    replicate agrees with another at about 1/2, so a perfect predictor reaches about sqrt(1/2)
    against one replicate and sqrt(2/3) against the mean of two (Spearman-Brown)."""
    rng = np.random.default_rng(0)
    effect = rng.normal(size=4000)
    reps = np.stack([effect + rng.normal(size=4000) for _ in range(2)])[:, :, None]
    agree = replicate_agreement(reps)
    assert agree == pytest.approx(0.5, abs=0.04)
    assert lds_ceiling(agree, 1) == pytest.approx(np.sqrt(0.5), abs=0.03)
    assert lds_ceiling(agree, 2) == pytest.approx(np.sqrt(2 / 3), abs=0.03)
    # the ceiling is what the truth actually reaches against the mean of the replicates
    truth = float(np.corrcoef(effect, reps.mean(axis=(0, 2)))[0, 1])
    assert lds_ceiling(agree, 2) == pytest.approx(truth, abs=0.04)
    assert np.isnan(replicate_agreement(reps[:1])) and lds_ceiling(-0.2, 2) == 0.0
    row = noise_floor({"t|heldout": reps.mean(axis=0)}, {"t|heldout": np.zeros((0, 0))}, {
        "t|heldout": reps
    }).iloc[0]  # fmt: skip
    assert row["replicates"] == 2 and row["lds_ceiling"] == pytest.approx(lds_ceiling(agree, 2))


def test_bad_validate_settings_name_their_flag():
    from data_catalog.errors import InputError

    with pytest.raises(InputError, match="--subsets"):
        ValidateConfig(n_subsets=2)
    with pytest.raises(InputError, match="--alpha"):
        ValidateConfig(alpha=1.0)
    with pytest.raises(InputError, match="--replicates"):
        ValidateConfig(replicates=0)


@pytest.fixture(scope="module")
def tiny_scored(tmp_path_factory):
    root = tmp_path_factory.mktemp("val")
    rng = random.Random(1)
    words = (
        "stir sauce garlic onion simmer pan bake flour team goal match player loop index".split()
    )
    path = root / "pool.jsonl"
    with open(path, "w") as f:
        for i in range(120):
            text = " ".join(rng.choice(words) for _ in range(rng.randint(10, 40)))
            f.write(json.dumps({"text": f"{text} {i}"}) + "\n")
    cat = Catalog.open(root / "ws")
    ingest(cat, "p", [str(path)])
    ex = [(" ".join(rng.sample(words, 4)), " " + " ".join(rng.sample(words, 2))) for _ in range(8)]
    add_target_task(cat, "t", ex, origin="test")
    pcfg = stages.ProxyConfig.make(
        n_models=1, preset="tiny", vocab_size=300, seq_len=32, token_budget=4096
    )
    proxies = stages.train_proxies(cat, "p", pcfg)
    features = stages.featurize(cat, proxies, stages.FeatureConfig(proj_dim=64, shard_size=64))
    stages.score_task(cat, features, "t")
    return cat


def test_validate_stores_lds_for_every_predictor_and_resumes(tiny_scored):
    cat = tiny_scored
    cfg = ValidateConfig(n_subsets=4, noise_seeds=1, workers=1, token_budget=2048, device="cpu")
    messages: list[str] = []
    run_id = validate(cat, "p", config=cfg, progress=lambda d, t, m="": messages.append(m))
    assert cat.get_run(run_id)["status"] == "done"
    res = cat.lds_results(run_id=run_id)
    assert set(res["split"]) == {"selection", "heldout"}
    kinds = set(res["kind"])
    assert {"dsdm", "similarity", "trivial"} <= kinds
    assert {"embedding", "dsir", "classifier", "token count"} <= set(res["predictor"])
    assert res["aggregate_lds"].between(-1, 1).all() and (res["n_subsets"] == 4).all()
    dsdm = res[(res["kind"] == "dsdm") & (res["split"] == "selection")]
    assert dsdm["per_example_lds"].notna().all()
    # a rerun trains nothing and reproduces the numbers exactly
    again_msgs: list[str] = []
    again = validate(cat, "p", config=cfg, progress=lambda d, t, m="": again_msgs.append(m))
    assert again == run_id
    assert any("5 subset models already trained" in m for m in again_msgs)
    pd_cols = ["predictor", "split", "aggregate_lds"]
    assert cat.lds_results(run_id=run_id)[pd_cols].equals(res[pd_cols])


def test_validate_without_noise_seeds_reports_no_noise_floor(tiny_scored):
    cfg = ValidateConfig(n_subsets=4, noise_seeds=0, workers=1, token_budget=2048, device="cpu")
    run_id = validate(tiny_scored, "p", config=cfg, similarity=False)
    res = tiny_scored.lds_results(run_id=run_id)
    assert (res["n_subsets"] == 4).all() and set(res["kind"]) == {"dsdm"}


def test_a_validation_with_another_target_reuses_the_subset_models(tiny_scored):
    """Subset models trained for target t, validated later for t and u: u is measured on the
    same models (none retrained), t's outcomes are kept."""
    cat = tiny_scored
    rng = random.Random(2)
    words = "stir sauce garlic team goal match loop index".split()
    ex = [(" ".join(rng.sample(words, 3)), " " + rng.choice(words)) for _ in range(8)]
    add_target_task(cat, "u", ex, origin="test")
    features = cat.list_runs("features")
    stages.score_task(cat, str(features[features["status"] == "done"]["run_id"].iloc[-1]), "u")
    cfg = ValidateConfig(n_subsets=4, noise_seeds=0, workers=1, token_budget=1024, device="cpu")
    first = cat.get_run(validate(cat, "p", ["t"], cfg, similarity=False))
    root = Path(first["artifact_path"])
    weights = {p: p.stat().st_mtime_ns for p in root.glob("subset_*/model/**/*") if p.is_file()}
    t_before = [json.loads((root / f"subset_{j}" / "outcomes.json").read_text()) for j in range(4)]
    both = validate(cat, "p", ["t", "u"], cfg, similarity=False)
    assert {p: p.stat().st_mtime_ns for p in weights} == weights and weights
    for j, before in enumerate(t_before):
        after = json.loads((root / f"subset_{j}" / "outcomes.json").read_text())
        assert {k: after[k] for k in before} == before and len(after) == 2 * len(before)
    tasks = set(cat.lds_results(run_id=both)["task_id"])
    assert tasks == {cat.get_target_task(t)["task_id"] for t in ("t", "u")}


def test_replicates_add_models_beside_the_same_subset_models(tiny_scored):
    """`replicates=2` keeps the subset models of a one-replicate validation (same folder, none
    retrained), trains one more per subset with its own seed, and averages the outcomes."""
    cat = tiny_scored
    cfg = ValidateConfig(n_subsets=4, noise_seeds=0, workers=1, token_budget=1024, device="cpu")
    first = cat.get_run(validate(cat, "p", ["t"], cfg, similarity=False))
    root = Path(first["artifact_path"])
    weights = {p: p.stat().st_mtime_ns for p in root.glob("subset_*/model/**/*") if p.is_file()}
    two = cat.get_run(validate(cat, "p", ["t"], replace(cfg, replicates=2), similarity=False))
    assert two["run_id"] != first["run_id"] and Path(two["artifact_path"]) == root
    assert {p: p.stat().st_mtime_ns for p in weights} == weights and weights
    key = f"{cat.get_target_task('t')['task_id']}|heldout"
    one = [json.loads((root / f"subset_{j}" / "outcomes.json").read_text())[key] for j in range(4)]
    rep = [
        json.loads((root / f"subset_{j}_r1" / "outcomes.json").read_text())[key] for j in range(4)
    ]
    assert not np.allclose(one, rep)  # another init/order seed: another model
    got = train_subset_models(cat, first["config"]["proxies_run_id"], [key.split("|")[0]],
                              replace(cfg, replicates=2))  # fmt: skip
    assert got.replicates[key].shape == (2, 4, len(one[0]))
    assert np.allclose(got.outcomes[key], (np.asarray(one) + np.asarray(rep)) / 2)
    noise = json.loads((root / f"{two['run_id']}.noise.json").read_text())
    assert {r["replicates"] for r in noise} == {2}
