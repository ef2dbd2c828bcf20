"""Stage 2: projected-gradient features of every pool document under every proxy (resumable
shards), and of a target task's examples (cached per task and split).

Granularity: one pool document = one featurised sequence (`[EOS] + first seq_len-1 tokens`,
padded), so every document gets exactly one score; proxies train on the pool packed into
fixed-length chunks. Long documents should be chunked at ingest (`--chunk-tokens`).
"""

from __future__ import annotations

import functools
import shutil
from dataclasses import fields
from typing import Any

import numpy as np

from data_catalog import atomic
from data_catalog.catalog import Catalog
from data_catalog.diskfull import disk_full_guard
from data_catalog.errors import InputError
from dsdm_engine.compute.configs import FeatureConfig
from dsdm_engine.progress import ProgressCallback, no_progress
from dsdm_engine.stages.proxies import (
    check_pool_unchanged,
    ensemble_dirs,
    load_member,
    member_sha256,
)
from dsdm_engine.stages.tokens import document_tokens, run_tokens


class PaddedDocs:
    """Adapts a featuriser to per-document rows padded with -1 (the shard format)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:  # k, name, device, ... of the wrapped featuriser
        return getattr(self.inner, name)

    def featurize(self, batch: Any) -> tuple[np.ndarray, np.ndarray]:
        from dsdm_engine.compute.featurize.base import Batch

        real = batch.input_ids >= 0  # (B, T)
        fixed = Batch(batch.input_ids.clamp(min=0), real.long(), real)
        return self.inner.featurize(fixed)


def stored_feature_config(frozen: dict[str, Any]) -> FeatureConfig:
    """The `FeatureConfig` a features run was made with (its frozen dict holds a few extras;
    runs stored before the rename call the projection dimension `k`)."""
    frozen = {"proj_dim": frozen.get("k"), "whole_docs": False, **frozen}
    return FeatureConfig(
        **{f.name: frozen[f.name] for f in fields(FeatureConfig) if f.name in frozen}
    )


def featurize(
    catalog: Catalog,
    proxies_run_id: str,
    config: FeatureConfig | None = None,
    progress: ProgressCallback = no_progress,
    executor: str = "local",
    ray_address: str | None = None,
) -> str:
    """Featurise every pool document under every proxy (resuming from shard markers).

    `executor="ray"` runs the (member, shard) units as Ray tasks (`executors.py`); they write
    the same shard files and markers, so either executor resumes the other's run."""
    from dsdm_engine.compute.featurize.registry import make_featurizer
    from dsdm_engine.compute.featurize.shards import featurize_pool
    from dsdm_engine.compute.featurize.windows import document_windows, sum_windows
    from dsdm_engine.compute.models import configure_threads, resolve_device

    config = config or FeatureConfig()
    configure_threads()
    proxies = catalog.get_run(proxies_run_id)
    check_pool_unchanged(catalog, proxies)
    pcfg = proxies["config"]
    imported = pcfg.get("imported")
    dirs = ensemble_dirs(catalog, proxies_run_id)
    tokens = run_tokens(catalog, proxies)
    docs = np.load(tokens.docs_path, mmap_mode="r")  # (n_docs, seq_len) int32
    n_docs = docs.shape[0]
    owner = None
    if config.whole_docs:  # every window of every document; summed per document afterwards
        flat, offsets = document_tokens(catalog, proxies["pool_id"],
                                        int(pcfg.get("vocab_size") or 0), int(pcfg["seq_len"]),
                                        model=imported)  # fmt: skip
        docs, owner = document_windows(flat, offsets, int(pcfg["seq_len"]))
    device = resolve_device(config.device)
    models = [load_member(d, str(device), imported) for d in dirs]
    # the arrays' real width: near-square blocks per layer can sum to slightly less than asked
    actual = make_featurizer(models[0], config.for_proxy(0)).k
    frozen = {**config.as_dict(), "proxies_run_id": proxies_run_id, "proj_dim_actual": actual}
    n = docs.shape[0]  # rows featurised: documents, or their windows
    kept = "finished shards are kept and a re-run resumes from them"
    docs_ref = None  # the windows in Ray's object store, put once for every member
    with (
        catalog.begin_run("features", frozen, pool_id=proxies["pool_id"]) as run,
        disk_full_guard("featurising", catalog.layout.run_dir(run.run_id), kept),
    ):
        for m, (mdir, model) in enumerate(zip(dirs, models, strict=True)):
            fc = config.for_proxy(m)
            out = catalog.layout.model_dir(run.run_id, m)
            if owner is not None and (out / "COMPLETE").exists():
                continue  # the per-document sums are done; the windows are gone
            whiten = kfac_whitening(model, fc, out, docs)
            feat = PaddedDocs(make_featurizer(model, fc, whiten))
            meta = {"checkpoint_sha256": member_sha256(mdir, imported), "config": fc.to_json()}
            shard_dir = out if owner is None else out / "windows"

            def report(done: int, tot: int, msg: str = "", m: int = m) -> None:
                progress(m * n + done, n * len(dirs), f"model {m + 1}/{len(dirs)}: {msg}")

            if executor == "ray":
                docs_ref = docs_ref if docs_ref is not None else _ray_put(docs, ray_address)
                _featurize_on_ray(feat, docs, docs_ref, mdir, fc, out, shard_dir, meta, config,
                                  report, str(device), ray_address, imported)  # fmt: skip

            phi, q = featurize_pool(
                feat,
                docs,
                shard_dir,
                shard_size=config.shard_size,
                batch_size=config.batch_size,
                meta=meta,
                progress=report,
                store=config.store if owner is None else "float32",  # windows: summed next
            )
            if owner is not None:
                n_tok = (docs >= 0).sum(axis=1).astype(np.float64)
                sum_windows(phi, q, owner, n_tok, n_docs, out, store=config.store)
                del phi
                shutil.rmtree(out / "windows")  # the sums are what scoring reads
    return run.run_id


