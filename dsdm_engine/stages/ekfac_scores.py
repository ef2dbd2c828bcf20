"""Stage 3, opt-in: EK-FAC scores (`dsdm score --scorer ekfac`), stored like every scores run.

One pass over every window of every pool document per proxy scores a batch of targets at once
(`compute/ekfac.py`): no stored features are read, so a new target costs a pass (minutes on
the demo pool, 2 cores) instead of seconds. It is the one preconditioner that raised held-out
LDS on the demo (README, "Do the scores predict?"), hence offered beside the TRAK default.

The pass is an ``ekfac`` run: per ensemble member the fitted bases and the per-document scores,
written in shards of windows with atomic files, so a cancelled pass resumes where it stopped.
A document's score is the sum over its windows; the ensemble score is the mean over members
of each member's z-scores. Each target then gets an ordinary ``scores`` run (config
``scorer: ekfac``) that selection, the app and `dsdm validate` read like any other.
Sign: positive = predicted to lower the target loss.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence

import numpy as np

from data_catalog import atomic
from data_catalog.catalog import Catalog
from data_catalog.errors import InputError
from data_catalog.ranks import percentiles, zscores
from dsdm_engine.progress import ProgressCallback, no_progress
from dsdm_engine.stages.proxies import check_pool_unchanged, ensemble_dirs, load_member
from dsdm_engine.stages.tokens import document_tokens, run_tokens

SHARD_WINDOWS = 2_048  # windows per resumable shard (~30 s of one `tiny` member on one core)
BATCH = 32


def score_tasks_ekfac(
    catalog: Catalog,
    proxies_run_id: str,
    task_refs: Sequence[str],
    damping: float = 0.01,
    sample: int = 1024,
    seed: int = 0,
    progress: ProgressCallback = no_progress,
    device: str = "auto",
) -> dict[str, str]:
    """EK-FAC scores of every pool document for each target; returns task id -> scores run id.

    `sample` windows (drawn with `seed`, per member) estimate each layer's curvature;
    `damping` is a multiple of each layer's mean corrected eigenvalue."""
    from dsdm_engine.compute.configs import ScoreConfig
    from dsdm_engine.compute.featurize.windows import document_windows
    from dsdm_engine.compute.models import configure_threads, resolve_device

    ScoreConfig(scorer="ekfac", ekfac_damping=damping, ekfac_sample=sample)  # names a bad flag
    if seed < 0:
        raise InputError(f"--seed must be >= 0, not {seed}")
    configure_threads()
    proxies = catalog.get_run(proxies_run_id)
    if proxies["kind"] != "proxies" or proxies["status"] != "done":
        raise InputError(f"{proxies_run_id} is not a finished proxies run")
    check_pool_unchanged(catalog, proxies)
    pcfg, pool_id = proxies["config"], proxies["pool_id"]
    task_ids = sorted({catalog.get_target_task(t)["task_id"] for t in task_refs})
    if not task_ids:
        raise InputError("give at least one --target")
    targets = {t: _encoded_targets(catalog, proxies, t) for t in task_ids}
    seq_len = int(pcfg["seq_len"])
    flat, offsets = document_tokens(catalog, pool_id, int(pcfg.get("vocab_size") or 0), seq_len,
                                    model=pcfg.get("imported"))  # fmt: skip
    windows, owner = document_windows(flat, offsets, seq_len)
    n_docs = len(offsets) - 1
    dirs = ensemble_dirs(catalog, proxies_run_id)
    dev = str(resolve_device(device))
    frozen = {"proxies_run_id": proxies_run_id, "task_ids": task_ids, "damping": damping,
              "sample": sample, "seed": seed}  # fmt: skip
    with catalog.begin_run("ekfac", frozen, pool_id=pool_id) as run:
        rdir = catalog.layout.run_dir(run.run_id)
        total = len(windows) * len(dirs)
        per_member = []
        for m, mdir in enumerate(dirs):
            out = rdir / f"member_{m}.npy"
            if out.exists():
                per_member.append(np.load(out))
                continue

            def report(done: int, m: int = m) -> None:  # the job adds rate and ETA
                progress(m * len(windows) + done, total, f"member {m + 1}/{len(dirs)}")

            model = load_member(mdir, dev, pcfg.get("imported"))
            win = _member_windows(model, windows, targets, rdir / f"member_{m}", damping,
                                  sample, [seed, 0xEF, m], report)  # fmt: skip
            docs = np.stack([np.bincount(owner, weights=win[:, j], minlength=n_docs)
                             for j in range(win.shape[1])], 1)  # fmt: skip
            atomic.write_npy(out, docs)
            shutil.rmtree(rdir / f"member_{m}" / "shards", ignore_errors=True)
            per_member.append(docs)
        stack = np.stack(per_member)  # (members, docs, tasks)
        z = (stack - stack.mean(1, keepdims=True)) / (stack.std(1, keepdims=True) + 1e-30)
        ensemble = z.mean(0)
    ids = catalog.doc_ids(pool_id)
    out_runs = {}
    for j, task_id in enumerate(task_ids):
        cfg = {**frozen, "scorer": "ekfac", "ekfac_run_id": run.run_id, "task_id": task_id}
        del cfg["task_ids"]
        with catalog.begin_run(
            "scores", cfg, pool_id=pool_id, task_id=task_id, with_dir=False
        ) as srun:
            s = ensemble[:, j]
            catalog.save_scores(srun.run_id, task_id, pool_id, ids, s, zscores=zscores(s),
                                percentiles=percentiles(s))  # fmt: skip
        out_runs[task_id] = srun.run_id
    progress(total, total, "done")
    return out_runs


