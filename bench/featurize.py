"""Featuriser benchmark: trak default CPU path vs exact reference vs fast path vs plain training.

One proxy, the same pool chunks (real Wikipedia leads, 128 tokens), k = 1024. Every path runs in
its own subprocess so each gets its own peak RSS. Also: fast-path peak RSS as the pool grows,
the same table for a larger preset, and seed-to-seed stability of per-document task scores.

    python bench/featurize.py --quick --out bench/out/featurize.json
    python bench/featurize.py --model bench/out/models/llama-125m --out bench/out/byom.json

`--model PATH` times a local Hugging Face model folder instead (the "bring your own model"
case, e.g. ~100M parameters from `bench/make_model.py`): the pool re-tokenised with its own
tokenizer, fast path against plain training forward+backward, interleaved, and each path's
peak RSS in its own process.

Throughput of the slow paths (trak, exact) is measured on a prefix of the pool (they run at a
few sequences/s); the fast and plain paths run on all of it. Ratios come from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_TOPIC = "Mathematics"


# ----------------------------------------------------------------------------- data
def wiki_records(cache: Path) -> list[dict]:
    """Wikipedia leads through the project's checksummed source (`sources.wiki_leads`)."""
    from data_catalog.sources import wiki_leads

    recs = wiki_leads.parse(wiki_leads.fetch(cache))
    return [{"extract": r["text"], **r.get("metadata", {})} for r in recs]


def load_texts(args) -> tuple[list[str], list[tuple[str, str]]]:
    """Pool texts and (prompt, completion) target examples."""
    if args.texts:
        rows = [json.loads(line) for line in open(args.texts) if line.strip()]
        texts = [r["text"] for r in rows]
        # targets: held-out tail documents, prompt = first 40 chars, completion = next 160
        held = texts[-100:]
        return texts[:-100], [(t[:40], t[40:200]) for t in held]
    recs = wiki_records(Path(args.cache))
    target = [r for r in recs if r.get("topic") == TARGET_TOPIC][:100]
    held = {r["title"] for r in target}
    pool = [r["extract"] for r in recs if r["title"] not in held]
    return pool, [(f"{r['title']}:", " " + r["extract"][:200]) for r in target]


def prepare(args, work: Path) -> dict:
    """Tokenizer, pool chunks, target arrays and one trained proxy per preset (cached)."""
    from dsdm_engine.compute.configs import TrainConfig
    from dsdm_engine.compute.tokenizer import (
        encode_chunks,
        encode_targets,
        load_tokenizer,
        train_tokenizer,
    )
    from dsdm_engine.compute.training import train_proxy

    work.mkdir(parents=True, exist_ok=True)
    if not all((work / f).exists() for f in ("tokenizer.json", "chunks.npy", "targets.npz")):
        pool_texts, target_pairs = load_texts(args)
        train_tokenizer(pool_texts, vocab_size=args.vocab, out_dir=work)
        tok = load_tokenizer(work)
        np.save(work / "chunks.npy", encode_chunks(pool_texts, tok, args.seq_len))
        tg = encode_targets(
            [p for p, _ in target_pairs], [c for _, c in target_pairs], tok, args.seq_len
        )
        np.savez(
            work / "targets.npz",
            input_ids=tg.input_ids,
            loss_mask=tg.loss_mask,
            attention_mask=tg.attention_mask,
        )
    if getattr(args, "data_only", False):
        return {}
    tok = load_tokenizer(work)
    chunks = np.load(work / "chunks.npy")
    ckpts = {}
    for preset, seeds in ((args.preset, range(args.proxies)), (args.large_preset, range(1))):
        for seed in seeds:
            cfg = TrainConfig(
                preset=preset,
                vocab_size=tok.get_vocab_size(),
                seq_len=args.seq_len,
                alpha=0.5,
                seed=seed,
                device="cpu",
                token_budget=args.train_tokens,
                batch_size=16,
            )
            out = work / f"proxy_{cfg.config_hash()[:12]}"
            if not (out / "COMPLETE").exists():
                t0 = time.time()
                r = train_proxy(chunks[: args.n], cfg, out)
                print(
                    f"trained {preset} seed {seed}: {r.tokens_seen} tokens, loss "
                    f"{r.final_loss:.3f}, {r.tokens_seen / (time.time() - t0):,.0f} tok/s",
                    flush=True,
                )
            ckpts[f"{preset}:{seed}"] = str(out)
    return {"chunks": len(chunks), "ckpts": ckpts}


