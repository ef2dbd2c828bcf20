"""Engine test settings: one torch thread, as the engine itself uses by default.

With two intra-op threads, tiny models ran 10-27x slower whenever another process shared the
2-core machine (OpenMP threads spin-wait on the busy core); see `models.configure_threads`.
"""

from __future__ import annotations

import json
import random

import pytest
import torch

from data_catalog.catalog import Catalog
from data_catalog.ingest import ingest
from data_catalog.targets import add_target_task
from dsdm_engine import stages


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


TOPICS = {
    "cooking": "stir the sauce add garlic onion simmer pan oven bake flour butter salt recipe",
    "sports": "team scored goal match player coach league season win defense ball field",
    "code": "function returns list string array loop index variable compile python error",
}


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """A workspace with a scored tiny pool (built once for the module: ~20 s on 2 cores)."""
    root = tmp_path_factory.mktemp("pipe")
    rng = random.Random(0)
    path = root / "pool.jsonl"
    with open(path, "w") as f:
        for i in range(240):
            topic = list(TOPICS)[i % 3]
            words = TOPICS[topic].split()
            text = " ".join(rng.choice(words) for _ in range(rng.randint(15, 30)))
            f.write(json.dumps({"text": f"{text} {i}", "source": topic}) + "\n")
    cat = Catalog.open(root / "ws")
    ingest(cat, "p", [str(path)])
    words = TOPICS["cooking"].split()
    examples = [
        (" ".join(rng.choice(words) for _ in range(8)), " " + " ".join(rng.sample(words, 3)))
        for _ in range(16)
    ]
    add_target_task(cat, "cook", examples, origin="test")
    pcfg = stages.ProxyConfig.make(n_models=2, preset="tiny", vocab_size=300, seq_len=32)
    proxies = stages.train_proxies(cat, "p", pcfg)
    features = stages.featurize(cat, proxies, stages.FeatureConfig(proj_dim=128, shard_size=64))
    scores = stages.score_task(cat, features, "cook")
    return cat, proxies, features, scores
