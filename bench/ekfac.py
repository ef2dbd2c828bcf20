"""EK-FAC influence without projection: does a curvature-aware preconditioner make scores predict?

The strongest entries of bergson's LDS leaderboard (EK-FAC 0.45-0.47 against TRAK's 0.14)
precondition the *full* gradient by an eigenvalue-corrected K-FAC inverse and never project it.
Our `tiny` proxies have ~25k parameters outside the (tied) embedding / LM head, so that is
cheap here; this bench computes it for every proxy and judges it on a validation's subset models
with the same held-out aggregate LDS as `dsdm validate`. Like bergson's GPT-2 recipe, the LM
head (here tied to the token embedding) is left out.

Per proxy, for every Linear/Conv1D layer of the body (inputs with the bias' constant 1 appended):

1. K-FAC factors from a seeded sample of pool windows: ``A = Σ a aᵀ``, ``S = Σ δ δᵀ`` over real
   tokens, δ = ∂(window's summed next-token loss)/∂(layer output); eigenbases ``Q_A``, ``Q_S``;
2. the eigenvalue correction (George et al. 2018): ``Λ = mean_n (Q_Sᵀ G_n Q_A)²`` over the same
   windows' per-window gradients ``G_n = Σ_t δ_t a_tᵀ``; K-FAC's own eigenvalues
   ``λ_S λ_Aᵀ`` (rescaled to the same mean) are the `kfac` variant, no preconditioner `identity`;
   `kfac-f` damps each factor apart, ``(S + d·mean λ_S)⁻¹ G (A + d·mean λ_A)⁻¹``: the form that
   folds into a Kronecker projection of the query alone;
3. per target, the mean completion-loss gradient of its selection examples ``G_q``, transformed
   to ``V = Q_S [(Q_Sᵀ G_q Q_A) / (Λ + d · mean Λ)] Q_Aᵀ``;
4. every pool window's score ``Σ_layers <G_n, V>``: positive = a step on the window lowers the
   target's loss. A document's score is the sum over its windows (whole documents, as the
   features), and the ensemble score the mean over proxies of each proxy's z-scores.

With ``--features RUN_DIR`` every variant is also scored *projected*, as the product could: the
preconditioned query ``V`` is projected with each proxy's own Kronecker projection and dotted
with the stored (unpreconditioned) pool features (``-<P V, φ>``; φ is the margin's gradient,
≈ −loss), with and without TRAK's Q weighting; ``--projected-only`` skips the unprojected pass.

LDS: Spearman over the validation's subsets of ``Σ_{i∈S} score_i`` against the subset model's mean
held-out log-prob (replicate 0 alone, and the mean over replicates where every subset has them),
with the bootstrap CI of `dsdm_engine.evaluation.lds`. Reads files only (the validation folder and
the proxies' folders), so it runs while the catalog is busy:

    python bench/ekfac.py --workspace W --validation W/artifacts/lds/demo-<key> --out F
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data_catalog.ranks import spearman  # noqa: E402
from dsdm_engine.compute.ekfac import (  # noqa: E402
    LayerTaps,
    batches,
    fit_ekfac,
    query_gradient,
    transform,
)
from dsdm_engine.compute.featurize.store import load_features  # noqa: E402
from dsdm_engine.compute.featurize.windows import document_windows  # noqa: E402
from dsdm_engine.compute.projection import KroneckerProjection, find_layers, layer_specs  # noqa: E402
from dsdm_engine.compute.training import load_proxy  # noqa: E402
from dsdm_engine.evaluation.lds import bootstrap_ci  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def query(grads: LayerTaps, arr, batch: int) -> list[torch.Tensor]:
    """Mean over a target's examples of the gradient of their completion loss, per layer."""
    return query_gradient(grads, arr["input_ids"], arr["attention_mask"], arr["loss_mask"], batch)


