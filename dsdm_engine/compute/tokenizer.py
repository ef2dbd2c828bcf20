"""Byte-level BPE tokenizer trained on the pool, and the two ways text becomes token arrays.

- Pool: documents are joined with ``<|endoftext|>`` and cut into fixed-length chunks
  (every token carries loss; no padding), as DsDm's proxies saw 1024-token C4 chunks.
- Targets: ``<|endoftext|> + prompt + completion``, right-padded; only completion tokens carry
  loss (the leading separator lets the first completion token be scored with an empty prompt).

A vocabulary trained on the pool (a config value, default 4096) keeps tiny proxies fast: the LM
head is the largest layer of a small GPT-2.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from data_catalog import atomic

EOS = "<|endoftext|>"
PAD = "<|pad|>"
TOKENIZER_FILE = "tokenizer.json"


def train_tokenizer(
    texts: Iterable[str], vocab_size: int = 4096, out_dir: str | Path | None = None
) -> Tokenizer:
    """Train a byte-level BPE on `texts`; saved as ``out_dir/tokenizer.json`` when given."""
    if vocab_size < 258:
        raise ValueError("vocab_size must be at least 258 (256 bytes + 2 special tokens)")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD],  # ids 0 and 1
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    if out_dir is not None:
        save_tokenizer(tok, out_dir)
    return tok


def save_tokenizer(tok: Tokenizer, out_dir: str | Path) -> Path:
    path = Path(out_dir) / TOKENIZER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(path) as tmp:
        tok.save(str(tmp))
    return path


def load_tokenizer(out_dir: str | Path) -> Tokenizer:
    return Tokenizer.from_file(str(Path(out_dir) / TOKENIZER_FILE))


def special_id(tok: Tokenizer, token: str) -> int:
    i = tok.token_to_id(token)
    if i is None:
        raise ValueError(f"tokenizer has no {token!r} token")
    return i


def encode_chunks(
    texts: Iterable[str], tokenizer: Tokenizer, seq_len: int, return_doc_ids: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Pack documents (EOS-separated) into (n_chunks, seq_len) int32; the partial tail is dropped.

    With ``return_doc_ids`` also returns (n_chunks, seq_len) int32: the index of the document each
    token came from (separators belong to the preceding document), to map chunk scores to docs.
    """
    eos = special_id(tokenizer, EOS)
    ids: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    texts = list(texts)
    for start in range(0, len(texts), 1024):  # encode_batch is parallel in Rust
        for j, enc in enumerate(tokenizer.encode_batch(texts[start : start + 1024])):
            arr = np.asarray(enc.ids + [eos], dtype=np.int32)
            ids.append(arr)
            owners.append(np.full(arr.shape, start + j, dtype=np.int32))
    flat = np.concatenate(ids) if ids else np.zeros(0, np.int32)
    n = flat.shape[0] // seq_len
    chunks = flat[: n * seq_len].reshape(n, seq_len)
    if not return_doc_ids:
        return chunks
    own = (np.concatenate(owners) if owners else np.zeros(0, np.int32))[: n * seq_len]
    return chunks, own.reshape(n, seq_len)


@dataclass(frozen=True)
class TargetArrays:
    """Right-padded target examples; loss only on completion tokens."""

    input_ids: np.ndarray  # (m, L) int32
    loss_mask: np.ndarray  # (m, L) bool
    attention_mask: np.ndarray  # (m, L) int8


def encode_targets(
    prompts: Sequence[str], completions: Sequence[str], tokenizer: Tokenizer, max_len: int
) -> TargetArrays:
    """Tokenize (prompt, completion) pairs: ``[EOS] prompt completion`` padded to the longest.

    Too long: prompt tokens are dropped from the left first (the completion and the context right
    before it matter most), then the completion is cut on the right.
    """
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
    eos, pad = special_id(tokenizer, EOS), special_id(tokenizer, PAD)
    p_enc = tokenizer.encode_batch(list(prompts)) if prompts else []
    c_enc = tokenizer.encode_batch(list(completions)) if completions else []
    rows = []
    for p, c in zip(p_enc, c_enc, strict=True):
        comp = c.ids[: max_len - 1]
        prompt = (
            p.ids[max(0, len(p.ids) - (max_len - 1 - len(comp))) :]
            if len(comp) < max_len - 1
            else []
        )
        rows.append(([eos] + prompt, comp))
    L = max((len(a) + len(b) for a, b in rows), default=1)
    ids = np.full((len(rows), L), pad, dtype=np.int32)
    loss = np.zeros((len(rows), L), dtype=bool)
    att = np.zeros((len(rows), L), dtype=np.int8)
    for i, (ctx, comp) in enumerate(rows):
        n = len(ctx) + len(comp)
        ids[i, :n] = ctx + comp
        loss[i, len(ctx) : n] = True
        att[i, :n] = 1
    return TargetArrays(ids, loss, att)
