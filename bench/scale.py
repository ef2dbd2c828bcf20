"""Scale benchmark: pools of 10k, 100k and 1M real documents, and Ray on the featurisation.

Per pool size N (documents from the six bulk built-in sources, `dsdm pool add --builtin ...
--limit N`), each step in its own process so each has its own peak RSS (``ru_maxrss``):

1. ingest (real);
2. proxies at the demo's recipe (4 `tiny` proxies, 1.5M tokens each; tokenising the pool is
   part of it) (real);
3. pool features of the shipped defaults' shape and dtype (k, members, float16 rows + scale + Q)
   written through the real store, **with synthetic values** (random normal rows scaled by
   √length): featurising 1M documents for real takes many hours on 2 cores. The Gram matrix
   ΦᵀΦ of each member is accumulated while writing and A = (ΦᵀΦ + λI)⁻¹ cached where scoring
   looks for it (the engine computes it at the first scoring); its time is reported apart;
4. a new 100-example target end to end (added, its examples featurised by the real proxies,
   the pool scored by streaming the store, 1M scores stored) and, apart, the scoring alone;
5. a DsDm selection of 10% of the pool by the real selector;
6. a pool map (a PCA layout of hashed bags of words, as `bench/app.py`: the Map page only reads
   the stored layout) and a random selection, then the first render of Inspect, Compare and Map
   in headless Chromium (`bench/app.py`'s timing).

Ray: a `--ray-docs` pool, proxies as above, featurised for real three times from copies of the
same workspace: local executor, Ray with 1 worker, Ray with 2; the speedup of 2 workers over
local, and whether all three stores are bit-identical.

    python bench/scale.py --sizes 10000 100000 1000000 --out bench/out/scale.json

Workspaces are kept under `--work` (default bench/out/scale) and reused: a step whose result
exists is not rerun (its earlier figures are kept in `steps.json` beside the workspace).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

POOL = "big"
TARGET = "scale-squad"
STEPS = ("ingest", "proxies", "features", "target", "select", "app")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cat(ws: str):
    from data_catalog.catalog import Catalog

    return Catalog.open(ws)


def _proxy_config():
    from dsdm_engine.stages.demo import PLANS

    return PLANS["small"].proxies.with_train(seed=0, device="cpu")


def step_ingest(ws: str, n: int) -> dict[str, Any]:
    from data_catalog.sources.bulk import BULK_SOURCES
    from dsdm_engine.cli import main

    t0 = time.perf_counter()
    argv = ["--workspace", ws, "pool", "add", POOL, "--builtin", *(s.name for s in BULK_SOURCES),
            "--limit", str(n), "--quiet"]  # fmt: skip
    if main(argv) != 0:
        raise SystemExit(f"ingest of {n} documents failed")
    return {"ingest_s": time.perf_counter() - t0, "n_docs": int(_cat(ws).get_pool(POOL)["n_docs"])}


def step_proxies(ws: str, n: int) -> dict[str, Any]:
    from dsdm_engine import stages

    t0 = time.perf_counter()
    run = stages.train_proxies(_cat(ws), POOL, _proxy_config())
    return {"proxies_s": time.perf_counter() - t0, "proxies_run": run}


def step_features(ws: str, n: int) -> dict[str, Any]:
    """Synthetic features of the shipped shape through the real store; A cached per member."""
    from dsdm_engine.compute.configs import FeatureConfig, ScoreConfig
    from dsdm_engine.compute.featurize.registry import make_featurizer
    from dsdm_engine.compute.featurize.store import FeatureWriter
    from dsdm_engine.compute.scoring import BLOCK_ROWS, preconditioner, relative_lambda
    from dsdm_engine.stages.proxies import ensemble_dirs, load_member, proxies_run_id
    from dsdm_engine.stages.scores import save_preconditioner

    cat = _cat(ws)
    proxies = proxies_run_id(cat, POOL, _proxy_config())
    config = FeatureConfig(device="cpu")
    dirs = ensemble_dirs(cat, proxies)
    k = make_featurizer(load_member(dirs[0], "cpu"), config.for_proxy(0)).k
    lengths = cat.query_df(
        "SELECT n_words FROM documents WHERE pool_id = ? ORDER BY row_idx", [POOL]
    )["n_words"].to_numpy(np.float32)
    n_docs = len(lengths)
    frozen = {**config.as_dict(), "proxies_run_id": proxies, "proj_dim_actual": k,
              "synthetic": "bench/scale.py"}  # fmt: skip
    lam_rel = ScoreConfig().lambda_rel
    write_s = gram_s = 0.0
    reused = 0  # members found complete (a rerun): their times are not measured
    with cat.begin_run("features", frozen, pool_id=POOL) as run:
        for m in range(len(dirs)):
            out = cat.layout.model_dir(run.run_id, m)
            out.mkdir(parents=True, exist_ok=True)
            if (out / "COMPLETE").exists():
                reused += 1
                continue
            rng = np.random.default_rng(m)
            xtx = np.zeros((k, k), np.float64)
            with FeatureWriter(out, n_docs, k, config.store) as w:
                for s in range(0, n_docs, BLOCK_ROWS):
                    t0 = time.perf_counter()
                    blk = rng.standard_normal((min(BLOCK_ROWS, n_docs - s), k), np.float32)
                    blk *= np.sqrt(lengths[s : s + len(blk), None])
                    w.write(blk)
                    t1 = time.perf_counter()
                    xtx += blk.T @ blk  # float32 BLAS per block, summed in float64
                    t2 = time.perf_counter()
                    write_s, gram_s = write_s + t1 - t0, gram_s + t2 - t1
            np.save(out / "q.npy", rng.uniform(0.5, 1.0, n_docs).astype(np.float32))
            t0 = time.perf_counter()
            lam = relative_lambda(xtx, lam_rel)
            save_preconditioner(cat, run.run_id, m, lam_rel, preconditioner(xtx, lam), lam)
            gram_s += time.perf_counter() - t0
            (out / "COMPLETE").write_bytes(b"ok\n")
    files = [f for d in range(len(dirs)) for f in cat.layout.model_dir(run.run_id, d).glob("*.npy")]
    size = sum(f.stat().st_size for f in files if not f.name.startswith("A_"))  # A: k × k, once
    timed = not reused
    return {"features_run": run.run_id, "k": k, "members": len(dirs), "store": config.store,
            "bytes_per_doc": size / n_docs, "feature_write_s": write_s if timed else None,
            "gram_and_inverse_s": gram_s if timed else None,
            "synthetic_features": True}  # fmt: skip


def step_target(ws: str, n: int) -> dict[str, Any]:
    """A new 100-example target, end to end; then the scoring alone (A and targets cached)."""
    from data_catalog.sources.builtin_targets import builtin_target_examples
    from data_catalog.targets import add_target_task
    from dsdm_engine import stages
    from dsdm_engine.compute.configs import ScoreConfig
    from dsdm_engine.compute.scoring import task_scores

    cat = _cat(ws)
    feats = cat.list_runs("features")
    features = str(
        feats[(feats["pool_id"] == POOL) & (feats["status"] == "done")]["run_id"].iloc[-1]
    )
    recs = builtin_target_examples("squad", max_examples=200, seed=0)
    tasks = cat.list_target_tasks()
    seed = int((tasks["name"] == TARGET).sum())  # a rerun adds a new version: scored afresh
    t0 = time.perf_counter()
    task = add_target_task(cat, TARGET, [(r["prompt"], r["completion"]) for r in recs],
                           origin="bench/scale.py", seed=seed)  # fmt: skip
    stages.score_task(cat, features, task["task_id"])
    new_target_s = time.perf_counter() - t0
    targets, _ = stages.target_features(cat, features, task["task_id"])
    t0 = time.perf_counter()
    scores = task_scores(stages.pool_models(cat, features, ScoreConfig().lambda_rel), targets)
    scoring_s = time.perf_counter() - t0
    return {"new_target_s": new_target_s, "scoring_only_s": scoring_s,
            "target_examples": int(task["n_selection"]), "n_scores": int(len(scores))}  # fmt: skip


def step_select(ws: str, n: int) -> dict[str, Any]:
    from dsdm_engine.selectors import SelectionRule
    from dsdm_engine.stages import run_selection

    cat = _cat(ws)
    k = max(1, n // 10)
    t0 = time.perf_counter()
    run_selection(cat, "dsdm", POOL, task_ref=TARGET, rule=SelectionRule(k=k))
    return {"select_s": time.perf_counter() - t0, "select_k": k}


def step_app(ws: str, n: int) -> dict[str, Any]:
    import importlib.util

    from dsdm_engine.selectors import SelectionRule
    from dsdm_engine.stages import run_selection
    from dsdm_engine.stages.pool_map import compute_pool_map, load_pool_map

    spec = importlib.util.spec_from_file_location("bench_app", ROOT / "bench" / "app.py")
    bench_app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_app)  # its hashed map embedding and browser timing
    hashed_embed, time_browser = bench_app.hashed_embed, bench_app.time_browser
    cat = _cat(ws)
    t0 = time.perf_counter()
    if load_pool_map(cat, POOL) is None:
        compute_pool_map(cat, POOL, method="pca", embed_fn=hashed_embed)
    k = max(1, n // 10)
    run_selection(cat, "random", POOL, task_ref=TARGET, rule=SelectionRule(k=k))
    prep = time.perf_counter() - t0
    times = time_browser(cat, cat.get_target_task(TARGET)["task_id"])
    return {"app_prep_s": prep, **{f"app_{key.split('_')[0]}_s": v for key, v in times.items()}}


def ray_child(ws: str, executor: str, workers: int) -> dict[str, Any]:
    """Featurise the ray workspace's pool with one executor; digest of every stored array."""
    from dsdm_engine import stages
    from dsdm_engine.compute.configs import FeatureConfig
    from dsdm_engine.stages.proxies import proxies_run_id

    cat = _cat(ws)
    if executor == "ray":
        from dsdm_engine.executors import init_ray

        init_ray(num_cpus=workers)
    t0 = time.perf_counter()
    proxies = proxies_run_id(cat, POOL, _proxy_config())
    run = stages.featurize(cat, proxies, FeatureConfig(device="cpu"), executor=executor)
    seconds = time.perf_counter() - t0
    digest = hashlib.sha256()
    for f in sorted(cat.layout.run_dir(run).rglob("*.npy")):
        digest.update(f.name.encode() + f.read_bytes())
    return {"seconds": seconds, "digest": digest.hexdigest()}


