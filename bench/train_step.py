"""Training steps per second: our next-token loss against `model(labels=x)` on the same model.

`dsdm_engine.compute.training.fit` computes the loss with the LM head applied only to the T − 1
positions that have a next token (`next_token_loss`); the reference is the `transformers` path
(`model(input_ids=x, labels=x).loss`), which projects every position and back-propagates
through a slice of the (B, T, V) logits. Both run the same AdamW step with gradient clipping,
alternately, on the same model (one torch thread), so their ratio is measured in one run:

    python bench/train_step.py --out bench/out/train_step.json [--preset tiny] [--steps 30]

Prints a table (ms per step, tokens per second, speedup) and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dsdm_engine.compute.models import build_model  # noqa: E402
from dsdm_engine.compute.training import _hf_loss, head_split_ok, next_token_loss  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--vocab-size", type=int, default=4096)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=30, help="timed steps per path and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = build_model(args.preset, args.vocab_size, args.seq_len, args.seed, "cpu")
    gen = torch.Generator().manual_seed(args.seed)
    x = torch.randint(0, args.vocab_size, (args.batch_size, args.seq_len), generator=gen)
    assert head_split_ok(model, x), "the split loss is not this model's own loss"
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    params = list(model.parameters())

    def step(loss_fn) -> None:
        loss = loss_fn(model, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    paths = {"model(labels=x) (reference)": _hf_loss, "next_token_loss (ours)": next_token_loss}
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(args.rounds):  # alternate so both see the same machine load
        for name, fn in paths.items():
            for _ in range(3):
                step(fn)  # warm-up
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step(fn)
            times[name].append((time.perf_counter() - t0) / args.steps)
    tokens = args.batch_size * args.seq_len
    ref, ours = (min(v) for v in times.values())
    rows = {name: {"ms_per_step": 1000 * min(v), "tokens_per_s": tokens / min(v)}
            for name, v in times.items()}  # fmt: skip
    report = {"preset": args.preset, "vocab_size": args.vocab_size, "seq_len": args.seq_len,
              "batch_size": args.batch_size, "rows": rows, "speedup": ref / ours}  # fmt: skip
    print(f"{'path':<30} {'ms/step':>9} {'tokens/s':>10}")
    for name, r in rows.items():
        print(f"{name:<30} {r['ms_per_step']:9.1f} {r['tokens_per_s']:10,.0f}")
    print(f"speedup (reference / ours): {report['speedup']:.2f}x")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
