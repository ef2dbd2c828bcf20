"""Stage 0: the pool as token arrays (a tokenizer trained on the pool, or an imported model's
own; packed chunks for training and one row per document for featurisation), cached under
`artifacts/tokens/` per tokenizer, so two models' tokenisations of one pool coexist."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from data_catalog import atomic
from data_catalog.catalog import Catalog
from dsdm_engine.progress import ProgressCallback, no_progress


@dataclass(frozen=True)
class TokenData:
    """The pool as token arrays, cached under artifacts/tokens/."""

    tokenizer_dir: Path
    chunks_path: Path  # (n_chunks, seq_len) int32, packed, for training
    docs_path: Path  # (n_docs, seq_len) int32, one row per document, -1 = padding
    doc_ids: list[str] = field(repr=False)


# ------------------------------------------------------------------ tokens
def prepare_tokens(
    catalog: Catalog,
    pool_id: str,
    vocab_size: int,
    seq_len: int,
    progress: ProgressCallback = no_progress,
    model: dict[str, Any] | None = None,
) -> TokenData:
    """Train (or reuse) the pool's tokenizer and cache its chunk and per-document arrays.

    `model`: an imported model's `ModelInfo` dict; its own tokenizer is used instead (copied
    into the workspace beside the arrays, keyed by its checksum; `vocab_size` is ignored)."""
    from dsdm_engine.compute.tokenizer import (
        EOS,
        install_model_tokenizer,
        load_tokenizer,
        pack_encoded,
        special_id,
        train_tokenizer,
    )

    pool = catalog.get_pool(pool_id)
    key = f"{pool_id}-{pool['content_hash'][:12]}-v{vocab_size}"
    if model is not None:
        key = f"{pool_id}-{pool['content_hash'][:12]}-t{model['tokenizer_sha256'][:12]}"
    tok_dir = catalog.layout.tokenizer_dir(key)
    arr_dir = catalog.layout.tokens_dir(key, seq_len)
    doc_ids = catalog.doc_ids(pool_id)
    if (tok_dir / "tokenizer.json").exists():
        tok = load_tokenizer(tok_dir)
    elif model is not None:
        install_model_tokenizer(model["path"], tok_dir, model["sep_id"], model["pad_id"])
        tok = load_tokenizer(tok_dir)
    else:
        progress(0, 3, "training tokenizer")
        texts = (t for df in catalog.iter_documents(pool_id) for t in df["text"])
        tok = train_tokenizer(texts, vocab_size=vocab_size, out_dir=tok_dir)
    chunks_path, docs_path = arr_dir / "chunks.npy", arr_dir / "docs.npy"
    if not (arr_dir / "COMPLETE").exists():
        arr_dir.mkdir(parents=True, exist_ok=True)
        progress(1, 3, "tokenizing pool")
        eos = special_id(tok, EOS)
        n_tokens: list[int] = []
        # both arrays stream to disk one batch of documents at a time (a 1M-document pool's
        # arrays held whole peaked at 2.2 GB); each batch's partial last chunk is dropped
        with (
            atomic.npy_rows(chunks_path, seq_len, np.int32) as chunks,
            atomic.npy_rows(docs_path, seq_len, np.int32) as docs,
        ):
            for df in catalog.iter_documents(pool_id):
                encoded = [enc.ids for enc in tok.encode_batch(list(df["text"]))]
                rows = np.full((len(encoded), seq_len), -1, dtype=np.int32)
                for i, ids in enumerate(encoded):
                    head = [eos, *ids[: seq_len - 1]]
                    rows[i, : len(head)] = head
                    n_tokens.append(len(ids))
                docs.append(rows)
                chunks.append(pack_encoded(encoded, eos, seq_len))
        if model is None or pool.get("n_tokens") is None:  # budgets count the pool's tokens
            catalog.set_token_counts(pool_id, doc_ids, n_tokens)
        (arr_dir / "COMPLETE").write_text("ok\n")
    progress(3, 3, "tokens ready")
    return TokenData(tok_dir, chunks_path, docs_path, doc_ids)


def run_tokens(catalog: Catalog, proxies_run: dict[str, Any]) -> TokenData:
    """The token arrays a proxies run was trained on (or, imported, its model's tokenisation)."""
    cfg = proxies_run["config"]
    return prepare_tokens(catalog, proxies_run["pool_id"], int(cfg.get("vocab_size") or 0),
                          int(cfg["seq_len"]), model=cfg.get("imported"))  # fmt: skip


def document_tokens(
    catalog: Catalog,
    pool_id: str,
    vocab_size: int,
    seq_len: int,
    model: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every document's full token ids, each followed by EOS, flat, with offsets (n + 1,):
    what whole-document features and subset models are built from. Cached beside the tokens."""
    from dsdm_engine.compute.tokenizer import EOS, load_tokenizer, special_id

    tokens = prepare_tokens(catalog, pool_id, vocab_size, seq_len, model=model)
    flat_path = tokens.docs_path.parent / "doc_tokens.npy"
    offsets_path = tokens.docs_path.parent / "doc_offsets.npy"
    if not (flat_path.exists() and offsets_path.exists()):
        tok = load_tokenizer(tokens.tokenizer_dir)
        eos = special_id(tok, EOS)
        parts, lengths = [], []
        for df in catalog.iter_documents(pool_id, columns="doc_id, text"):
            for enc in tok.encode_batch(list(df["text"])):
                parts.append(np.asarray(enc.ids + [eos], dtype=np.int32))
                lengths.append(len(enc.ids) + 1)
        atomic.write_npy(flat_path, np.concatenate(parts) if parts else np.zeros(0, np.int32))
        atomic.write_npy(offsets_path, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))
    return np.load(flat_path, mmap_mode="r"), np.load(offsets_path)
