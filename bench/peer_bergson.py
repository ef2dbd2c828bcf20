"""Peer scores from EleutherAI's bergson on an exchange folder written by `bench/peer.py`.

Runs in the separate `.venv-peers` (`make bench-peers`); imports only torch, transformers,
numpy, safetensors, datasets and bergson, never our package:

    .venv-peers/bin/python bench/peer_bergson.py --in DIR --out DIR

Per proxy (one bergson index each), bergson's `trackstar` recipe at its own defaults, with the
query/value Hessian mixing off (`--mix_hessians false`, which bergson advises when the query set
is small; ours hold 10-30 examples):

1. per-example loss gradients (sum over the tokens' cross-entropy, bergson's default) of every
   pool window, projected per module to 16 x 16 (`TrackstarIndexConfig`'s default), collected
   with `InMemoryCollector`, which also accumulates each module's autocorrelation Hessian;
2. the target examples' gradients (loss on the completion tokens only), same projection;
3. score = Σ_modules q_m · H_m⁻¹ · g_m with bergson's `DensePreconditioner` (its default damped
   inverse, damping 0.1 · mean eigenvalue; the one-sided mode of `score_dataset` without
   `unit_normalize`). Positive = the window's gradient step lowers the target's loss.

A document's score is the sum over its windows; per target, the mean over its examples; the
mean over proxies is written as `scores_{name}.npy` (n_docs,) float64, with `meta.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import bergson  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from bergson import GradientProcessor, IndexConfig, InMemoryCollector  # noqa: E402
from bergson.collector.collector import CollectorComputer  # noqa: E402
from bergson.config.config import InversionConfig, TrackstarIndexConfig  # noqa: E402
from bergson.data import allocate_batches  # noqa: E402
from bergson.hessians.preconditioner import DensePreconditioner  # noqa: E402
from datasets import Dataset  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

PROJECTION_DIM = TrackstarIndexConfig.projection_dim  # bergson's trackstar default (16)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] bergson: {msg}", flush=True)


def load_proxy(folder: Path) -> GPT2LMHeadModel:
    """Our proxy checkpoint as a plain GPT-2 (the tied `lm_head.weight` is not in the file)."""
    arch = json.loads((folder / "config.json").read_text())["architecture"]
    model = GPT2LMHeadModel(GPT2Config(**arch, attn_implementation="eager"))
    missing, unexpected = model.load_state_dict(
        load_file(str(folder / "model.safetensors")), strict=False
    )
    if unexpected or any(m != "lm_head.weight" for m in missing):
        raise ValueError(f"{folder}: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    return model.eval()


def pool_dataset(windows: np.ndarray) -> Dataset:
    """Pool windows (padded with -1) as bergson rows: loss on every token (its default)."""
    ids = [w[w >= 0].tolist() for w in windows]
    return Dataset.from_dict({"input_ids": ids, "length": [len(x) for x in ids]})


def target_dataset(arrays: list[dict[str, np.ndarray]]) -> Dataset:
    """Every target's examples, concatenated: labels only on the completion tokens."""
    ids, labels = [], []
    for a in arrays:
        for row, att, loss in zip(a["input_ids"], a["attention_mask"], a["loss_mask"], strict=True):
            n = int(att.sum())
            ids.append(row[:n].tolist())
            labels.append(np.where(loss[:n], row[:n], -100).tolist())
    return Dataset.from_dict({"input_ids": ids, "labels": labels, "length": [len(x) for x in ids]})


