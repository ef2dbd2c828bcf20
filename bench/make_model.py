"""Build a "user's own model" without downloading one: a Llama- or GPT-2-shaped causal LM made
from a `transformers` config, trained briefly on a workspace pool, saved with `save_pretrained`
beside the pool tokenizer's `tokenizer.json`: a local folder `dsdm proxy import` takes.

    python bench/make_model.py --workspace dsdm_workspace --pool demo --shape llama \\
        --size small --tokens 1500000 --out bench/out/models/llama-small

`--size` takes the proxy presets' shapes (tiny, small, medium, 125m: layers × width × heads);
a Llama gets an MLP of 8/3 × width (rounded to 16) and half as many key/value heads (GQA).
Prints the parameter count, the training loss and the seconds it took.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data_catalog.catalog import Catalog  # noqa: E402
from dsdm_engine.compute.configs import TrainConfig  # noqa: E402
from dsdm_engine.compute.models import configure_threads, get_preset  # noqa: E402
from dsdm_engine.compute.training import fit  # noqa: E402
from dsdm_engine.stages.tokens import prepare_tokens  # noqa: E402


def build(shape: str, size: str, vocab: int, seq_len: int, seed: int) -> torch.nn.Module:
    """A freshly initialised model of that shape and size (seeded)."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    p = get_preset(size)
    torch.manual_seed(seed)
    if shape == "llama":
        config = LlamaConfig(
            vocab_size=vocab, hidden_size=p.n_embd, num_hidden_layers=p.n_layer,
            num_attention_heads=p.n_head, num_key_value_heads=max(1, p.n_head // 2),
            intermediate_size=int(round(8 / 3 * p.n_embd / 16)) * 16,
            max_position_embeddings=seq_len, bos_token_id=0, eos_token_id=0,
            tie_word_embeddings=False,
        )  # fmt: skip
        return LlamaForCausalLM(config)
    config = GPT2Config(
        vocab_size=vocab, n_embd=p.n_embd, n_layer=p.n_layer, n_head=p.n_head,
        n_positions=seq_len, bos_token_id=0, eos_token_id=0,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )  # fmt: skip
    return GPT2LMHeadModel(config)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--pool", required=True)
    ap.add_argument("--out", required=True, help="model folder to write")
    ap.add_argument("--shape", choices=["llama", "gpt2"], default="llama")
    ap.add_argument("--size", default="small", help="tiny | small | medium | 125m")
    ap.add_argument("--tokens", type=int, default=1_500_000, help="training tokens")
    ap.add_argument("--vocab", type=int, default=2048, help="the pool tokenizer's vocabulary")
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    configure_threads()
    cat = Catalog.open(args.workspace)
    tokens = prepare_tokens(cat, args.pool, args.vocab, args.seq_len)
    chunks = np.load(tokens.chunks_path)
    model = build(args.shape, args.size, args.vocab, args.seq_len, args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    tc = TrainConfig(seq_len=args.seq_len, lr=args.lr, token_budget=args.tokens, seed=args.seed)
    steps = max(1, -(-args.tokens // (tc.batch_size * args.seq_len)))
    t0 = time.monotonic()
    last = [0.0]

    def report(done: int, total: int, msg: str = "") -> None:
        if time.monotonic() - last[0] > 30 or done >= total:
            last[0] = time.monotonic()
            print(f"{done:,}/{total:,} tokens: {msg}", flush=True)

    loss = fit(model, list(model.parameters()), chunks, np.arange(len(chunks)), steps, tc, report)
    seconds = time.monotonic() - t0
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    model.eval().save_pretrained(out)
    shutil.copy(tokens.tokenizer_dir / "tokenizer.json", out / "tokenizer.json")
    info = {
        "shape": args.shape, "size": args.size, "params": n_params, "tokens": args.tokens,
        "final_loss": loss, "seconds": seconds, "pool": args.pool, "seed": args.seed,
    }  # fmt: skip
    (out / "made_by.json").write_text(json.dumps(info, indent=1))
    print(json.dumps(info))


if __name__ == "__main__":
    main()