# ----------------------------------------------------------------------------- worker
def worker(args) -> None:
    """One path in its own process: print {"seq_per_s", "peak_rss_mb", "n"} as JSON."""
    import torch

    from dsdm_engine.compute.configs import FeatureConfig
    from dsdm_engine.compute.featurize import featurize_pool, make_featurizer

    torch.set_num_threads(args.threads)
    model = load_any(args.ckpt, args.device)
    chunks = np.load(args.chunks, mmap_mode="r")
    n = args.n
    if n > chunks.shape[0]:  # RSS scaling beyond the real pool: repeat it (memory is the point)
        chunks = np.resize(np.asarray(chunks), (n, chunks.shape[1]))
    chunks = chunks[:n]
    bs = args.batch
    # The machine is shared: other processes come and go. Report the median per-batch rate (robust
    # to their bursts) next to the end-to-end rate; ratios use the median.
    times: list[float] = []
    if args.worker == "plain":
        model.train()
        t0 = time.perf_counter()
        for s in range(0, n, bs):
            tb = time.perf_counter()
            x = torch.as_tensor(chunks[s : s + bs], dtype=torch.long, device=args.device)
            model(input_ids=x, labels=x).loss.backward()
            model.zero_grad(set_to_none=True)
            times.append(time.perf_counter() - tb)
        dt = time.perf_counter() - t0
    else:
        fz = make_featurizer(
            model, FeatureConfig(method=args.worker, proj_dim=args.k, output=args.output)
        )
        last = [time.perf_counter()]

        def per_shard(done: int, total: int, message: str = "") -> None:
            now = time.perf_counter()
            if done:
                times.append(now - last[0])
            last[0] = now

        with tempfile.TemporaryDirectory() as d:
            t0 = last[0] = time.perf_counter()
            # one shard per batch: end-to-end through the sharded writer, per-batch timings
            featurize_pool(
                fz,
                np.ascontiguousarray(chunks),
                d,
                shard_size=bs,
                batch_size=bs,
                progress=per_shard,
            )
            if args.device == "cuda":
                torch.cuda.synchronize()
            dt = time.perf_counter() - t0
    med = float(np.median(times)) if times else dt
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "seq_per_s": min(bs, n) / med,
                "seq_per_s_end_to_end": n / dt,
                "peak_rss_mb": rss,
                "n": n,
                "seconds": dt,
            }
        )
    )


def run_worker(path: str, ckpt: str, chunks: Path, n: int, args) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        path,
        "--ckpt",
        ckpt,
        "--chunks",
        str(chunks),
        "--n",
        str(n),
        "--k",
        str(args.k),
        "--batch",
        str(args.batch),
        "--threads",
        str(args.threads),
    ]
    # glibc's per-thread malloc arenas fragment under torch's thread pool and grew peak RSS from
    # 1.1 to 2.0 GB between 256 and 768 chunks; one arena kept it at 1.1 GB (measured).
    env = {"MALLOC_ARENA_MAX": "1", **os.environ}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{path} worker failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def load_any(ckpt: str, device: str = "cpu"):
    """A proxy folder trained here, or an imported Hugging Face model folder."""
    from dsdm_engine.compute.imported import is_imported, load_model
    from dsdm_engine.compute.training import load_proxy

    return load_model(ckpt, device) if is_imported(ckpt) else load_proxy(ckpt, device=device)[0]


PATHS = ("trak", "exact", "fast", "plain")


