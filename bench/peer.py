"""A peer row for the LDS benchmark: EleutherAI's bergson on our pool, proxies and subset models.

Writes an exchange folder (our proxies' checkpoints, the pool's whole-document windows exactly as
our featuriser cuts them, the demo targets' "selection" examples tokenised exactly as ours),
runs `bench/peer_bergson.py` in the separate `.venv-peers` (`make bench-peers`) to get bergson's
per-document scores, and scores them with the same held-out LDS as `bench/levers.py`, on the
validation's subset models (they resume; nothing is retrained on a validated workspace):

    python bench/peer.py --workspace dsdm_workspace --out bench/out/peer.json --subsets 64

Prints a table (target: held-out aggregate LDS [95% CI]) and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from validate import POOL, TARGETS, demo_proxies, log  # noqa: E402  (bench/validate.py)

from data_catalog.catalog import Catalog  # noqa: E402
from dsdm_engine import stages  # noqa: E402
from dsdm_engine.compute.featurize.windows import document_windows  # noqa: E402
from dsdm_engine.compute.tokenizer import encode_targets, load_tokenizer  # noqa: E402
from dsdm_engine.evaluation.lds import Predictor, lds_table  # noqa: E402
from dsdm_engine.evaluation.subsets import ValidateConfig, train_subset_models  # noqa: E402
from dsdm_engine.stages.tokens import document_tokens, prepare_tokens  # noqa: E402

PEER_PY = ROOT / ".venv-peers" / "bin" / "python"
PEER = "bergson 2.5.1 (trackstar defaults: 16x16 per-module projection, autocorrelation H^-1)"


def write_exchange(cat: Catalog, proxies_run_id: str, folder: Path, max_windows: int) -> int:
    """The bergson script's inputs in `folder`; returns the number of pool documents."""
    run = cat.run(proxies_run_id)
    vocab, seq_len = int(run.config["vocab_size"]), int(run.config["seq_len"])
    for m, mdir in enumerate(stages.model_dirs(cat, proxies_run_id)):
        (folder / f"proxy_{m}").mkdir()
        for name in ("model.safetensors", "config.json"):
            os.symlink(mdir / name, folder / f"proxy_{m}" / name)
    flat, offsets = document_tokens(cat, POOL, vocab, seq_len)
    windows, owner = document_windows(flat, offsets, seq_len)
    if max_windows and len(windows) > max_windows:  # a quick look: the first documents only
        windows, owner = windows[:max_windows], owner[:max_windows]
        log(f"keeping the first {max_windows} windows (documents past them score 0)")
    np.save(folder / "pool_windows.npy", windows)
    np.save(folder / "pool_owner.npy", owner)
    n_docs = len(offsets) - 1
    (folder / "n_docs.txt").write_text(str(n_docs))
    tok = load_tokenizer(prepare_tokens(cat, POOL, vocab, seq_len).tokenizer_dir)
    for target in TARGETS:
        ex = cat.target_examples(cat.get_target_task(target)["task_id"], split="selection")
        arr = encode_targets([e.prompt for e in ex], [e.completion for e in ex], tok, seq_len)
        np.savez(folder / f"targets_{target}.npz", input_ids=arr.input_ids,
                 attention_mask=arr.attention_mask, loss_mask=arr.loss_mask)  # fmt: skip
    return n_docs


def bergson_scores(folder: Path, out: Path) -> dict[str, np.ndarray]:
    """Run the bergson script in `.venv-peers`; its per-document scores per target."""
    if not PEER_PY.exists():
        sys.exit(f"{PEER_PY} is missing: run `make bench-peers` first")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": ""}
    cmd = [str(PEER_PY), str(ROOT / "bench" / "peer_bergson.py"), "--in", str(folder),
           "--out", str(out)]  # fmt: skip
    subprocess.run(cmd, check=True, env=env)
    return {t: np.load(out / f"scores_{t}.npy") for t in TARGETS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--workspace", default=str(ROOT / "dsdm_workspace"))
    ap.add_argument("--subsets", type=int, default=ValidateConfig().n_subsets)
    ap.add_argument("--max-windows", type=int, default=0, help="0: every pool window")
    args = ap.parse_args()
    t0 = time.monotonic()
    cat = Catalog.open(args.workspace)
    proxies = demo_proxies(cat)
    tasks = {t: cat.get_target_task(t)["task_id"] for t in TARGETS}
    with tempfile.TemporaryDirectory(prefix="peer-") as tmp:
        exchange, out = Path(tmp) / "in", Path(tmp) / "out"
        exchange.mkdir()
        n_docs = write_exchange(cat, proxies.run_id, exchange, args.max_windows)
        log(f"running bergson on {n_docs} documents")
        scores = bergson_scores(exchange, out)
        meta = json.loads((out / "meta.json").read_text())
    cfg = ValidateConfig(n_subsets=args.subsets, device="cpu")
    got = train_subset_models(cat, proxies.run_id, list(tasks.values()), cfg)  # resumes
    preds = [Predictor("bergson", tasks[t], scores[t], kind="peer") for t in TARGETS]
    table = lds_table(got.masks, got.outcomes, preds, seed=0)
    held = table[table["split"] == "heldout"].set_index("task_id")
    lds = {t: float(held.loc[tasks[t], "aggregate_lds"]) for t in TARGETS}
    ci = {t: [float(held.loc[tasks[t], c]) for c in ("ci_lo", "ci_hi")] for t in TARGETS}
    report = {"peer": PEER, "peer_heldout_aggregate_lds": lds, "ci": ci,
              "n_subsets": args.subsets, "max_windows": args.max_windows, "bergson": meta,
              "seconds": time.monotonic() - t0}  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"{'target':<15} held-out aggregate LDS [95% CI]  ({PEER})")
    for t in TARGETS:
        print(f"{t:<15} {lds[t]:+.3f} [{ci[t][0]:+.3f}, {ci[t][1]:+.3f}]")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
