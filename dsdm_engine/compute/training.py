"""Train a proxy LM from scratch on a seeded random α-subset of fixed-length pool chunks.

One run = one `TrainConfig` (frozen, validated, hashed) -> a folder holding ``model.safetensors``,
``config.json`` (train config + architecture + hash), ``subset_mask.npy`` (which chunks it saw)
and ``COMPLETE`` written last. With ``checkpoints = C > 1`` the C − 1 earlier checkpoints (after
steps ⌈j·steps/C⌉, j < C) are saved the same way in ``checkpoint_{j}/`` subfolders.
Everything random (subset, data order, initial weights) derives from ``config.seed``, so the
same config reproduces the same weights on the same device.
A cancelled run leaves no COMPLETE marker; training restarts from scratch (proxies are small).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from data_catalog.errors import DsdmError, InputError
from dsdm_engine.compute.configs import TrainConfig
from dsdm_engine.compute.models import (
    PRESETS,
    architecture_dict,
    build_model,
    model_from_config_dict,
    resolve_device,
)
from dsdm_engine.progress import ProgressCallback, no_progress


@dataclass(frozen=True)
class TrainResult:
    out_dir: Path
    config: TrainConfig
    subset_mask: np.ndarray  # (n_chunks,) bool
    tokens_seen: int
    final_loss: float
    seconds: float


def subset_mask(n: int, alpha: float, seed: int) -> np.ndarray:
    """Exactly round(α·n) chunks, chosen uniformly with a seeded generator. -> (n,) bool."""
    rng = np.random.default_rng([seed, 0xA1FA])
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[: max(1, round(alpha * n))]] = True
    return mask


class TrainingDiverged(DsdmError):
    """The loss became NaN or infinite: the run stops as failed, naming the step."""


def train_proxy(
    chunks: np.ndarray,
    config: TrainConfig,
    out_dir: str | Path,
    progress: ProgressCallback = no_progress,
) -> TrainResult:
    """Train one proxy on ``chunks`` (n, seq_len) int and save it to ``out_dir``.

    Progress is reported as (tokens done, token budget, "loss … | … tok/s"); raising `Cancelled`
    from the callback stops training and leaves no complete checkpoint.
    """
    if chunks.ndim != 2 or chunks.shape[1] != config.seq_len:
        raise ValueError(f"chunks must be (n, {config.seq_len}), got {chunks.shape}")
    out_dir = Path(out_dir)
    device = resolve_device(config.device)
    mask = subset_mask(chunks.shape[0], config.alpha, config.seed)
    subset = np.flatnonzero(mask)
    tokens_per_step = config.batch_size * config.seq_len
    budget = config.token_budget or len(subset) * config.seq_len
    steps = max(1, math.ceil(budget / tokens_per_step))

    model = build_model(config.preset, config.vocab_size, config.seq_len, config.seed, device)
    if steps < config.checkpoints:
        raise InputError(
            f"--checkpoints {config.checkpoints} needs at least that many training steps; "
            f"this proxy trains for {steps}"
        )
    saves = checkpoint_steps(steps, config.checkpoints)[:-1]  # the final model is saved below
    t0 = time.monotonic()

    def on_step(step: int, done: int, loss_val: float) -> None:
        if step in saves:
            j = saves.index(step) + 1
            took = time.monotonic() - t0
            _save(model, config, mask, out_dir / f"checkpoint_{j}", done, loss_val, took)

    loss_val = fit(model, list(model.parameters()), chunks, subset, steps, config, progress,
                   on_step)  # fmt: skip
    seconds = time.monotonic() - t0
    _save(model, config, mask, out_dir, steps * tokens_per_step, loss_val, seconds)
    return TrainResult(out_dir, config, mask, steps * tokens_per_step, loss_val, seconds)


def fit(
    model: torch.nn.Module,
    params: list[torch.nn.Parameter],
    chunks: np.ndarray,
    subset: np.ndarray,
    steps: int,
    config: TrainConfig,
    progress: ProgressCallback = no_progress,
    on_step=None,
) -> float:
    """The training loop: AdamW on `params` (decay on matrices only), warm-up then cosine to 0,
    gradient clipping at 1, batches of `subset`'s chunks in a seeded order (reshuffled per
    epoch, from `config.seed`). `on_step(step, tokens_done, loss)` runs after every step.
    Returns the last loss; a NaN or infinite loss stops it with `TrainingDiverged`."""
    device = next(model.parameters()).device
    model.train()
    opt = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
        ],
        lr=config.lr,
        betas=(0.9, 0.95),
    )
    warmup = max(1, int(config.warmup_frac * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (
            min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps)))
        ),  # warmup then cosine to 0
    )
    tokens_per_step = config.batch_size * chunks.shape[1]
    budget = config.token_budget or len(subset) * chunks.shape[1]
    rng = np.random.default_rng([config.seed, 0xDA7A])
    order = rng.permutation(subset)
    pos, loss_val, t0 = 0, float("nan"), time.monotonic()
    for step in range(steps):
        if pos + config.batch_size > len(order):  # new epoch: reshuffle (seeded)
            order, pos = rng.permutation(subset), 0
        idx = order[pos : pos + config.batch_size]
        pos += config.batch_size
        x = torch.as_tensor(chunks[np.sort(idx)], dtype=torch.long, device=device)  # (B, T)
        if step == 0:
            loss_fn = next_token_loss if head_split_ok(model, x) else _hf_loss
        loss = loss_fn(model, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        loss_val = float(loss.detach())
        if not math.isfinite(loss_val):
            raise TrainingDiverged(
                f"training diverged at step {step + 1}/{steps}: loss is {loss_val} "
                f"(lr {config.lr}, weight decay {config.weight_decay}); lower --lr"
            )
        done = min(budget, (step + 1) * tokens_per_step)
        if on_step is not None:
            on_step(step + 1, done, loss_val)
        if step % 10 == 0 or step == steps - 1:
            rate = (step + 1) * tokens_per_step / max(time.monotonic() - t0, 1e-9)
            progress(
                done, budget, f"step {step + 1}/{steps} loss {loss_val:.3f} | {rate:,.0f} tok/s"
            )
    return loss_val


def next_token_loss(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy of packed chunks ``x`` (B, T), the LM head applied only to
    the T − 1 positions that have a next token. The same loss as ``model(labels=x).loss``, but
    no (B, T, V) logits are sliced and back-propagated through, which is most of a `tiny` step
    (V = 4,096): 1.19-1.44x the steps per second on 2 shared cores (`bench/train_step.py`)."""
    hidden = model.base_model(input_ids=x).last_hidden_state[:, :-1]
    logits = model.get_output_embeddings()(hidden).float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))


