"""Scoring benchmark: a new target task (100 examples) against an already featurised pool.

The pool's features are SYNTHETIC (Gaussian, written once to a memmap on disk): scoring cost does
not depend on their values, and featurising 100,000 real documents on this CPU would take hours.
The target examples are real (Wikipedia leads from bench/featurize.py's work folder) and are
featurised with a real proxy, so ``seconds_per_target`` = target featurisation + scoring, and
``seconds_scoring_only`` = the scoring step alone (one mat-vec over the pool per model).

    python bench/score.py --out bench/out/score.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def synthetic_pool(path: Path, n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) float32 memmap + Q, written in blocks so memory stays small."""
    from numpy.lib.format import open_memmap

    if not path.exists():
        rng = np.random.default_rng(seed)
        tmp = path.with_name(path.name + ".tmp")
        mm = open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, k))
        for s in range(0, n, 8192):
            e = min(n, s + 8192)
            mm[s:e] = rng.standard_normal((e - s, k), dtype=np.float32)
        mm.flush()
        del mm
        tmp.replace(path)
    q = np.random.default_rng(seed + 1).uniform(0.5, 1.0, n).astype(np.float32)
    return np.load(path, mmap_mode="r"), q


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-docs", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=4096)
    ap.add_argument("--models", type=int, default=1)
    ap.add_argument("--lambda-rel", type=float, default=float("inf"))
    ap.add_argument("--workdir", default=str(ROOT / "bench" / "out" / "featurize_work"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out")
    args = ap.parse_args()

    import torch

    from dsdm_engine.compute.configs import FeatureConfig
    from dsdm_engine.compute.featurize import featurize_targets, make_featurizer
    from dsdm_engine.compute.models import build_model
    from dsdm_engine.compute.scoring import example_scores, fit_pool_model, task_scores
    from dsdm_engine.compute.training import load_proxy

    torch.set_num_threads(args.threads)
    work = Path(args.workdir)
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    pools = [
        synthetic_pool(
            out_dir / f"synthetic_pool_{args.n_docs}x{args.k}_{m}.npy", args.n_docs, args.k, m
        )
        for m in range(args.models)
    ]
    print(f"synthetic pool ready ({time.time() - t0:.0f}s)", flush=True)
    t0 = time.time()
    # A is fitted once per pool featurisation (not per target task): timed separately
    pms = [fit_pool_model(phi, q, lambda_rel=args.lambda_rel) for phi, q in pools]
    fit_s = time.time() - t0

    if (work / "targets.npz").exists():
        tg = np.load(work / "targets.npz")
        ids, loss, att = tg["input_ids"][:100], tg["loss_mask"][:100], tg["attention_mask"][:100]
    else:  # no bench data yet: random tokens with a completion mask (timing is what matters)
        ids = np.random.default_rng(0).integers(2, 4096, (100, 64))
        loss = np.zeros_like(ids, dtype=bool)
        loss[:, 32:] = True
        att = np.ones_like(ids)
    proxies = sorted(work.glob("proxy_*"))
    model = (
        load_proxy(proxies[0], device="cpu")[0]
        if proxies
        else build_model("small", 4096, ids.shape[1])
    )
    fzs = [
        make_featurizer(model, FeatureConfig(proj_dim=args.k).for_proxy(m))
        for m in range(args.models)
    ]
    # warm the page cache once so the figure is the steady state of an interactive session
    for pm in pms:
        task_scores([pm], [np.zeros((1, args.k), np.float32)])

    t0 = time.time()
    targets = [featurize_targets(fz, ids, loss, att, batch_size=32)[0] for fz in fzs]
    t1 = time.time()
    scores = task_scores(pms, targets)
    t2 = time.time()
    drill = example_scores(pms, [t[:10] for t in targets])  # drill-down: 10 target examples
    t3 = time.time()
    res = {
        "n_docs": args.n_docs,
        "k": args.k,
        "models": args.models,
        "lambda_rel": args.lambda_rel,
        "n_target_examples": int(ids.shape[0]),
        "seconds_per_target": t2 - t0,
        "seconds_target_featurization": t1 - t0,
        "seconds_scoring_only": t2 - t1,
        "seconds_example_scores_10_targets": t3 - t2,
        "seconds_fit_A_once_per_pool": fit_s,
        "synthetic_pool_features": True,
        "finite": bool(np.isfinite(scores).all() and np.isfinite(drill).all()),
    }
    print(json.dumps(res, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