def feature_config(features: Path) -> dict:
    """The features run's projection settings: its `config.json` where there is one, else the
    shipped defaults (`FeatureConfig`); `projected_scores` checks k against the stored store."""
    from dataclasses import asdict

    from dsdm_engine.compute.configs import FeatureConfig

    path = features / "config.json"
    return json.loads(path.read_text()) if path.exists() else asdict(FeatureConfig())


def projected_scores(model, features: Path, m: int, vs: list[list[torch.Tensor]]) -> np.ndarray:
    """Query-side preconditioning on the stored pool features: each preconditioned query
    ``V = H⁻¹ g_q`` (per layer) is projected with proxy m's own Kronecker projection and dotted
    with every document's stored feature ``φ = P ∇f`` (f = TRAK's margin, ≈ −loss, hence the
    minus): ``−<P V, φ>`` ≈ ``<V, g_doc>``. -> (n_docs, n_vs, 2): without and with TRAK's Q."""
    fc = feature_config(features)
    if fc.get("precondition", "none") != "none":
        raise SystemExit(f"{features}: the features must be unpreconditioned")
    seed = int(fc.get("proj_seed", 0)) + 1000 * m
    specs = layer_specs(model, int(fc["proj_dim"]), fc.get("layers", "all"))
    proj = KroneckerProjection(specs, seed)
    names = [s.module for s in proj.specs]
    if names != [n for n, _, _ in find_layers(model)]:
        raise SystemExit("query-side EK-FAC needs features of every layer (--layers all)")
    p = torch.stack(
        [
            torch.cat(
                [proj.project_structured(i, v[i][None].float())[0] for i in range(len(names))]
            )
            for v in vs
        ],
        1,
    ).numpy()  # (k, n_vs)
    phi = load_features(features / f"model_{m}")
    if phi.shape[1] != proj.k:
        raise SystemExit(f"{features}: k = {phi.shape[1]}, not {proj.k}; give its config.json")
    q = np.load(features / f"model_{m}" / "q.npy").astype(np.float64)
    raw = -np.asarray(phi.matmul(p.astype(np.float32)) if hasattr(phi, "matmul")
                      else np.asarray(phi, np.float32) @ p, np.float64)  # fmt: skip
    return np.stack([raw, raw * q[:, None]], -1)


def lds(masks: np.ndarray, scores: np.ndarray, outcome: np.ndarray, seed: int = 0) -> dict:
    """Held-out aggregate LDS with its CI over the subsets whose models are trained."""
    done = ~np.isnan(outcome)
    pred = masks[done].astype(np.float64) @ scores
    lo, hi = bootstrap_ci(pred, outcome[done], seed=seed)
    return {"lds": float(spearman(pred, outcome[done])), "ci": [lo, hi], "n": int(done.sum())}