def _hf_loss(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(input_ids=x, labels=x).loss


def head_split_ok(model: torch.nn.Module, x: torch.Tensor) -> bool:
    """Whether `next_token_loss` is this model's own loss (checked on one batch in eval mode):
    a model whose head does more than one linear map (logit scaling, soft-capping) or has no
    separate base model keeps `model(labels=x)`."""
    head = model.get_output_embeddings()
    if head is None or model.base_model is model:
        return False
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            mine, theirs = next_token_loss(model, x), _hf_loss(model, x)
    except (AttributeError, TypeError, ValueError):
        return False
    finally:
        model.train(was_training)
    return bool(torch.allclose(mine, theirs, rtol=1e-4, atol=1e-5))


def finetune(
    model: torch.nn.Module,
    chunks: np.ndarray,
    config: TrainConfig,
    train_layers: str = "all",
    progress: ProgressCallback = no_progress,
) -> float:
    """Fine-tune a pretrained `model` in place on `chunks` for `config.token_budget` tokens
    (batches in `config.seed`'s order); `train_layers` ``last:N`` trains only the last N blocks.
    Returns the last loss."""
    from dsdm_engine.compute.projection import block_index

    params = list(model.parameters())
    if train_layers != "all":
        n = int(train_layers.split(":", 1)[1])
        names = [name for name, _ in model.named_parameters()]
        blocks, n_blocks = block_index(model, names)
        keep = {name for name, b in blocks.items() if b >= n_blocks - n}
        params = [p for name, p in model.named_parameters() if name in keep]
    chosen = {id(p) for p in params}
    for p in model.parameters():
        p.requires_grad_(id(p) in chosen)
    tokens_per_step = config.batch_size * chunks.shape[1]
    steps = max(1, math.ceil((config.token_budget or chunks.size) / tokens_per_step))
    with torch.random.fork_rng(devices=[]):  # the model's own dropout, if any: seeded too
        torch.manual_seed(config.seed)
        return fit(model, params, chunks, np.arange(len(chunks)), steps, config, progress)


def checkpoint_steps(steps: int, c: int) -> list[int]:
    """The steps after which C evenly spaced checkpoints are taken (the last is ``steps``)."""
    return sorted({max(1, math.ceil(j * steps / c)) for j in range(1, c + 1)})


def member_dirs(out_dir: str | Path, c: int) -> list[Path]:
    """A proxy's C ensemble members, earliest first: its checkpoints, then the final model."""
    out_dir = Path(out_dir)
    return [out_dir / f"checkpoint_{j}" for j in range(1, c)] + [out_dir]


def _save(model, config, mask, out_dir: Path, tokens: int, loss: float, seconds: float) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "COMPLETE").unlink(missing_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    state.pop("lm_head.weight", None)  # tied to transformer.wte.weight; safetensors rejects aliases
    save_file(
        state, str(out_dir / "model.safetensors"), metadata={"config_hash": config.config_hash()}
    )
    np.save(out_dir / "subset_mask.npy", mask)
    meta = {
        "train_config": config.as_dict(),
        "config_hash": config.config_hash(),
        "seed": config.seed,
        "architecture": architecture_dict(model),
        "tokens_seen": tokens,
        "final_loss": loss,
        "seconds": seconds,
    }
    (out_dir / "config.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    with open(out_dir / "COMPLETE", "w") as fh:
        fh.write(config.config_hash() + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def load_proxy(
    out_dir: str | Path, device: str = "auto"
) -> tuple[torch.nn.Module, TrainConfig, np.ndarray]:
    """(model in eval mode, its TrainConfig, its subset mask) from a completed training folder."""
    out_dir = Path(out_dir)
    if not (out_dir / "COMPLETE").exists():
        raise FileNotFoundError(f"{out_dir} holds no completed proxy (no COMPLETE marker)")
    meta = json.loads((out_dir / "config.json").read_text())
    model = model_from_config_dict(meta["architecture"], resolve_device(device))
    missing, unexpected = model.load_state_dict(
        load_file(str(out_dir / "model.safetensors")), strict=False
    )
    if unexpected or any(m != "lm_head.weight" for m in missing):
        raise ValueError(f"checkpoint mismatch: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model.eval()
    return model, TrainConfig.from_dict(meta["train_config"]), np.load(out_dir / "subset_mask.npy")


def checkpoint_sha256(out_dir: str | Path) -> str:
    """sha256 of the saved weights: the model fingerprint featurisations record."""
    return hashlib.sha256((Path(out_dir) / "model.safetensors").read_bytes()).hexdigest()


__all__ = [
    "PRESETS",
    "TrainConfig",
    "TrainResult",
    "checkpoint_sha256",
    "checkpoint_steps",
    "finetune",
    "fit",
    "load_proxy",
    "member_dirs",
    "subset_mask",
    "train_proxy",
]