def interleaved(ckpt: str, chunks_path: Path, args, rounds: int, slow_bs: int, paths=PATHS) -> dict:
    """Per-batch timings of all four paths, interleaved round by round in one process.

    Other engineers' jobs share the 2 cores and come and go; running the paths one after the
    other lets a burst land on one path only. Interleaving exposes every path to the same load;
    the median batch time per path gives the ratios. (Peak RSS comes from the isolated runs.)
    """
    import torch

    from dsdm_engine.compute.configs import FeatureConfig
    from dsdm_engine.compute.featurize import Batch, make_featurizer

    torch.set_num_threads(args.threads)
    model = load_any(ckpt)
    chunks = np.load(chunks_path, mmap_mode="r")
    fz = {
        m: make_featurizer(model, FeatureConfig(method=m, proj_dim=args.k))
        for m in ("fast", "exact", "trak")
        if m in paths
    }
    times: dict[str, list[float]] = {m: [] for m in paths}
    sizes = {"trak": slow_bs, "exact": slow_bs, "fast": args.batch, "plain": args.batch}
    for r in range(rounds + 1):  # round 0 warms up and is dropped
        x = np.asarray(chunks[r * args.batch : (r + 1) * args.batch])
        for path in paths:
            xb = x[: sizes[path]]
            t0 = time.perf_counter()
            if path == "plain":
                model.train()
                xt = torch.as_tensor(xb, dtype=torch.long)
                model(input_ids=xt, labels=xt).loss.backward()
                model.zero_grad(set_to_none=True)
                model.eval()
            else:
                fz[path].featurize(Batch.from_arrays(xb))
            if r:
                times[path].append(time.perf_counter() - t0)
    return {p: sizes[p] / float(np.median(t)) for p, t in times.items()}


def table(rows: list[tuple[str, dict]], title: str) -> str:
    lines = [
        title,
        "| path | chunks timed | seq/s (median batch) | seq/s (end to end) | peak RSS MB |",
        "|---|---|---|---|---|",
    ]
    for name, r in rows:
        lines.append(
            f"| {name} | {r['n']} | {r['seq_per_s']:.1f} | "
            f"{r['seq_per_s_end_to_end']:.1f} | {r['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def speed_table(
    preset_key: str, args, work: Path, prep: dict, slow_n: int, n_fast: int | None = None
) -> dict:
    ck = prep["ckpts"][preset_key]
    chunks = work / "chunks.npy"
    n = min(n_fast or args.n, prep["chunks"])
    res = {
        "trak": run_worker("trak", ck, chunks, slow_n, args),
        "exact": run_worker("exact", ck, chunks, min(n, 2 * slow_n), args),
        "fast": run_worker("fast", ck, chunks, n, args),
        "plain": run_worker("plain", ck, chunks, n, args),
    }
    rounds = (2 if slow_n < 16 else 3) if args.quick else 8
    slow_bs = 4 if args.quick and slow_n < 16 else 8
    inter = interleaved(ck, chunks, args, rounds, slow_bs=slow_bs)
    for p, v in inter.items():
        res[p]["seq_per_s_interleaved"] = v
    names = {
        "trak": f"trak library (BasicProjector, k={args.k})",
        "exact": "exact reference (vmap + dense Kronecker)",
        "fast": "fast (factorised hooks)",
        "plain": "plain training fwd+bwd",
    }
    lines = [
        f"\n### {preset_key.split(':')[0]} preset, {args.seq_len}-token chunks, k={args.k}, "
        f"batch {args.batch} ({slow_bs} for trak/exact when interleaved), {args.threads} threads",
        "| path | seq/s interleaved (median of " + str(rounds) + " rounds) | "
        "seq/s isolated run (median batch / end to end, chunks) | peak RSS MB (isolated) |",
        "|---|---|---|---|",
    ]
    for p in ("trak", "exact", "fast", "plain"):
        r = res[p]
        lines.append(
            f"| {names[p]} | {inter[p]:.1f} | {r['seq_per_s']:.1f} / "
            f"{r['seq_per_s_end_to_end']:.1f} ({r['n']}) | {r['peak_rss_mb']:.0f} |"
        )
    print("\n".join(lines))
    print(
        f"interleaved: fast/trak = {inter['fast'] / inter['trak']:.1f}x   "
        f"fast/plain = {inter['fast'] / inter['plain']:.2f}x   "
        f"fast/exact = {inter['fast'] / inter['exact']:.1f}x",
        flush=True,
    )
    return res


