"""CUDA path (marker `gpu`, deselected by default; run `pytest -m gpu` on a CUDA machine).

The same properties as the CPU tests, on the GPU: fast features equal the exact reference, CUDA
features match CPU features of the same weights, and the catalog-wired pipeline runs end to end
with `device="cuda"`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dsdm_engine.compute.configs import FeatureConfig
from dsdm_engine.compute.featurize import Batch, make_featurizer
from dsdm_engine.compute.models import build_model

pytestmark = pytest.mark.gpu
V, T = 300, 24


@pytest.fixture(autouse=True)
def needs_cuda():
    assert torch.cuda.is_available(), "the gpu tests need a CUDA device: run them on one"


def _batch(device):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(2, V, (4, T), generator=g)
    att = (torch.arange(T)[None] < torch.tensor([T, 11, 5, T])[:, None]).long()
    loss = att.bool().clone()
    loss[3, :10] = False
    return Batch((ids * att + (1 - att)).to(device), att.to(device), loss.to(device))


def test_fast_equals_exact_and_cpu_on_cuda():
    cfg = FeatureConfig(method="fast", proj_dim=256, proj_seed=1)
    cpu_model = build_model("tiny", vocab_size=V, seq_len=T, seed=2)
    gpu_model = build_model("tiny", vocab_size=V, seq_len=T, seed=2, device="cuda")
    fast = make_featurizer(gpu_model, cfg)
    exact = make_featurizer(gpu_model, FeatureConfig(**{**cfg.__dict__, "method": "exact"}))
    f_gpu, q_gpu = fast.featurize(_batch("cuda"))
    f_exact, _ = exact.featurize(_batch("cuda"))
    f_cpu, q_cpu = make_featurizer(cpu_model, cfg).featurize(_batch("cpu"))
    scale = np.abs(f_exact).max()
    assert np.abs(f_gpu - f_exact).max() / scale < 1e-3
    assert np.abs(f_gpu - f_cpu).max() / scale < 1e-3
    np.testing.assert_allclose(q_gpu, q_cpu, rtol=1e-3)


def test_pipeline_end_to_end_on_cuda(tmp_path):
    import json

    from data_catalog.catalog import Catalog
    from data_catalog.ingest import ingest
    from data_catalog.targets import add_target_task
    from dsdm_engine import stages
    from dsdm_engine.selectors import SelectionRule

    path = tmp_path / "pool.jsonl"
    words = ["bake", "flour", "goal", "team", "loop", "array", "sauce", "match"]
    rng = np.random.default_rng(0)
    path.write_text(
        "".join(
            json.dumps({"text": " ".join(rng.choice(words, 20)) + f" {i}"}) + "\n"
            for i in range(120)
        )
    )
    cat = Catalog.open(tmp_path / "ws")
    ingest(cat, "p", [str(path)])
    add_target_task(cat, "t", [("bake", " flour sauce"), ("goal", " team match")], origin="t")
    cfg = stages.ProxyConfig.make(
        n_models=2, preset="tiny", vocab_size=300, seq_len=32, device="cuda"
    )
    proxies = stages.train_proxies(cat, "p", cfg)
    feats = stages.featurize(cat, proxies, stages.FeatureConfig(proj_dim=512, device="cuda"))
    scores = stages.score_task(cat, feats, "t")
    assert np.isfinite(cat.scores(scores, "t@v1")["score"]).all()
    sid = stages.run_selection(cat, "dsdm", "p", task_ref="t", rule=SelectionRule(k=10))
    assert len(cat.selection_members(sid)) == 10
