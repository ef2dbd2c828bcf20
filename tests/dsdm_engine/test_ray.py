"""Ray as the executor: featurisation shards as Ray tasks on a local two-CPU Ray give features
bit-identical to the local executor, and a run cancelled on one executor resumes on the other
to the same bits. (`kfac_windows` differs between the compared runs only to give them separate
run folders: it has no effect without `--precondition`.)"""

from __future__ import annotations

import numpy as np
import pytest

from dsdm_engine import stages
from dsdm_engine.progress import Cancelled


@pytest.fixture(scope="module")
def ray_local():
    import ray

    from dsdm_engine.executors import init_ray

    init_ray(num_cpus=2)
    yield ray
    ray.shutdown()


def features(cat, run_id: str) -> list[np.ndarray]:
    from dsdm_engine.compute.featurize.shards import load_pool_features

    return [np.asarray(load_pool_features(cat.layout.model_dir(run_id, m))[0]) for m in range(2)]


def config(windows: int) -> stages.FeatureConfig:
    return stages.FeatureConfig(proj_dim=96, shard_size=32, kfac_windows=windows)


def cancel_after(calls: int):
    seen = []

    def progress(done, total, message=""):
        seen.append(done)
        if len(seen) == calls:
            raise Cancelled()

    return progress


def test_ray_features_equal_local_and_runs_resume_across_executors(scored, ray_local):
    cat, proxies, _, _ = scored
    local = features(cat, stages.featurize(cat, proxies, config(200)))
    on_ray = features(cat, stages.featurize(cat, proxies, config(201), executor="ray"))
    assert all(np.array_equal(a, b) for a, b in zip(local, on_ray, strict=True))
    # started locally, cancelled after a few shards, finished on Ray
    with pytest.raises(Cancelled):
        stages.featurize(cat, proxies, config(202), cancel_after(3))
    run = stages.featurize(cat, proxies, config(202), executor="ray")
    assert all(np.array_equal(a, b) for a, b in zip(local, features(cat, run), strict=True))
    # started on Ray, cancelled after its first finished shard, finished locally
    with pytest.raises(Cancelled):
        stages.featurize(cat, proxies, config(203), cancel_after(2), executor="ray")
    run = stages.featurize(cat, proxies, config(203))
    assert all(np.array_equal(a, b) for a, b in zip(local, features(cat, run), strict=True))


def test_ray_trains_the_same_proxies(scored, ray_local, tmp_path):
    from dsdm_engine.compute.training import checkpoint_sha256, train_proxy

    cat = scored[0]
    cfg = stages.ProxyConfig.make(n_models=2, preset="tiny", vocab_size=300, seq_len=32, seed=40)
    run = stages.train_proxies(cat, "p", cfg, executor="ray")
    chunks = np.load(stages.prepare_tokens(cat, "p", 300, 32).chunks_path)
    for m, trained in enumerate(stages.model_dirs(cat, run)):
        train_proxy(chunks, cfg.for_proxy(m), tmp_path / f"local_{m}")  # the local loop's unit
        assert checkpoint_sha256(tmp_path / f"local_{m}") == checkpoint_sha256(trained)


def test_ray_subset_models_equal_local_and_resume_across_executors(scored, ray_local):
    from dsdm_engine.evaluation.subsets import ValidateConfig, train_subset_models

    cat, proxies, _, _ = scored
    task = cat.get_target_task("cook")["task_id"]

    def cfg(seed: int) -> ValidateConfig:
        return ValidateConfig(n_subsets=4, noise_seeds=0, workers=1, token_budget=1024,
                              device="cpu", seed=seed)  # fmt: skip

    local = train_subset_models(cat, proxies, [task], cfg(0))
    on_ray = train_subset_models(cat, proxies, [task], cfg(1), executor="ray")
    again = train_subset_models(cat, proxies, [task], cfg(1))  # resumes: nothing retrained
    key = f"{task}|heldout"
    assert on_ray.root != local.root and np.array_equal(again.outcomes[key], on_ray.outcomes[key])
    # same seed on Ray after a local start: the same numbers
    import shutil

    shutil.rmtree(local.root / "subset_3")
    redo = train_subset_models(cat, proxies, [task], cfg(0), executor="ray")
    assert np.array_equal(redo.outcomes[key], local.outcomes[key])


def test_ray_evaluations_equal_local_and_resume_across_executors(scored, ray_local):
    from dsdm_engine.evaluation import harness as ev
    from dsdm_engine.selectors import SelectionRule

    cat = scored[0]
    sels = [
        stages.run_selection(cat, "random", "p", rule=SelectionRule(k=100), seed=s, name=f"ev{s}")
        for s in (0, 1)
    ]

    def run(lr: float, executor: str):  # a new lr is a new recipe hash: nothing is reused
        recipe = ev.EvalRecipe(lr=lr, batch_size=4, passes=1.0, device="cpu")
        return ev.evaluate_selections(cat, sels, ["cook"], [256], [0, 1], recipe,
                                      executor=executor)  # fmt: skip

    local, on_ray = run(3e-3, "local"), run(3.001e-3, "ray")
    assert not local["reused"].any() and not on_ray["reused"].any()
    assert len(on_ray) == 4 and on_ray["selection_id"].tolist() == local["selection_id"].tolist()
    same = run(3e-3, "ray")  # the local run's recipe on Ray: everything stored, nothing retrained
    assert same["reused"].all() and same["heldout_loss"].tolist() == local["heldout_loss"].tolist()
    # the same recipe, trained on Ray after one stored result is removed: the same bits
    with cat.connect() as con:
        con.execute("DELETE FROM evaluations WHERE selection_id = ? AND seed = 1", [sels[1]])
    redo = run(3e-3, "ray")
    assert redo["reused"].sum() == 3
    assert redo["heldout_loss"].tolist() == local["heldout_loss"].tolist()