def collect(
    model: GPT2LMHeadModel, data: Dataset, run_path: Path, hessians: bool
) -> tuple[dict[str, torch.Tensor], GradientProcessor]:
    """Projected per-example gradients {module: (n, 16·16)}; with `hessians`, the processor
    also carries each module's autocorrelation Hessian over these rows. bergson writes its
    processor (and Hessians) under `run_path`.part."""
    cfg = IndexConfig(run_path=str(run_path), projection_dim=PROJECTION_DIM)
    cfg.partial_run_path.mkdir(parents=True, exist_ok=True)
    processor = GradientProcessor(projection_dim=cfg.projection_dim)
    collector = InMemoryCollector(
        model=model.base_model, processor=processor, data=data, cfg=cfg,
        skip_hessians=not hessians,
    )  # fmt: skip
    batches = allocate_batches(list(data["length"]), cfg.token_batch_size)
    computer = CollectorComputer(
        model=model, data=data, collector=collector, batches=batches, cfg=cfg
    )
    computer.run_with_collector_hooks(desc="gradients")
    return {k: v.float() for k, v in collector.gradients.items()}, processor


def score_proxy(
    model: GPT2LMHeadModel, pool: Dataset, queries: Dataset, run_dir: Path
) -> np.ndarray:
    """(n_windows, n_queries) bergson scores of one proxy."""
    index, processor = collect(model, pool, run_dir / "pool", hessians=True)
    query, _ = collect(model, queries, run_dir / "query", hessians=False)
    precond = DensePreconditioner.from_processor(processor, inversion_cfg=InversionConfig())
    query = precond.apply(query)
    out = torch.zeros(len(pool), len(queries), dtype=torch.float64)
    for name, g in index.items():
        out += (g.double() @ query[name].double().T).cpu()
    return out.numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--in", dest="inp", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    t0 = time.monotonic()
    torch.set_num_threads(1)
    src, dst = Path(args.inp), Path(args.out)
    dst.mkdir(parents=True, exist_ok=True)
    windows = np.load(src / "pool_windows.npy")
    owner = np.load(src / "pool_owner.npy")
    n_docs = int((src / "n_docs.txt").read_text())
    names = sorted(p.stem.removeprefix("targets_") for p in src.glob("targets_*.npz"))
    arrays = [dict(np.load(src / f"targets_{n}.npz")) for n in names]
    sizes = [len(a["input_ids"]) for a in arrays]
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    pool, queries = pool_dataset(windows), target_dataset(arrays)
    proxies = sorted(src.glob("proxy_*"), key=lambda p: int(p.name.split("_")[1]))
    if not proxies:
        sys.exit(f"no proxy_* folders in {src}")
    total = {n: np.zeros(n_docs) for n in names}
    for m, folder in enumerate(proxies):
        log(f"proxy {m + 1}/{len(proxies)}: {len(pool)} windows, {len(queries)} queries")
        with tempfile.TemporaryDirectory() as tmp:
            win = score_proxy(load_proxy(folder), pool, queries, Path(tmp))
        docs = np.zeros((n_docs, win.shape[1]))
        np.add.at(docs, owner, win)  # a document's score: the sum over its windows
        for i, n in enumerate(names):
            total[n] += docs[:, bounds[i] : bounds[i + 1]].mean(axis=1)
    for n in names:
        np.save(dst / f"scores_{n}.npy", total[n] / len(proxies))
    meta = {
        "bergson_version": bergson.__version__,
        "recipe": "trackstar defaults, mix_hessians=false, one-sided",
        "preconditioner": "per-module autocorrelation (empirical Fisher, dataset "
        "labels) Hessian of the pool's projected gradients, damped inverse "
        "(damping 0.1 x mean eigenvalue)",
        "projection": f"per_module rademacher {PROJECTION_DIM}x{PROJECTION_DIM}",
        "loss": "ce, sum over tokens (pool: all tokens; targets: completion tokens)",
        "n_proxies": len(proxies),
        "n_windows": len(pool),
        "n_queries": dict(zip(names, sizes, strict=True)),
        "seconds": time.monotonic() - t0,
    }
    (dst / "meta.json").write_text(json.dumps(meta, indent=1))
    log(f"wrote {len(names)} score files to {dst} in {meta['seconds']:.0f}s")


if __name__ == "__main__":
    main()
