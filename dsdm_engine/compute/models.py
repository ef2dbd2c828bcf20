"""Proxy language models: GPT-2 built from a config (never downloaded), with named size presets.

Proxies are trained from scratch, as DsDm's were. Attention is "eager" because per-example
gradients under ``torch.func.vmap`` break with SDPA and a padding mask (trak issues #77/#78), and
dropout is off so that featurisation and training are deterministic given a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from data_catalog.errors import InputError


@dataclass(frozen=True)
class ModelPreset:
    """Architecture of one proxy size. Vocabulary and context come from the tokenizer/chunks."""

    name: str
    n_layer: int
    n_embd: int
    n_head: int
    note: str = ""


PRESETS: dict[str, ModelPreset] = {
    "tiny": ModelPreset("tiny", n_layer=2, n_embd=32, n_head=2, note="tests; seconds on CPU"),
    "small": ModelPreset("small", n_layer=4, n_embd=128, n_head=4, note="CPU demo, ~1.4M params"),
    "medium": ModelPreset("medium", n_layer=6, n_embd=256, n_head=4, note="larger CPU bench"),
    "125m": ModelPreset("125m", n_layer=12, n_embd=768, n_head=12, note="GPT-2 small; GPU"),
}

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")


def configure_threads() -> int:
    """Set torch's intra-op threads from ``DSDM_TORCH_THREADS`` (default 1); returns the count.

    Measured on the 2-core machine while a second job ran: tiny-proxy training 39k tok/s with one
    thread vs 1.4k with two, featurisation 225 vs 9.5 seq/s (OpenMP threads spin-wait on a busy
    core). Jobs, the app and evaluation often run side by side, so one thread per process is the
    safe default; set the variable to use more on an idle or larger machine.
    """
    import os

    n = max(1, int(os.environ.get("DSDM_TORCH_THREADS", "1")))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def get_preset(name: str) -> ModelPreset:
    """Look a preset up by name; unknown names list the known ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name]


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else CPU. ``cuda`` without a GPU is an error, not a fallback."""
    if name not in DEVICES:
        raise ValueError(f"unknown device {name!r}; known: {', '.join(DEVICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for but torch sees no CUDA device; use cpu")
    return torch.device(name)


def gpt2_config(preset: str, vocab_size: int, seq_len: int) -> GPT2Config:
    """The frozen architecture of a proxy: preset + vocabulary + context length, dropout off."""
    p = get_preset(preset)
    return config_from_dict(
        dict(
            vocab_size=vocab_size,
            n_positions=seq_len,
            n_embd=p.n_embd,
            n_layer=p.n_layer,
            n_head=p.n_head,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            tie_word_embeddings=True,
            bos_token_id=0,
            eos_token_id=0,
        )
    )


def config_from_dict(config: dict) -> GPT2Config:
    """A GPT2Config with eager attention (the attention choice is not kept by ``to_dict``)."""
    return GPT2Config(**config, attn_implementation="eager")


def build_model(
    preset: str, vocab_size: int, seq_len: int, seed: int = 0, device: str | torch.device = "cpu"
) -> GPT2LMHeadModel:
    """A freshly initialised proxy; the seed fixes the initial weights."""
    config = gpt2_config(preset, vocab_size, seq_len)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
    return model.to(device)


def model_from_config_dict(config: dict, device: str | torch.device = "cpu") -> GPT2LMHeadModel:
    """Rebuild the architecture saved next to a checkpoint (weights are loaded by the caller)."""
    return GPT2LMHeadModel(config_from_dict(config)).to(device)


def architecture_dict(model: GPT2LMHeadModel) -> dict:
    """The architecture fields needed to rebuild a proxy (saved as JSON next to its weights)."""
    c = model.config
    keys = (
        "vocab_size",
        "n_positions",
        "n_embd",
        "n_layer",
        "n_head",
        "resid_pdrop",
        "embd_pdrop",
        "attn_pdrop",
        "tie_word_embeddings",
        "bos_token_id",
        "eos_token_id",
    )
    return {k: getattr(c, k) for k in keys}


def num_params(model: torch.nn.Module) -> int:
    """Number of distinct parameters (tied weights counted once)."""
    return sum(p.numel() for p in model.parameters())