def _ray_put(docs: Any, address: str | None) -> Any:
    from dsdm_engine.executors import init_ray

    return init_ray(address).put(np.ascontiguousarray(docs))


def _featurize_on_ray(feat, docs, docs_ref, mdir, fc, out, shard_dir, meta, config, report,
                      device, address, imported=None) -> None:  # fmt: skip
    """This member's shards still to do, as Ray tasks (one shard each)."""
    from dsdm_engine.compute.featurize.shards import prepare_shards
    from dsdm_engine.executors import run_units

    todo = prepare_shards(feat, docs, shard_dir, config.shard_size, config.batch_size, meta)
    units = [
        {"member_dir": str(mdir), "config": fc.as_dict(), "kfac_dir": str(out),
         "shard_dir": str(shard_dir), "index": i, "device": device, "docs": docs_ref,
         "imported": imported}
        for i in todo
    ]  # fmt: skip
    n = len(docs)
    run_units(_featurize_shard, units, "ray",
              lambda d, t, msg="": report(n * d // max(t, 1), n, msg),
              label="shards", gpu=device.startswith("cuda"), address=address)  # fmt: skip


def _featurize_shard(unit: dict[str, Any]) -> bool:
    """One (member, shard) unit, exactly as the local path runs it (a Ray task)."""
    from pathlib import Path

    from dsdm_engine.compute.featurize.registry import make_featurizer
    from dsdm_engine.compute.featurize.shards import run_shard
    from dsdm_engine.compute.models import configure_threads

    configure_threads()
    docs = unit["docs"]
    if not isinstance(docs, np.ndarray):
        import ray

        docs = ray.get(docs)
    fc = FeatureConfig(**unit["config"])
    model = load_member(unit["member_dir"], unit["device"], unit.get("imported"))
    whiten = kfac_whitening(model, fc, Path(unit["kfac_dir"]))
    feat = PaddedDocs(make_featurizer(model, fc, whiten))
    return run_shard(feat, docs, Path(unit["shard_dir"]), unit["index"], fc.shard_size,
                     fc.batch_size)  # fmt: skip


def kfac_whitening(model: Any, config: FeatureConfig, out: Any, windows: Any = None) -> Any:
    """The member's K-FAC whitening (None without preconditioning). Its factors are estimated
    once, on `config.kfac_windows` pool windows drawn with the member's projection seed, and
    kept in its feature folder (``kfac.npz``) so its target examples are projected the same way."""
    if config.precondition == "none":
        return None
    from dsdm_engine.compute.kfac import whitening
    from dsdm_engine.compute.projection import layer_specs

    specs = layer_specs(model, config.proj_dim, config.layers)
    factors = kfac_factors(model, config, out, windows)
    return whitening(factors, specs, config.damping, head=config.precondition == "kfac")


def kfac_factors(model: Any, config: FeatureConfig, out: Any, windows: Any = None) -> Any:
    """The member's K-FAC factors, kept in its feature folder (``kfac.npz``): estimated once on
    `config.kfac_windows` pool windows drawn with the member's projection seed. `windows` is
    the pool's windows, or a function returning them (called only when the file is missing)."""
    from dsdm_engine.compute.kfac import KfacFactors, estimate_factors
    from dsdm_engine.compute.projection import layer_specs

    path = out / "kfac.npz"
    if path.exists():
        return KfacFactors.load(path)
    if callable(windows):
        windows = windows()
    if windows is None:
        raise InputError(f"{path} is missing: featurise the pool again")
    specs = layer_specs(model, config.proj_dim, config.layers)
    rng = np.random.default_rng([config.proj_seed, 0xFAC])
    n = min(len(windows), config.kfac_windows)
    idx = np.sort(rng.choice(len(windows), n, replace=False))
    factors = estimate_factors(model, specs, np.asarray(windows[idx]), config.batch_size,
                               config.output)  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "kfac.tmp.npz"
    factors.save(tmp)
    tmp.replace(path)
    return factors


def target_features(
    catalog: Catalog,
    features_run_id: str,
    task_id: str,
    split: str = "selection",
    query_damping: float | None = None,
) -> tuple[list[np.ndarray], list[Any]]:
    """Per-model target features (m, k) for a task's split, cached under the features run.

    `query_damping` (None: off) preconditions the target side alone by the member's K-FAC
    inverse, ``R_out ← (S + d·tr S/dim)⁻¹ R_out`` and ``R_in ← (A + d·tr A/dim)⁻¹ R_in``, so a
    target feature is the projection of ``S⁻¹ G A⁻¹`` and its product with a pool feature
    estimates ``vec(G)ᵀ (A ⊗ S)⁻¹ vec(G_doc)`` (`kfac.query_whitening`); the pool's features
    stay as they are. The factors are estimated once per member from pool windows."""
    from dsdm_engine.compute.featurize.registry import make_featurizer
    from dsdm_engine.compute.featurize.shards import featurize_targets
    from dsdm_engine.compute.models import configure_threads, resolve_device
    from dsdm_engine.compute.tokenizer import encode_targets, load_tokenizer

    configure_threads()
    fcfg = catalog.run(features_run_id).config
    config = stored_feature_config(fcfg)
    proxies = catalog.get_run(fcfg["proxies_run_id"])
    check_pool_unchanged(catalog, proxies)
    pcfg = proxies["config"]
    examples = catalog.target_examples(task_id, split=split)
    if not examples:
        raise InputError(f"target task {task_id} has no {split!r} examples")
    task = catalog.get_target_task(task_id)
    # keyed by task id (a new split seed makes a new version with the same content hash)
    cache = catalog.layout.target_features_dir(features_run_id, task["task_id"], split)
    if query_damping is not None:
        if config.precondition != "none":
            raise InputError(
                f"features {features_run_id} are K-FAC whitened already (--precondition "
                f"{config.precondition}); query preconditioning needs plain features"
            )
        cache = cache / f"query-kfac-{query_damping:g}"
    feats = []
    device = resolve_device(config.device)
    arr = None  # the examples as token arrays: encoded once, only when a model needs them
    windows = functools.cache(lambda: pool_windows(catalog, proxies))  # query factors' sample
    for m, mdir in enumerate(ensemble_dirs(catalog, fcfg["proxies_run_id"])):
        path = cache / f"model_{m}.npy"
        if path.exists():
            feats.append(np.load(path))
            continue
        if arr is None:
            tokens = run_tokens(catalog, proxies)
            arr = encode_targets(
                [e.prompt for e in examples],
                [e.completion for e in examples],
                load_tokenizer(tokens.tokenizer_dir),
                pcfg["seq_len"],
            )
        model = load_member(mdir, str(device), pcfg.get("imported"))
        fc = config.for_proxy(m)
        member_dir = catalog.layout.model_dir(features_run_id, m)
        if query_damping is None:
            whiten = kfac_whitening(model, fc, member_dir)
        else:
            from dsdm_engine.compute.kfac import query_whitening
            from dsdm_engine.compute.projection import layer_specs

            factors = kfac_factors(model, fc, member_dir, windows)
            specs = layer_specs(model, fc.proj_dim, fc.layers)
            whiten = query_whitening(factors, specs, query_damping)
        f, _ = featurize_targets(
            make_featurizer(model, fc, whiten),
            arr.input_ids,
            arr.loss_mask,
            arr.attention_mask,
            batch_size=config.batch_size,
        )
        cache.mkdir(parents=True, exist_ok=True)
        atomic.write_npy(path, f)
        feats.append(f)
    return feats, examples


def pool_windows(catalog: Catalog, proxies: dict) -> np.ndarray:
    """Every window of every pool document (n_windows, seq_len), padded with -1."""
    from dsdm_engine.compute.featurize.windows import document_windows

    pcfg = proxies["config"]
    flat, offsets = document_tokens(catalog, proxies["pool_id"],
                                    int(pcfg.get("vocab_size") or 0), int(pcfg["seq_len"]),
                                    model=pcfg.get("imported"))  # fmt: skip
    return document_windows(flat, offsets, int(pcfg["seq_len"]))[0]


def feature_storage(catalog: Catalog, features_run_id: str) -> dict[str, Any]:
    """What a finished featurisation holds on disk: members, k, stored dtype, total bytes and
    bytes per document (every member's features, row scales and Q)."""
    run = catalog.get_run(features_run_id)
    n_docs = int(catalog.get_pool(run["pool_id"])["n_docs"])
    dirs = sorted(catalog.layout.run_dir(features_run_id).glob("model_*"))
    total, dtype, k = 0, "", 0
    for d in dirs:
        for name in ("features.npy", "row_scale.npy", "q.npy"):
            if (d / name).exists():
                total += (d / name).stat().st_size
        if (d / "features.npy").exists():
            arr = np.load(d / "features.npy", mmap_mode="r")
            dtype, k = str(arr.dtype), int(arr.shape[1])
    return {
        "run_id": features_run_id,
        "pool_id": run["pool_id"],
        "members": len(dirs),
        "k": k,
        "dtype": dtype,
        "bytes": total,
        "bytes_per_doc": total / max(n_docs, 1),
    }
