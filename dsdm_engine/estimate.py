"""The one cost estimate of featurising a pool, shown before anything runs.

Used by `dsdm featurize --dry-run`, the app's Workspace page and the job launcher. It imports
no torch at module level, so a form can show it instantly.
"""

from __future__ import annotations

from typing import Any

from dsdm_engine.compute.configs import PRESET_NAMES

__all__ = ["PRESET_NAMES", "estimate_featurize", "preset_params"]

# Measured on a 2-core CPU (docs/stack-notes.md): the factorised projection ran 32.6 seq/s for
# 128-token chunks of a 1.46M-parameter GPT-2 with k = 1,024; time scales with tokens × params.
_CPU_TOKEN_PARAMS_PER_S = 32.6 * 128 * 1.46e6
_GPU_SPEEDUP = 40.0  # a conservative guess for one datacenter GPU over the 2-core CPU
# The names of `dsdm_engine.compute.models.PRESETS`, repeated so that a form can list them without
# importing torch and transformers (8 s); a test checks that the two agree.


def preset_params(preset: str, vocab_size: int = 4096, seq_len: int = 128) -> int:
    """Approximate parameter count of a proxy preset (GPT-2 blocks + tied embeddings)."""
    from dsdm_engine.compute.models import (
        get_preset,  # imports torch: only when an estimate is asked
    )

    p = get_preset(preset)
    return int(12 * p.n_layer * p.n_embd**2 + (vocab_size + seq_len) * p.n_embd)


def estimate_featurize(
    n_docs: int | None = None,
    *,
    n_tokens: int | None = None,
    k: int = 2048,  # FeatureConfig.proj_dim
    n_models: int = 4,
    preset: str = "small",
    seq_len: int = 128,
    vocab_size: int = 4096,
    device: str = "cpu",
    store: str = "float16",
    n_params: int | None = None,
) -> dict[str, Any]:
    """Rough time, feature-file size and peak memory of featurising a pool, before running it.

    Chunks: `n_tokens / seq_len` when the token count is known, else one chunk per document.
    Features are stored as `store` (float16 rows with a float32 scale, or float32) plus a float32
    Q, n_chunks rows per ensemble member, memmapped on disk (`featurize/store.py`); peak
    memory is one batch plus the model and a k × k Gram matrix, independent of the pool size.
    `n_params` (an imported model's) replaces the preset's parameter count.
    Time scales the CPU measurement by tokens × parameters (÷ 40 on a GPU); treat it as an
    order of magnitude.
    """
    if n_docs is None and n_tokens is None:
        raise ValueError("give n_docs or n_tokens")
    if (n_tokens or 0) < 0 or (n_docs or 0) < 0 or n_models < 1 or k < 1 or seq_len < 1:
        raise ValueError("counts must be ≥ 0 and n_models, k, seq_len ≥ 1")
    n_chunks = -(-int(n_tokens) // seq_len) if n_tokens is not None else int(n_docs or 0)
    n_params = n_params or preset_params(preset, vocab_size, seq_len)  # given: imported model
    per_row = k * (2 if store == "float16" else 4) + (8 if store == "float16" else 4)  # Φ, Q
    seconds = n_chunks * seq_len * n_params * n_models / _CPU_TOKEN_PARAMS_PER_S
    if device not in ("cpu", "auto"):
        seconds /= _GPU_SPEEDUP
    return {
        "n_chunks": n_chunks,
        "n_params": n_params,
        "n_models": n_models,
        "k": k,
        "feature_bytes": n_chunks * per_row * n_models,
        "bytes_per_doc": per_row * n_models,
        "store": store,
        "peak_ram_bytes": int(1.0e9 + 2 * k * k * 8 + 16 * n_params),
        "seconds": seconds,
        "device": device,
    }


def machine_ram_bytes() -> int:
    """Physical memory of this machine (0 when the OS does not say)."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def check_fits(est: dict[str, Any], disk_dir: str | None = None) -> None:
    """Refuse a featurisation whose estimate exceeds this machine's memory or the free disk,
    before anything is allocated; the error names the flags that set the size."""
    import shutil

    from data_catalog.errors import InputError

    ram = machine_ram_bytes()
    if ram and est["peak_ram_bytes"] > ram:
        raise InputError(
            f"--proj-dim {est['k']:,} needs about {est['peak_ram_bytes'] / 1e9:,.0f} GB of "
            f"memory, more than this machine's {ram / 1e9:,.0f} GB; lower --proj-dim"
        )
    if disk_dir is not None:
        free = shutil.disk_usage(disk_dir).free
        if est["feature_bytes"] > free:
            raise InputError(
                f"--proj-dim {est['k']:,} with {est['n_models']} proxies writes about "
                f"{est['feature_bytes'] / 1e9:,.1f} GB of features, more than the "
                f"{free / 1e9:,.1f} GB free under {disk_dir}; lower --proj-dim or free space"
            )