def _encoded_targets(catalog: Catalog, proxies: dict, task_id: str):
    """The task's selection examples, tokenised as the proxies' tokenizer does."""
    from dsdm_engine.compute.tokenizer import encode_targets, load_tokenizer

    examples = catalog.target_examples(task_id, split="selection")
    if not examples:
        raise InputError(f"target task {task_id} has no 'selection' examples")
    tok = load_tokenizer(run_tokens(catalog, proxies).tokenizer_dir)
    return encode_targets([e.prompt for e in examples], [e.completion for e in examples], tok,
                          int(proxies["config"]["seq_len"]))  # fmt: skip


def _member_windows(model, windows, targets, mdir, damping, sample, seed, report) -> np.ndarray:
    """One member's (n_windows, n_tasks) window scores, resuming from its finished shards."""
    from dsdm_engine.compute import ekfac

    taps = ekfac.LayerTaps(model)
    mdir.mkdir(parents=True, exist_ok=True)
    bases_path = mdir / "bases.pt"
    if bases_path.exists():
        bases = ekfac.load_bases(bases_path)
    else:
        rng = np.random.default_rng(seed)
        n = min(sample, len(windows))
        idx = np.sort(rng.choice(len(windows), n, replace=False))
        bases = ekfac.fit_ekfac(taps, np.asarray(windows[idx]), BATCH)
        ekfac.save_bases(bases, bases_path)
    vs = []
    for arr in targets.values():
        q = ekfac.query_gradient(taps, arr.input_ids, arr.attention_mask, arr.loss_mask, BATCH)
        vs.append([ekfac.transform(q[i], bases[i], "ekfac", damping) for i in range(len(q))])
    shards = mdir / "shards"
    shards.mkdir(exist_ok=True)
    parts = []
    for s, e in ekfac.batches(len(windows), SHARD_WINDOWS):
        path = shards / f"{s // SHARD_WINDOWS:06d}.npy"
        if path.exists():
            parts.append(np.load(path))
            continue
        part = ekfac.window_scores(taps, np.asarray(windows[s:e]), vs, BATCH,
                                   on_batch=lambda done, s=s: report(s + done))  # fmt: skip
        atomic.write_npy(path, part)
        parts.append(part)
    return np.concatenate(parts) if parts else np.zeros((0, len(vs)))


__all__ = ["score_tasks_ekfac"]