def run_child(*argv: str) -> dict[str, Any]:
    env = {**os.environ, "DSDM_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--child", *argv]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def size_label(n: int) -> str:
    return f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n // 1000}k"


def bench_size(work: Path, n: int, steps: tuple[str, ...]) -> dict[str, Any]:
    ws = work / f"ws-{size_label(n)}"
    record = ws.parent / f"steps-{size_label(n)}.json"
    done = json.loads(record.read_text()) if record.exists() else {}
    for step in steps:
        if step in done:
            log(f"{size_label(n)} {step}: kept from {record.name}")
            continue
        log(f"{size_label(n)} {step} ...")
        done[step] = run_child(step, str(ws), str(n))
        record.write_text(json.dumps(done, indent=1))
        log(f"{size_label(n)} {step}: {json.dumps(done[step])}")
    return done


def bench_ray(work: Path, n: int) -> dict[str, Any]:
    base = work / f"ray-{size_label(n)}"
    record = work / f"ray-{size_label(n)}.json"
    if record.exists():
        return json.loads(record.read_text())
    for step in ("ingest", "proxies"):
        if not (base / f".{step}").exists():
            log(f"ray {size_label(n)} {step} ...")
            run_child(step, str(base), str(n))
            (base / f".{step}").touch()
    out: dict[str, Any] = {"ray_docs": n}
    digests = {}
    for name, executor, workers in (
        ("local", "local", 1),
        ("ray_1", "ray", 1),
        ("ray_2", "ray", 2),
    ):
        copy = work / f"ray-{size_label(n)}-{name}"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(base, copy)
        log(f"ray {size_label(n)} featurise: {name} ...")
        got = run_child("ray", str(copy), executor, str(workers))
        out[f"featurize_s_{name}"], digests[name] = got["seconds"], got["digest"]
        shutil.rmtree(copy, ignore_errors=True)
    out["ray_speedup_1_worker"] = out["featurize_s_local"] / out["featurize_s_ray_1"]
    out["ray_speedup_2_workers"] = out["featurize_s_local"] / out["featurize_s_ray_2"]
    out["ray_identical"] = len(set(digests.values())) == 1
    record.write_text(json.dumps(out, indent=1))
    return out


