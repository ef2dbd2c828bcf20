"""Imported models: a user's own pretrained causal LM as the proxy that scores the pool.

A local Hugging Face model folder (``config.json``, ``*.safetensors`` or ``pytorch_model*.bin``
weights, and its own ``tokenizer.json``) of any ``AutoModelForCausalLM`` architecture: GPT-2,
Llama, Qwen, SmolLM shapes, tied or untied embeddings, grouped-query attention. It is loaded
offline (``local_files_only``; a hub id is refused, nothing is ever downloaded), in float32, with
eager attention, and is never copied: the catalog records its path and checksums, and a model
that changed on disk since its import is refused rather than silently scored.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from data_catalog.errors import InputError

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")
NEVER = "DsDm Studio never downloads models"


@dataclass(frozen=True)
class ModelInfo:
    """What the catalog keeps about an imported model (its folder is the user's)."""

    path: str  # absolute folder
    model_type: str  # e.g. "gpt2", "llama"
    vocab_size: int
    max_positions: int | None
    sep_id: int  # token that starts every featurised row and separates packed documents
    pad_id: int
    config_sha256: str
    weights_sha256: str
    tokenizer_sha256: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sha256(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode() + b"\0")
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()


def weight_files(folder: Path) -> list[Path]:
    """The model's weight files, sorted (safetensors preferred, as `from_pretrained` does)."""
    for pattern in WEIGHT_PATTERNS:
        found = sorted(folder.glob(pattern))
        if found:
            return found
    return []


def weights_sha256(folder: str | Path) -> str:
    """sha256 over the weight files' names and bytes: the fingerprint features record."""
    return _sha256(weight_files(Path(folder)))


def inspect_model_dir(path: str | Path) -> ModelInfo:
    """Check a model folder without loading its weights; every problem is one clear error."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise InputError(
            f"{path}: no such model folder; give a local Hugging Face model folder "
            f"(config.json, weights, tokenizer.json): {NEVER}"
        )
    folder = folder.resolve()
    config_path = folder / "config.json"
    if not config_path.exists():
        raise InputError(f"{folder}: no config.json (not a Hugging Face model folder)")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{config_path}: not valid JSON ({e})") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise InputError(f"{config_path}: has no 'model_type' field")
    weights = weight_files(folder)
    if not weights:
        raise InputError(f"{folder}: no weights (*.safetensors or pytorch_model*.bin)")
    tok_path = folder / "tokenizer.json"
    if not tok_path.exists():
        raise InputError(
            f"{folder}: no tokenizer.json; save the model's tokenizer beside it "
            "(`tokenizer.save_pretrained(folder)` with a fast tokenizer)"
        )
    vocab = config.get("vocab_size")
    if not isinstance(vocab, int) or vocab < 2:
        raise InputError(f"{config_path}: 'vocab_size' must be a positive integer")
    sep, pad = _special_ids(config, folder)
    max_pos = config.get("max_position_embeddings", config.get("n_positions"))
    return ModelInfo(
        path=str(folder),
        model_type=str(config["model_type"]),
        vocab_size=vocab,
        max_positions=int(max_pos) if isinstance(max_pos, int) else None,
        sep_id=sep,
        pad_id=pad,
        config_sha256=_sha256([config_path]),
        weights_sha256=_sha256(weights),
        tokenizer_sha256=_sha256([tok_path]),
    )


def _special_ids(config: dict, folder: Path) -> tuple[int, int]:
    """(separator, pad): BOS where the model has one (Llama shapes), else EOS (GPT-2 shapes);
    pad is never attended nor scored, so any id in range does."""

    def first(value: Any) -> int | None:
        if isinstance(value, list):
            value = value[0] if value else None
        return value if isinstance(value, int) else None

    gen = {}
    if (folder / "generation_config.json").exists():
        try:
            gen = json.loads((folder / "generation_config.json").read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            gen = {}
    bos = first(config.get("bos_token_id", gen.get("bos_token_id")))
    eos = first(config.get("eos_token_id", gen.get("eos_token_id")))
    sep = bos if bos is not None else eos
    if sep is None:
        raise InputError(f"{folder / 'config.json'}: neither bos_token_id nor eos_token_id is set")
    pad = first(config.get("pad_token_id"))
    return sep, pad if pad is not None else sep


def load_model(
    path: str | Path, device: str | torch.device = "cpu", expected_sha256: str | None = None
) -> torch.nn.Module:
    """The imported model in eval mode, float32, eager attention, loaded from disk only.

    `expected_sha256`: the weights' fingerprint at import; a different one is an error naming
    the folder (the model changed since, so stored features would not be its features)."""
    folder = Path(path)
    if expected_sha256 is not None:
        now = weights_sha256(folder) if folder.is_dir() else ""
        if now != expected_sha256:
            raise InputError(
                f"{folder}: the model's weights changed (or were removed) since it was imported; "
                "import it again (`dsdm proxy import`) to score with the new weights"
            )
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    hf_logging.disable_progress_bar()  # one "Loading weights" bar per subset model otherwise
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(folder), local_files_only=True, dtype=torch.float32, attn_implementation="eager"
        )
    except Exception as e:  # safetensors, torch and config errors all mean "this folder"
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{folder}: cannot load the model ({first_line})") from None
    return model.to(device).eval()


def count_params(folder: str | Path) -> int:
    """Parameters stored in the folder's safetensors (read from headers, no weights loaded);
    tied weights are stored once. 0 for `.bin` checkpoints."""
    from safetensors import safe_open

    n = 0
    for f in Path(folder).glob("*.safetensors"):
        with safe_open(str(f), framework="pt") as fh:
            for key in fh.keys():
                n += math.prod(fh.get_slice(key).get_shape())
    return n


def is_imported(folder: str | Path) -> bool:
    """A Hugging Face folder rather than one of our own proxy folders (which hold COMPLETE)."""
    folder = Path(folder)
    return not (folder / "COMPLETE").exists() and (folder / "config.json").exists()
