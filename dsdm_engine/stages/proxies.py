"""Stage 1: M proxy LMs, each trained from scratch on its own seeded α-subset of the pool's
chunks (completed models are found by their markers and skipped on a rerun), or one imported
model: the user's own pretrained checkpoint, recorded by path and checksums, never copied."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from data_catalog.catalog import Catalog
from data_catalog.errors import InputError
from dsdm_engine.progress import ProgressCallback, no_progress
from dsdm_engine.stages.config import ProxyConfig
from dsdm_engine.stages.tokens import prepare_tokens


def train_proxies(
    catalog: Catalog,
    pool_id: str,
    config: ProxyConfig | None = None,
    progress: ProgressCallback = no_progress,
    executor: str = "local",
    ray_address: str | None = None,
) -> str:
    """Train `config.n_models` proxies (skipping completed ones); returns the run id.

    `executor="ray"` trains the missing proxies as Ray tasks, one each (`executors.py`): the
    same folders and markers, the same weights."""
    config = config or ProxyConfig()
    from dsdm_engine.compute.models import configure_threads
    from dsdm_engine.compute.training import train_proxy

    configure_threads()
    tc = config.train
    pool = catalog.get_pool(pool_id)
    tokens = prepare_tokens(catalog, pool_id, tc.vocab_size, tc.seq_len)
    chunks = np.load(tokens.chunks_path, mmap_mode="r")  # batches read the rows they need
    if len(chunks) < 2:
        raise InputError(
            f"pool {pool_id!r} has only {len(chunks)} chunks of {tc.seq_len} tokens; "
            "add documents or lower --seq-len"
        )
    frozen = _frozen(config, pool_id, pool["content_hash"])
    budget = tc.token_budget or int(round(tc.alpha * len(chunks))) * tc.seq_len
    total = budget * config.n_models
    with catalog.begin_run("proxies", frozen, pool_id=pool_id) as run:
        if executor == "ray":
            from dsdm_engine.executors import run_units

            units = [
                {"chunks": str(tokens.chunks_path), "train": config.for_proxy(m).as_dict(),
                 "out": str(catalog.layout.model_dir(run.run_id, m))}
                for m in range(config.n_models)
                if not (catalog.layout.model_dir(run.run_id, m) / "COMPLETE").exists()
            ]  # fmt: skip
            run_units(_train_unit, units, "ray", progress, label="proxies", address=ray_address,
                      gpu=str(tc.device).startswith("cuda"))  # fmt: skip
        for m in range(config.n_models):
            out = catalog.layout.model_dir(run.run_id, m)
            if (out / "COMPLETE").exists():
                progress((m + 1) * budget, total, f"model {m + 1}: already trained, skipped")
                continue

            def report(done: int, tot: int, msg: str = "", m: int = m) -> None:
                progress(m * budget + done, total, f"model {m + 1}/{config.n_models}: {msg}")

            train_proxy(chunks, config.for_proxy(m), out, progress=report)
    return run.run_id


def _frozen(config: ProxyConfig, pool_id: str, pool_hash: str) -> dict[str, Any]:
    return {**config.frozen(), "pool_id": pool_id, "pool_hash": pool_hash}


def proxies_run_id(catalog: Catalog, pool_id: str, config: ProxyConfig) -> str:
    """The id `train_proxies(catalog, pool_id, config)` gives its run, known before it starts
    (another process can wait for it)."""
    from data_catalog.catalog.connection import config_hash

    frozen = _frozen(config, pool_id, catalog.get_pool(pool_id)["content_hash"])
    return f"proxies-{config_hash(frozen)[:12]}"


def _train_unit(unit: dict[str, Any]) -> str:
    """One proxy, exactly as the local loop trains it (a Ray task)."""
    from dsdm_engine.compute.configs import TrainConfig
    from dsdm_engine.compute.models import configure_threads
    from dsdm_engine.compute.training import train_proxy

    configure_threads()
    train_proxy(np.load(unit["chunks"], mmap_mode="r"), TrainConfig(**unit["train"]), unit["out"])
    return unit["out"]


WARMUP_FILE = "warmup.safetensors"  # a warm-up member: the parameters it fine-tuned


def import_model(
    catalog: Catalog,
    pool_id: str,
    path: str | Path,
    seq_len: int | None = None,
    progress: ProgressCallback = no_progress,
    warmup: dict[str, Any] | None = None,
) -> str:
    """Record a local Hugging Face model folder as the pool's proxies (one member) and tokenise
    the pool with its tokenizer; returns the run id. The folder is checked and the model loaded
    once before anything is stored, so a bad folder changes nothing. `seq_len` (tokens per
    featurised row) defaults to 128, or the model's context if shorter.

    `warmup` = {"models": M, "tokens": T, "lr": …, "layers": "all" | "last:N", "alpha": …,
    "seed": …}: M copies, each fine-tuned for T tokens on its own seeded α-subset of the pool's
    chunks (LESS's warm-up; TRAK's ensemble over them), become the members instead. Only the
    fine-tuned parameters are saved per member (`warmup.safetensors` in the run's folder)."""
    from dsdm_engine.compute.imported import inspect_model_dir, load_model

    pool = catalog.get_pool(pool_id)
    info = inspect_model_dir(path)
    seq_len = seq_len or min(128, info.max_positions or 128)
    if seq_len < 2 or (info.max_positions is not None and seq_len > info.max_positions):
        raise InputError(
            f"--seq-len {seq_len} must be between 2 and the model's {info.max_positions} positions"
        )
    progress(0, 2, f"loading {info.path}")
    model = load_model(info.path)
    vocab = model.get_input_embeddings().weight.shape[0]
    del model
    frozen = {"imported": info.as_dict(), "n_models": 1, "seq_len": seq_len,
              "pool_id": pool_id, "pool_hash": pool["content_hash"]}  # fmt: skip
    if warmup:
        warmup = {**WARMUP_DEFAULTS, **warmup}
        _check_warmup(warmup)
        frozen.update(n_models=int(warmup["models"]), warmup=warmup)
    progress(1, 2, "tokenising the pool with the model's tokenizer")
    tokens = prepare_tokens(catalog, pool_id, 0, seq_len, model=frozen["imported"])
    top = int(np.load(tokens.docs_path, mmap_mode="r").max(initial=0))
    if top >= vocab:
        raise InputError(
            f"{info.path}: tokenizer.json yields id {top}, beyond the model's {vocab} embeddings"
        )
    with catalog.begin_run("proxies", frozen, pool_id=pool_id) as run:
        if warmup:
            chunks = np.load(tokens.chunks_path, mmap_mode="r")
            _warm_up(catalog, run.run_id, chunks, frozen, progress)
        progress(2, 2, "imported")
    return run.run_id


WARMUP_DEFAULTS = {"models": 4, "tokens": 65_536, "lr": 1e-4, "layers": "all", "alpha": 0.5,
                   "seed": 0, "batch_size": 16}  # fmt: skip


def _check_warmup(w: dict[str, Any]) -> None:
    import re

    if int(w["models"]) < 1 or int(w["tokens"]) < 1 or int(w["batch_size"]) < 1:
        raise InputError("--warmup-models, --warmup-tokens and the batch size must be positive")
    if not float(w["lr"]) > 0 or not 0 < float(w["alpha"]) <= 1:
        raise InputError("--warmup-lr must be positive and the warm-up α in (0, 1]")
    if not re.fullmatch(r"all|last:[1-9][0-9]*", str(w["layers"])):
        raise InputError(f"unknown --warmup-layers {w['layers']!r}; known: all, last:N")


def _warm_up(catalog: Catalog, run_id: str, chunks: np.ndarray, frozen: dict[str, Any],
             progress: ProgressCallback) -> None:  # fmt: skip
    """Fine-tune the M warm-up members (skipping finished ones) and save what each trained."""
    from safetensors.torch import save_file

    from dsdm_engine.compute.configs import TrainConfig
    from dsdm_engine.compute.imported import load_model
    from dsdm_engine.compute.training import finetune, subset_mask

    w, info = frozen["warmup"], frozen["imported"]
    n = int(w["models"])
    for m in range(n):
        out = catalog.layout.model_dir(run_id, m)
        if (out / "COMPLETE").exists():
            continue
        model = load_model(info["path"], "cpu", expected_sha256=info["weights_sha256"])
        seed = int(w["seed"]) + m
        subset = chunks[subset_mask(len(chunks), float(w["alpha"]), seed)]
        tc = TrainConfig(seq_len=chunks.shape[1], batch_size=int(w["batch_size"]),
                         lr=float(w["lr"]), token_budget=int(w["tokens"]), weight_decay=0.0,
                         seed=seed)  # fmt: skip

        def report(done: int, total: int, msg: str = "", m: int = m) -> None:
            progress(1, 2, f"warm-up {m + 1}/{n}: {msg}")

        finetune(model, subset, tc, str(w["layers"]), report)
        trained = {k: p.detach().cpu().contiguous()
                   for k, p in model.named_parameters() if p.requires_grad}  # fmt: skip
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / (WARMUP_FILE + ".tmp")
        save_file(trained, str(tmp))
        tmp.replace(out / WARMUP_FILE)
        (out / "COMPLETE").write_text("ok\n")


def trained_proxies(catalog: Catalog, pool_id: str) -> list[Any]:
    """The pool's finished proxies runs trained here (imported models left out), oldest first."""
    runs = catalog.runs("proxies", pool_id=pool_id, status="done")
    return [r for r in runs if "imported" not in r.config]


def imported_model(catalog: Catalog, run_id: str) -> dict[str, Any] | None:
    """An imported proxies run's `ModelInfo` dict (None for proxies trained here)."""
    return catalog.run(run_id).config.get("imported")


def load_member(member_dir: str | Path, device: str, imported: dict[str, Any] | None = None):
    """One ensemble member's model in eval mode: our proxy folder, or the imported model
    (checked against its weights' checksum at import)."""
    if imported is not None:
        from dsdm_engine.compute.imported import load_model

        model = load_model(imported["path"], device, expected_sha256=imported["weights_sha256"])
        overlay = Path(member_dir) / WARMUP_FILE
        if overlay.exists():  # a warm-up member: the base model with its fine-tuned parameters
            import torch
            from safetensors.torch import load_file

            names = dict(model.named_parameters())
            with torch.no_grad():
                for key, value in load_file(str(overlay)).items():
                    names[key].copy_(value.to(names[key].device))
        return model
    from dsdm_engine.compute.training import load_proxy

    return load_proxy(member_dir, device=device)[0]


def member_sha256(member_dir: str | Path, imported: dict[str, Any] | None = None) -> str:
    """The weights' fingerprint featurisations record."""
    if imported is not None:
        overlay = Path(member_dir) / WARMUP_FILE
        if overlay.exists():
            import hashlib

            body = overlay.read_bytes() + imported["weights_sha256"].encode()
            return hashlib.sha256(body).hexdigest()
        return str(imported["weights_sha256"])
    from dsdm_engine.compute.training import checkpoint_sha256

    return checkpoint_sha256(member_dir)


def check_pool_unchanged(catalog: Catalog, proxies_run: dict[str, Any]) -> None:
    """Proxies, tokenizer and features belong to one pool content; refuse a pool changed since."""
    pool = catalog.get_pool(proxies_run["pool_id"])
    if pool["content_hash"] != proxies_run["config"]["pool_hash"]:
        raise InputError(
            f"pool {pool['pool_id']!r} changed since proxies {proxies_run['run_id']} were trained "
            "(documents were added): run `dsdm proxy train` again"
        )


def model_dirs(catalog: Catalog, run_id: str) -> list[Path]:
    """The completed proxy folders of a proxies run, in model order (imported: its folder)."""
    config = catalog.run(run_id).config
    if "imported" in config and "warmup" not in config:
        return [Path(config["imported"]["path"])]
    n = int(config["n_models"])
    dirs = [catalog.layout.model_dir(run_id, m) for m in range(n)]
    missing = [d.name for d in dirs if not (d / "COMPLETE").exists()]
    if missing:
        raise InputError(f"run {run_id} is incomplete ({', '.join(missing)}): rerun `proxy train`")
    return dirs


def ensemble_dirs(catalog: Catalog, run_id: str) -> list[Path]:
    """The ensemble members of a proxies run, proxy-major: proxy m's C checkpoints (earliest
    first, its final model last) are members m·C … m·C + C − 1. With C = 1, `model_dirs`."""
    from dsdm_engine.compute.training import member_dirs

    c = int(catalog.run(run_id).config.get("checkpoints", 1))
    return [d for mdir in model_dirs(catalog, run_id) for d in member_dirs(mdir, c)]
