"""The kill harness: `dsdm featurize` SIGKILLed at seeded random moments, then run to the end,
gives exactly the features of an uninterrupted run (and the catalog records one finished run).
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

from data_catalog.catalog import Catalog
from dsdm_engine import stages

ARGS = ["featurize", "--proj-dim", "80", "--shard-size", "24", "--batch-size", "8"]


def test_featurize_killed_at_random_points_resumes_to_the_same_features(scored, tmp_path):
    cat, proxies, _, _ = scored
    killed_ws = tmp_path / "killed"
    shutil.copytree(cat.workspace.root, killed_ws)
    cmd = [sys.executable, "-m", "dsdm_engine.cli", "--workspace", str(killed_ws), *ARGS,
           "--proxies", proxies]  # fmt: skip
    rng = random.Random(7)
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(4.0, 9.0))  # after the imports, somewhere in the shards
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 1
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    run_id = done.stdout.strip().rsplit(" ", 1)[-1]
    # the same featurisation, uninterrupted, in the original workspace
    cfg = stages.FeatureConfig(proj_dim=80, shard_size=24, batch_size=8)
    assert stages.featurize(cat, proxies, cfg) == run_id
    again = Catalog.open(killed_ws)
    assert again.get_run(run_id)["status"] == "done"
    for m in range(2):
        a = np.load(cat.layout.model_dir(run_id, m) / "features.npy")
        b = np.load(again.layout.model_dir(run_id, m) / "features.npy")
        assert np.array_equal(a, b), m
        qa = np.load(cat.layout.model_dir(run_id, m) / "q.npy")
        assert np.array_equal(qa, np.load(again.layout.model_dir(run_id, m) / "q.npy"))


def test_two_identical_featurize_processes_at_once_both_succeed(scored, tmp_path):
    cat, proxies, _, _ = scored
    ws = tmp_path / "twice"
    shutil.copytree(cat.workspace.root, ws)
    cmd = [sys.executable, "-m", "dsdm_engine.cli", "--workspace", str(ws), "featurize",
           "--proj-dim", "72", "--shard-size", "32", "--proxies", proxies]  # fmt: skip
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]  # fmt: skip
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-1500:] for _, e in outs]
    ids = {o.strip().rsplit(" ", 1)[-1] for o, _ in outs}
    assert len(ids) == 1  # the same run, made once
    assert any("waiting: another process is running" in e for _, e in outs)
    run_id = ids.pop()
    assert Catalog.open(ws).get_run(run_id)["status"] == "done"