def model_suite(args) -> dict:
    """Fast path vs plain training on an imported model folder (its own tokenizer)."""
    from dsdm_engine.compute.imported import count_params, inspect_model_dir
    from dsdm_engine.compute.tokenizer import encode_chunks, install_model_tokenizer, load_tokenizer

    info = inspect_model_dir(args.model)
    work = Path(args.workdir) / f"model_{info.tokenizer_sha256[:12]}_L{args.seq_len}"
    chunks = work / "chunks.npy"
    if not chunks.exists():
        texts, _ = load_texts(args)
        install_model_tokenizer(info.path, work, info.sep_id, info.pad_id)
        np.save(chunks, encode_chunks(texts, load_tokenizer(work), args.seq_len))
    n = min(args.n, int(np.load(chunks, mmap_mode="r").shape[0]))
    res = {p: run_worker(p, info.path, chunks, n, args) for p in ("fast", "plain")}
    rounds = 3 if args.quick else 8
    inter = interleaved(info.path, chunks, args, rounds, args.batch, paths=("fast", "plain"))
    params = count_params(info.path)
    print(
        f"\n### {info.model_type} model {info.path} ({params / 1e6:.1f}M parameters), "
        f"{args.seq_len}-token chunks, k={args.k}, batch {args.batch}, {args.threads} threads\n"
        "| path | seq/s interleaved | seq/s isolated (median batch) | peak RSS MB (isolated) |\n"
        "|---|---|---|---|"
    )
    for p in ("fast", "plain"):
        r = res[p]
        iso = f"{r['seq_per_s']:.2f} ({r['n']})"
        print(f"| {p} | {inter[p]:.2f} | {iso} | {r['peak_rss_mb']:.0f} |")
    print(f"interleaved: fast/plain = {inter['fast'] / inter['plain']:.2f}x", flush=True)
    return {
        "model": info.as_dict(), "params": params, "n_chunks": n, "k": args.k,
        "seq_len": args.seq_len, "batch": args.batch, "threads": args.threads, "rounds": rounds,
        "fast_seq_per_s": inter["fast"], "plain_seq_per_s": inter["plain"],
        "fast_vs_plain": inter["fast"] / inter["plain"],
        "peak_rss_mb_fast": res["fast"]["peak_rss_mb"],
        "peak_rss_mb_plain": res["plain"]["peak_rss_mb"], "paths": res,
    }  # fmt: skip


