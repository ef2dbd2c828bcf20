"""Byte-level BPE tokenizer trained on the pool, and the two ways text becomes token arrays.

- Pool: documents are joined with ``<|endoftext|>`` and cut into fixed-length chunks
  (every token carries loss; no padding), as DsDm's proxies saw 1024-token C4 chunks.
- Targets: ``<|endoftext|> + prompt + completion``, right-padded; only completion tokens carry
  loss (the leading separator lets the first completion token be scored with an empty prompt).

A vocabulary trained on the pool (a config value, default 4096) keeps tiny proxies fast: the LM
head is the largest layer of a small GPT-2. An imported model brings its own tokenizer
(`ModelTokenizer`): its ``tokenizer.json``, no special tokens added on encoding, and its own BOS
(or EOS) in the separator's place.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from data_catalog import atomic

EOS = "<|endoftext|>"
PAD = "<|pad|>"
TOKENIZER_FILE = "tokenizer.json"
SPECIAL_FILE = "special_tokens.json"  # an imported model's separator and pad ids


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


class ModelTokenizer:
    """An imported model's tokenizer with the interface the token stages use: its separator
    and pad ids stand for ``EOS`` and ``PAD``, and encoding adds no special tokens (the stages
    place the separator themselves, as for the pool's own tokenizer)."""

    def __init__(self, tok: Tokenizer, sep: int, pad: int) -> None:
        self.tok, self.sep, self.pad = tok, sep, pad

    def encode_batch(self, texts: list[str]) -> list:
        return self.tok.encode_batch(texts, add_special_tokens=False)

    def encode(self, text: str):
        return self.tok.encode(text, add_special_tokens=False)

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids)

    def token_to_id(self, token: str) -> int | None:
        return {EOS: self.sep, PAD: self.pad}.get(token, self.tok.token_to_id(token))

    def get_vocab_size(self) -> int:
        return self.tok.get_vocab_size()


def install_model_tokenizer(model_dir: str | Path, out_dir: str | Path, sep: int, pad: int) -> Path:
    """Copy an imported model's ``tokenizer.json`` (a few MB) and its special ids into `out_dir`,
    so the pool's token arrays and their tokenizer stay together in the workspace."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out / SPECIAL_FILE, json.dumps({"sep": sep, "pad": pad}))
    atomic.write_bytes(out / TOKENIZER_FILE, (Path(model_dir) / TOKENIZER_FILE).read_bytes())
    return out


def load_tokenizer(out_dir: str | Path) -> Tokenizer | ModelTokenizer:
    """The tokenizer saved in `out_dir`: the pool's own, or an imported model's."""
    tok = Tokenizer.from_file(str(Path(out_dir) / TOKENIZER_FILE))
    special = Path(out_dir) / SPECIAL_FILE
    if special.exists():
        ids = json.loads(special.read_text())
        return ModelTokenizer(tok, int(ids["sep"]), int(ids["pad"]))
    return tok


def special_id(tok: Tokenizer, token: str) -> int:
    i = tok.token_to_id(token)
    if i is None:
        raise ValueError(f"tokenizer has no {token!r} token")
    return i


def pack_encoded(id_lists: Iterable[Sequence[int]], eos: int, seq_len: int) -> np.ndarray:
    """Documents' token ids, each followed by EOS, packed into (n_chunks, seq_len) int32; the
    partial tail is dropped (what `encode_chunks` does with texts)."""
    parts = [np.asarray([*ids, eos], dtype=np.int32) for ids in id_lists]
    flat = np.concatenate(parts) if parts else np.zeros(0, np.int32)
    n = flat.shape[0] // seq_len
    return flat[: n * seq_len].reshape(n, seq_len)


def encode_chunks(
    texts: Iterable[str], tokenizer: Tokenizer, seq_len: int, return_doc_ids: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Pack documents (EOS-separated) into (n_chunks, seq_len) int32; the partial tail is dropped.

    With ``return_doc_ids`` also returns (n_chunks, seq_len) int32: the index of the document each
    token came from (separators belong to the preceding document), to map chunk scores to docs.
    """
    eos = special_id(tokenizer, EOS)
    texts = list(texts)
    encoded: list[list[int]] = []
    for start in range(0, len(texts), 1024):  # encode_batch is parallel in Rust
        encoded += [enc.ids for enc in tokenizer.encode_batch(texts[start : start + 1024])]
    chunks = pack_encoded(encoded, eos, seq_len)
    if not return_doc_ids:
        return chunks
    owners = [np.full(len(ids) + 1, j, dtype=np.int32) for j, ids in enumerate(encoded)]
    n = chunks.shape[0]
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