def outcomes(root: Path, m: int, key: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean held-out log-prob per subset: replicate 0, and the mean over 2 when all exist."""

    def read(name: str) -> float | None:
        p = root / name / "outcomes.json"
        if not (root / name / "COMPLETE").exists():
            return None
        return float(np.mean(json.loads(p.read_text())[key]))

    r0 = np.array([read(f"subset_{j}") for j in range(m)], dtype=float)
    r1 = np.array([np.nan if v is None else v for v in (read(f"subset_{j}_r1") for j in range(m))])
    both = None if np.isnan(r1).any() else (r0 + r1) / 2
    return r0, both, r1


def replicate_ceiling(r0: np.ndarray, r1: np.ndarray) -> dict:
    """Agreement of replicate 0 with replicate 1 over the subsets that have both, and the LDS
    ceilings it implies (`dsdm_engine.evaluation.lds.lds_ceiling`)."""
    from dsdm_engine.evaluation.lds import lds_ceiling

    have = ~np.isnan(r1) & ~np.isnan(r0)
    if have.sum() < 8:
        return {"n_subsets": int(have.sum())}
    rho = float(spearman(r0[have], r1[have]))
    lo, hi = bootstrap_ci(r0[have], r1[have])
    return {"n_subsets": int(have.sum()), "replicate_spearman": rho, "ci": [lo, hi],
            "lds_ceiling_1": lds_ceiling(rho, 1), "lds_ceiling_2": lds_ceiling(rho, 2)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--validation", required=True, help="the validation folder (artifacts/lds/..)")
    ap.add_argument("--proxies", help="proxies run id (default: the workspace's first)")
    ap.add_argument("--models", type=int, default=4, help="proxies used (ensemble size)")
    ap.add_argument("--sample", type=int, default=1024, help="windows for the K-FAC fit")
    ap.add_argument("--damping", type=float, nargs="+", default=[0.1, 1.0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scores", help="a previous run's .scores.npy: only judge them (no model)")
    ap.add_argument("--projected", help="a previous run's .projected.npy: judge them too")
    ap.add_argument(
        "--features", help="a features run folder (artifacts/runs/features-..): also score by "
        "the preconditioned query projected onto its stored pool features (query-side EK-FAC)",
    )  # fmt: skip
    ap.add_argument(
        "--projected-only", action="store_true",
        help="with --features: skip the unprojected pass over every pool window",
    )  # fmt: skip
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.monotonic()
    ws, root = Path(args.workspace), Path(args.validation)
    runs = sorted((ws / "artifacts" / "runs").glob("proxies-*"))
    run = ws / "artifacts" / "runs" / args.proxies if args.proxies else runs[0]
    cfg = json.loads((root / "config.json").read_text())
    seq_len = int(cfg["train"]["seq_len"])
    m_subsets = int(cfg["validate"]["n_subsets"])
    tasks = sorted(p.name[len("examples-") : -len("-selection.npz")]
                   for p in root.glob("examples-*-selection.npz"))  # fmt: skip
    flat = np.load(root / "doc_tokens.npy")
    offsets = np.load(root / "doc_offsets.npy")
    windows, owner = document_windows(flat, offsets, seq_len)
    n_docs = len(offsets) - 1
    masks = np.load(root / "masks.npy")
    log(f"{len(windows)} windows of {n_docs} documents; targets {tasks}; {m_subsets} subsets")
    variants = [("identity", 0.0)] + [
        (v, d) for v in ("ekfac", "kfac", "kfac-f") for d in args.damping
    ]
    names = [f"{v}" if v == "identity" else f"{v} d={d:g}" for v, d in variants]
    per_proxy, projected = [], []
    sample_rng = np.random.default_rng([args.seed, 0xEF])
    judge_only = bool(args.scores or args.projected)
    model_dirs = [] if judge_only else sorted(run.glob("model_*"))[: args.models]
    for mi, model_dir in enumerate(model_dirs):
        tm = time.monotonic()
        model = load_proxy(model_dir, device="cpu")[0]
        grads = LayerTaps(model)
        sample = windows[np.sort(sample_rng.choice(len(windows), args.sample, replace=False))]
        bases = fit_ekfac(grads, sample, args.batch)
        vs = []  # (task, variant) -> per layer V
        for t in tasks:
            q = query(grads, np.load(root / f"examples-{t}-selection.npz"), args.batch)
            for v, d in variants:
                vs.append([transform(q[i], bases[i], v, d) for i in range(len(q))])
        if args.features:
            projected.append(projected_scores(model, Path(args.features), mi, vs).reshape(
                n_docs, len(tasks), len(variants), 2))  # fmt: skip
            log(f"proxy {mi}: projected scores in {time.monotonic() - tm:.0f} s")
            if args.projected_only:
                continue
        stacked = [torch.stack([v[i] for v in vs]).float() for i in range(len(grads.layers))]
        win = np.zeros((2, len(windows), len(vs)))  # body, head
        tp = time.monotonic()
        for s, e in batches(len(windows), args.batch):
            gs = grads.run(windows[s:e])
            for g, st, head in zip(gs, stacked, grads.head, strict=True):
                win[int(head), s:e] += torch.einsum("boi,voi->bv", g, st).numpy()
            if (s // args.batch) % 100 == 0:
                rate = e / max(time.monotonic() - tp, 1e-9)
                log(f"proxy {mi}: {e}/{len(windows)} windows, {rate:.0f}/s")
        docs = np.stack(
            [
                [np.bincount(owner, weights=w[:, c], minlength=n_docs) for c in range(w.shape[1])]
                for w in win
            ],
            -1,
        )  # (vs, docs, 2)
        docs = np.moveaxis(docs, 0, 1)  # (docs, vs, 2)
        docs = np.concatenate([docs[..., :1], docs.sum(-1, keepdims=True)], -1)
        per_proxy.append(docs.reshape(n_docs, len(tasks), len(variants), 2))
        log(f"proxy {mi} done in {time.monotonic() - tm:.0f} s")
    # (M, n_docs, tasks, variants, {body, body+head}), saved before anything is judged
    parts = []
    if args.scores:
        parts.append((np.load(args.scores), ("body", "body+head")))
    elif per_proxy:
        np.save(Path(args.out).with_suffix(".scores.npy"), np.stack(per_proxy))
        parts.append((np.stack(per_proxy), ("body", "body+head")))
    if projected:
        np.save(Path(args.out).with_suffix(".projected.npy"), np.stack(projected))
        parts.append((np.stack(projected), ("projected", "projected·Q")))
    elif args.projected:
        parts.append((np.load(args.projected), ("projected", "projected·Q")))
    stack = np.concatenate([p.reshape(*p.shape[:3], -1) for p, _ in parts], -1)
    names = [f"{n} {part}" for _, pn in parts for n in names for part in pn]
    z = (stack - stack.mean(1, keepdims=True)) / (stack.std(1, keepdims=True) + 1e-30)
    report: dict = {"n_subsets": m_subsets, "models": len(stack), "sample": args.sample,
                    "variants": names, "targets": {}}  # fmt: skip
    rows = []
    for ti, t in enumerate(tasks):
        r0, both, r1 = outcomes(root, m_subsets, f"{t}|heldout")
        row: dict = {"replicates": replicate_ceiling(r0, r1)}
        log(f"{t}: replicates {row['replicates']}")
        for vi, name in enumerate(names):
            ens, one = z[:, :, ti, vi].mean(0), stack[0, :, ti, vi]
            row[name] = {"ensemble_r1": lds(masks, ens, r0), "proxy0_r1": lds(masks, one, r0)}
            if both is not None:
                row[name]["ensemble_r2"] = lds(masks, ens, both)
            rows.append((t.split("@")[0], name, row[name]))
        report["targets"][t] = row
    mean = {}
    for name in names:
        for key in ("ensemble_r1", "proxy0_r1", "ensemble_r2"):
            vals = [report["targets"][t][name].get(key, {}).get("lds") for t in tasks]
            if all(v is not None for v in vals):
                mean[f"{name}|{key}"] = float(np.mean(vals))
    report["mean_heldout_lds"] = mean
    report["seconds"] = time.monotonic() - t0
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"{'target':<14} {'variant':<14} {'M=4 R=1':>18} {'M=1 R=1':>8} {'M=4 R=2':>8}")
    for t, name, r in rows:
        e1 = r["ensemble_r1"]
        r2 = r.get("ensemble_r2", {}).get("lds", float("nan"))
        print(f"{t:<14} {name:<14} {e1['lds']:6.2f} [{e1['ci'][0]:5.2f},{e1['ci'][1]:5.2f}]"
              f" {r['proxy0_r1']['lds']:8.2f} {r2:8.2f}")  # fmt: skip
    print(json.dumps(mean, indent=1))
    log(f"wrote {args.out} in {report['seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
