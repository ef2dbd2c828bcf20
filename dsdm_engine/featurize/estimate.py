"""Cost and memory estimate of a featurise + score job, before it runs (`dry_run_estimate`).

Throughput comes from constants measured with bench/featurize.py (fast path, 128-token chunks)
and scales linearly with sequence length; ``calibrate=True`` times one batch on this machine
instead. Memory counts the model, one batch of activations (the (B, T, V) logits dominate small
proxies), one shard of features, and the scoring matrices.
"""

from __future__ import annotations

import time

from dsdm_engine.models import get_preset, resolve_device

# Fast-path sequences/s at seq_len 128, vocab 4096, measured (bench/featurize.py, README table).
MEASURED_SEQ_PER_S: dict[tuple[str, str], float] = {
    ("tiny", "cpu"): 16.0,  # shared 2-core CPU, 2 threads
    ("small", "cpu"): 11.0,
    ("medium", "cpu"): 6.0,
    ("125m", "cpu"): 0.4,  # extrapolated from the FLOP ratio to `medium`, not measured
    ("tiny", "cuda"): 6000.0,  # H200, extrapolated
    ("small", "cuda"): 5137.0,  # H200, measured
    ("medium", "cuda"): 2500.0,  # H200, extrapolated
    ("125m", "cuda"): 583.0,  # H200, measured
}
# proxy training runs at about the plain forward+backward rate (measured ≈ fast-path rate)
TRAIN_SEQ_PER_S_FACTOR = 1.0


def _params(preset: str, vocab: int, seq_len: int) -> int:
    p = get_preset(preset)
    return 12 * p.n_layer * p.n_embd**2 + (vocab + seq_len) * p.n_embd


def dry_run_estimate(
    n_docs: int,
    seq_len: int,
    k: int,
    n_models: int,
    preset: str,
    device: str = "auto",
    *,
    vocab_size: int = 4096,
    batch_size: int = 32,
    shard_size: int = 1024,
    n_targets: int = 100,
    lambda_finite: bool = False,
    train_tokens_per_model: int | None = None,
    calibrate: bool = False,
) -> dict:
    """Bytes, memory and seconds for featurising `n_docs` chunks with `n_models` proxies.

    Returns a dict with ``feature_bytes`` (on disk, all models), ``peak_memory_bytes`` (one
    featurisation process), ``scoring_memory_bytes``, ``featurize_seconds``, ``train_seconds``,
    ``score_seconds_per_target_task`` and ``seq_per_s`` (with ``seq_per_s_source``).
    """
    dev = resolve_device(device).type
    d = get_preset(preset).n_embd
    n_layer = get_preset(preset).n_layer
    params = _params(preset, vocab_size, seq_len)
    if calibrate:
        seq_per_s, source = (
            _calibrate(preset, vocab_size, seq_len, k, batch_size, dev),
            "calibrated",
        )
    else:
        base = MEASURED_SEQ_PER_S.get((preset, dev), 10.0)
        seq_per_s, source = base * 128 / seq_len, "measured constants (bench/featurize.py)"
    feature_bytes = n_models * n_docs * (k + 1) * 4  # float32 features + Q
    # activations kept for backward: ~16 d-sized tensors per layer per token + ~4 logits copies
    act = batch_size * seq_len * (16 * n_layer * d + 4 * vocab_size) * 4
    peak = 4 * params * 2 + act + 2 * shard_size * k * 4 + 400 * 2**20  # + torch runtime
    scoring = 2 * k * k * 8 if lambda_finite else 0
    scoring += n_docs * 8 * 2 + n_targets * k * 4
    feat_s = n_models * (n_docs + n_targets) / seq_per_s
    train_tokens = train_tokens_per_model or n_docs * seq_len // 2  # one pass over an α=0.5 subset
    train_s = n_models * train_tokens / seq_len / (seq_per_s * TRAIN_SEQ_PER_S_FACTOR)
    # scoring one task: target featurisation + one mat-vec over (n, k) per model (~1 GB/s reads)
    score_s = n_models * (n_targets / seq_per_s + n_docs * k * 4 / 1e9)
    if lambda_finite:
        score_s += n_models * (k**3 / 5e10)  # one k × k inverse per model, once
    return {
        "n_docs": n_docs,
        "seq_len": seq_len,
        "k": k,
        "n_models": n_models,
        "preset": preset,
        "device": dev,
        "params": params,
        "feature_bytes": int(feature_bytes),
        "peak_memory_bytes": int(peak),
        "scoring_memory_bytes": int(scoring),
        "seq_per_s": float(seq_per_s),
        "seq_per_s_source": source,
        "featurize_seconds": float(feat_s),
        "train_seconds": float(train_s),
        "score_seconds_per_target_task": float(score_s),
        "total_seconds": float(feat_s + train_s + score_s),
    }


def _calibrate(preset: str, vocab: int, seq_len: int, k: int, batch: int, dev: str) -> float:
    """Time two batches of the fast path on random tokens (the first one warms up)."""
    import numpy as np

    from dsdm_engine.featurize.base import Batch
    from dsdm_engine.featurize.fast import FastFeaturizer
    from dsdm_engine.models import build_model

    model = build_model(preset, vocab, seq_len, device=dev)
    fz = FastFeaturizer(model, k=k)
    ids = np.random.default_rng(0).integers(0, vocab, (batch, seq_len))
    b = Batch.from_arrays(ids, device=dev)
    fz.featurize(b)
    t0 = time.perf_counter()
    fz.featurize(b)
    return batch / max(time.perf_counter() - t0, 1e-9)


__all__ = ["MEASURED_SEQ_PER_S", "dry_run_estimate"]