# ----------------------------------------------------------------------------- stability
def stability(args, work: Path, prep: dict) -> dict:
    """Seed-to-seed agreement of per-document task scores across k, λ, proxies, model output."""
    import torch

    from data_catalog.ranks import spearman
    from dsdm_engine.compute.configs import FeatureConfig
    from dsdm_engine.compute.featurize import featurize_targets, make_featurizer
    from dsdm_engine.compute.featurize.shards import featurize_pool
    from dsdm_engine.compute.scoring import fit_pool_model, task_scores, top_overlap
    from dsdm_engine.compute.training import load_proxy

    torch.set_num_threads(args.threads)
    chunks = np.load(work / "chunks.npy")[: args.n]
    tg = np.load(work / "targets.npz")
    ks = [16384] if args.quick else [4096, 16384]
    outputs = ["margin"]
    lams = [float("inf")] if args.quick else [1.0, 100.0, float("inf")]
    feats = {}  # (proxy, output, k, seed) -> (phi, q, target_phi)
    for p in range(args.proxies):
        model, _, _ = load_proxy(prep["ckpts"][f"{args.preset}:{p}"], device="cpu")
        for out in outputs:
            for k in ks:
                for seed in (0, 1):
                    fz = make_featurizer(
                        model,
                        FeatureConfig(proj_dim=k, proj_seed=seed, output=out).for_proxy(p),
                    )
                    t0 = time.time()
                    with tempfile.TemporaryDirectory() as d:
                        phi, q = featurize_pool(fz, chunks, d, shard_size=1024, batch_size=32)
                        phi = np.array(phi)
                    t_phi, _ = featurize_targets(
                        fz, tg["input_ids"], tg["loss_mask"], tg["attention_mask"], batch_size=32
                    )
                    feats[(p, out, k, seed)] = (phi, q, t_phi)
                    print(
                        f"  featurised proxy {p} {out} k={k} seed={seed} in "
                        f"{time.time() - t0:.0f}s",
                        flush=True,
                    )
    rows = []
    for out in outputs:
        for k in ks:
            for lam in lams:
                if k > 4096 and lam != float("inf"):
                    continue  # a k × k inverse at k > 4096 takes minutes on 2 CPU cores
                for m in range(1, args.proxies + 1):
                    s = []
                    for seed in (0, 1):
                        pms = [
                            fit_pool_model(
                                feats[(p, out, k, seed)][0],
                                feats[(p, out, k, seed)][1],
                                lambda_rel=lam,
                            )
                            for p in range(m)
                        ]
                        s.append(task_scores(pms, [feats[(p, out, k, seed)][2] for p in range(m)]))
                    # (json cannot hold inf: λ = ∞ is written as 1e300)
                    rows.append(
                        {
                            "output": out,
                            "k": k,
                            "lambda_rel": lam,
                            "proxies": m,
                            "spearman": spearman(s[0], s[1]),
                            "top1_overlap": top_overlap(s[0], s[1], 0.01),
                        }
                    )
    print(
        f"\n### seed-to-seed stability ({len(chunks)} pool chunks, 100 target examples, "
        "two projection seeds)"
    )
    print("| output | k | λ / (tr(ΦᵀΦ)/k) | proxies | Spearman | top-1% overlap |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        lam = "∞ (dot product)" if r["lambda_rel"] == float("inf") else f"{r['lambda_rel']:g}"
        print(
            f"| {r['output']} | {r['k']} | {lam} | {r['proxies']} | {r['spearman']:.3f} | "
            f"{r['top1_overlap']:.2f} |"
        )
    return {"rows": rows}


# ----------------------------------------------------------------------------- GPU suite
def gpu_suite(args) -> None:
    """Everything worth a GPU: 125m equality + speed, RSS at 2k/20k, the stability sweep."""
    import torch

    from dsdm_engine.compute.configs import FeatureConfig, TrainConfig
    from dsdm_engine.compute.featurize import Batch, make_featurizer
    from dsdm_engine.compute.models import build_model
    from dsdm_engine.compute.training import train_proxy

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = "cuda" if torch.cuda.is_available() else "cpu"  # cpu only for a smoke test
    big = "125m" if dev == "cuda" else "tiny"
    work = Path(args.workdir)
    res: dict = {"device": torch.cuda.get_device_name(0) if dev == "cuda" else "cpu"}
    chunks = np.load(work / "chunks.npy")
    V = int(chunks.max()) + 1
    V = max(V, args.vocab)

    def sync():
        if dev == "cuda":
            torch.cuda.synchronize()

    def save():
        if args.out:
            Path(args.out).write_text(json.dumps(res, indent=1))

    # 1. fast == exact on CUDA for the 125m preset, padded batch
    t0 = time.time()
    m = build_model(big, V, args.seq_len, seed=0, device=dev)
    ids = torch.as_tensor(chunks[:4], dtype=torch.long, device=dev)
    att = torch.ones_like(ids)
    att[1, 70:] = 0
    att[3, 20:] = 0
    lm = att.bool().clone()
    lm[2, :64] = False
    b = Batch(ids * att, att, lm)
    f1, q1 = make_featurizer(m, FeatureConfig(proj_dim=1024)).featurize(b)
    f2, q2 = make_featurizer(m, FeatureConfig(proj_dim=1024, method="exact")).featurize(b)
    res["125m_fast_vs_exact_rel_err"] = float(np.abs(f1 - f2).max() / np.abs(f2).max())
    res["125m_q_max_abs_diff"] = float(np.abs(q1 - q2).max())
    print(
        "125m fast vs exact rel err",
        res["125m_fast_vs_exact_rel_err"],
        time.time() - t0,
        flush=True,
    )
    save()

    # 2. speed table on GPU for small and 125m
    def speed(model, name, n_fast, n_slow, bs):
        x = np.ascontiguousarray(chunks[:n_fast])
        row = {}
        for meth, n in (("fast", n_fast), ("exact", n_slow), ("trak", n_slow)):
            fz = make_featurizer(model, FeatureConfig(method=meth, proj_dim=1024))
            fz.featurize(Batch.from_arrays(x[:bs], device=dev))  # warm-up
            sync()
            t = time.perf_counter()
            for s0 in range(0, n, bs):
                fz.featurize(Batch.from_arrays(x[s0 : s0 + bs], device=dev))
            sync()
            row[meth] = n / (time.perf_counter() - t)
        model.train()
        t = time.perf_counter()
        for s0 in range(0, n_fast, bs):
            xb = torch.as_tensor(x[s0 : s0 + bs], dtype=torch.long, device=dev)
            model(input_ids=xb, labels=xb).loss.backward()
            model.zero_grad(set_to_none=True)
        sync()
        row["plain"] = n_fast / (time.perf_counter() - t)
        model.eval()
        row["fast_vs_trak"] = row["fast"] / row["trak"]
        row["fast_vs_plain"] = row["fast"] / row["plain"]
        res[f"gpu_speed_{name}"] = row
        print(name, json.dumps({k: round(v, 2) for k, v in row.items()}), flush=True)
        save()

    speed(m, big, 512 if dev == "cuda" else 32, 32 if dev == "cuda" else 8, 32)
    del m
    small = build_model(args.preset, V, args.seq_len, seed=0, device=dev)
    speed(small, args.preset, 2048 if dev == "cuda" else 32, 128 if dev == "cuda" else 8, 64)

    # 3. proxies for the RSS check (seeded as the engine seeds its proxies)
    pool = np.ascontiguousarray(chunks[: args.n])
    cfg = TrainConfig(
        preset=args.preset,
        vocab_size=V,
        seq_len=args.seq_len,
        alpha=0.5,
        seed=0,
        device=dev,
        token_budget=args.gpu_train_tokens,
        batch_size=32,
    )
    ckpts = [work / "gpu_proxy_0"]
    r = train_proxy(pool, cfg, ckpts[0])
    print(f"trained proxy 0: loss {r.final_loss:.3f} in {r.seconds:.0f}s", flush=True)

    # 4. peak RSS of the fast path at 2,000 and 20,000 chunks (own processes, GPU, small)
    for n in (args.n, args.big_n):
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            "fast",
            "--ckpt",
            str(ckpts[0]),
            "--chunks",
            str(work / "chunks.npy"),
            "--n",
            str(n),
            "--k",
            str(args.k),
            "--batch",
            "64",
            "--threads",
            "4",
            "--device",
            dev,
        ]
        o = subprocess.run(cmd, capture_output=True, text=True)
        if o.returncode:
            print(o.stderr[-2000:])
            continue
        res[f"gpu_fast_rss_{n}"] = json.loads(o.stdout.strip().splitlines()[-1])
        print(n, res[f"gpu_fast_rss_{n}"], flush=True)
    save()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="finish in under ~5 minutes")
    ap.add_argument("--out", help="write the JSON summary here")
    ap.add_argument("--texts", help="JSONL with a 'text' field (default: Wikipedia leads)")
    ap.add_argument(
        "--cache", default=os.environ.get("DSDM_CACHE", str(Path.home() / ".cache" / "dsdm"))
    )
    ap.add_argument("--workdir", default=str(ROOT / "bench" / "out" / "featurize_work"))
    ap.add_argument("--preset", default="small")
    ap.add_argument("--large-preset", default="medium")
    ap.add_argument("--n", type=int, default=1000, help="pool chunks timed (fast, plain)")
    ap.add_argument("--big-n", type=int, default=4000, help="pool size of the RSS check")
    ap.add_argument("--k", type=int, default=1024)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (engine default 1)")
    ap.add_argument("--proxies", type=int, default=2)
    ap.add_argument("--train-tokens", type=int, default=131_072)
    ap.add_argument("--skip-stability", action="store_true")
    # worker mode (internal)
    ap.add_argument("--worker", choices=["fast", "exact", "trak", "plain"])
    ap.add_argument("--ckpt")
    ap.add_argument("--chunks")
    ap.add_argument("--output", default="margin")
    ap.add_argument("--device", default="cpu", help="worker device (internal)")
    ap.add_argument("--gpu-suite", action="store_true", help="the CUDA checks (needs a GPU)")
    ap.add_argument("--gpu-train-tokens", type=int, default=2_000_000)
    ap.add_argument("--data-only", action="store_true", help="only tokenise the bench data")
    ap.add_argument("--model", help="time a local Hugging Face model folder (fast vs plain)")
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if args.model:
        summary = model_suite(args)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(summary, indent=1))
        return None
    if args.data_only:
        return prepare(args, Path(args.workdir))
    if args.gpu_suite:
        return gpu_suite(args)

    t_start = time.time()
    if args.quick:  # sized for < 5 min on a shared 2-core CPU (~10 seq/s for `small`)
        args.n = min(args.n, 256)
        args.big_n = min(args.big_n, 768)
        args.proxies = 1
        args.train_tokens = min(args.train_tokens, 16_384)
    work = Path(args.workdir)
    prep = prepare(args, work)
    print(
        f"pool: {prep['chunks']} chunks of {args.seq_len} tokens available; using {args.n}",
        flush=True,
    )
    slow_n = 16 if args.quick else 48
    small = speed_table(f"{args.preset}:0", args, work, prep, slow_n)
    big_fast = run_worker(
        "fast", prep["ckpts"][f"{args.preset}:0"], work / "chunks.npy", args.big_n, args
    )
    print(
        f"\nfast-path peak RSS: {small['fast']['peak_rss_mb']:.0f} MB at {args.n} chunks, "
        f"{big_fast['peak_rss_mb']:.0f} MB at {args.big_n} chunks "
        f"({big_fast['seq_per_s']:.1f} seq/s)",
        flush=True,
    )
    large = speed_table(
        f"{args.large_preset}:0",
        args,
        work,
        prep,
        4 if args.quick else max(8, slow_n // 4),
        n_fast=max(64, args.n // 4),
    )
    stab = None if args.skip_stability else stability(args, work, prep)

    summary = {
        "preset": args.preset,
        "large_preset": args.large_preset,
        "n_chunks": args.n,
        "seq_len": args.seq_len,
        "k": args.k,
        "threads": args.threads,
        "rates": "seq/s: median per-batch rate, the four paths interleaved in one process",
        "fast_seq_per_s": small["fast"]["seq_per_s_interleaved"],
        "trak_seq_per_s": small["trak"]["seq_per_s_interleaved"],
        "exact_seq_per_s": small["exact"]["seq_per_s_interleaved"],
        "plain_seq_per_s": small["plain"]["seq_per_s_interleaved"],
        "fast_vs_trak": small["fast"]["seq_per_s_interleaved"]
        / small["trak"]["seq_per_s_interleaved"],
        "fast_vs_plain": small["fast"]["seq_per_s_interleaved"]
        / small["plain"]["seq_per_s_interleaved"],
        "peak_rss_mb_small": small["fast"]["peak_rss_mb"],
        "peak_rss_mb_large": big_fast["peak_rss_mb"],
        "large_n_chunks": args.big_n,
        "paths_small": small,
        "paths_large_preset": large,
        "large_preset_fast_vs_trak": large["fast"]["seq_per_s_interleaved"]
        / large["trak"]["seq_per_s_interleaved"],
        "large_preset_fast_vs_plain": large["fast"]["seq_per_s_interleaved"]
        / large["plain"]["seq_per_s_interleaved"],
        "seconds": time.time() - t_start,
    }
    if stab:
        best = max(stab["rows"], key=lambda r: (r["k"], r["proxies"], r["spearman"]))
        default = [
            r
            for r in stab["rows"]
            if r["lambda_rel"] == float("inf")
            and r["k"] == max(x["k"] for x in stab["rows"])
            and r["proxies"] == max(x["proxies"] for x in stab["rows"])
        ]
        pick = default[0] if default else best
        summary.update(
            seed_spearman=pick["spearman"],
            seed_top1_overlap=pick["top1_overlap"],
            seed_setting={k: pick[k] for k in ("output", "k", "lambda_rel", "proxies")},
            stability=stab["rows"],
        )
    print(f"\ntotal {summary['seconds']:.0f}s")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