def summary(sizes: dict[int, dict[str, Any]], ray: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n, steps in sizes.items():
        lab = size_label(n)
        flat = {k: v for step in steps.values() for k, v in step.items() if k != "peak_rss_mb"}
        out[f"peak_rss_mb_{lab}"] = max(s["peak_rss_mb"] for s in steps.values())
        for key in ("ingest_s", "new_target_s", "scoring_only_s", "select_s", "app_inspect_s",
                    "app_compare_s", "app_map_s", "gram_and_inverse_s", "feature_write_s",
                    "proxies_s"):  # fmt: skip
            if key in flat:
                out[f"{key[:-2]}_s_{lab}"] = flat[key]
        if "bytes_per_doc" in flat:
            out["bytes_per_doc"] = flat["bytes_per_doc"]
        out[f"steps_{lab}"] = steps
    if ray:
        out.update(ray)
    return out


def _fmt(v: float | None, digits: int) -> str:
    return "" if v is None else f"{v:,.{digits}f}"


def table(res: dict[str, Any], sizes: list[int]) -> str:
    keys = ["ingest", "proxies", "feature_write", "gram_and_inverse", "new_target",
            "scoring_only", "select", "app_inspect", "app_compare", "app_map"]  # fmt: skip
    head = "| seconds | " + " | ".join(size_label(n) for n in sizes) + " |"
    lines = [head, "|---|" + "---:|" * len(sizes)]
    for key in keys:
        vals = [res.get(f"{key}_s_{size_label(n)}") for n in sizes]
        lines.append(
            f"| {key} | " + " | ".join("" if v is None else f"{v:,.1f}" for v in vals) + " |"
        )
    rss = [res.get(f"peak_rss_mb_{size_label(n)}") for n in sizes]
    lines.append(
        "| peak RSS MB | " + " | ".join("" if v is None else f"{v:,.0f}" for v in rss) + " |"
    )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--steps", nargs="*", default=list(STEPS), choices=STEPS)
    ap.add_argument("--ray-docs", type=int, default=20_000, help="0: no Ray rows")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "out" / "scale")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        step, ws, *rest = args.child
        if step == "ray":
            res = ray_child(ws, rest[0], int(rest[1]))
        else:
            res = globals()[f"step_{step}"](ws, int(rest[0]))
        print(json.dumps({**res, "peak_rss_mb": _rss_mb()}))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    sizes = {n: bench_size(args.work, n, tuple(args.steps)) for n in args.sizes}
    ray = bench_ray(args.work, args.ray_docs) if args.ray_docs else None
    res = summary(sizes, ray)
    res["seconds"] = time.monotonic() - t0
    print(table(res, args.sizes))
    if ray:
        print(f"Ray featurisation of {ray['ray_docs']:,} documents: local "
              f"{ray['featurize_s_local']:.0f} s, 1 worker {ray['featurize_s_ray_1']:.0f} s, "
              f"2 workers {ray['featurize_s_ray_2']:.0f} s: speedup "
              f"{ray['ray_speedup_2_workers']:.2f}, identical {ray['ray_identical']}")  # fmt: skip
    if "bytes_per_doc" in res:
        print(f"feature bytes per document at the shipped defaults: {res['bytes_per_doc']:,.0f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
