"""Whole documents as seq_len windows, and per-document sums of window features.

A document of any length is `[EOS] + its tokens`, cut into consecutive `seq_len` windows (the
last one padded with -1). The gradient of the whole document's output is the sum of its
windows' gradients (each window is an independent sequence for a causal LM of this context), so
its projected feature is the sum of the windows' features: a document is judged by all of its
text, not its first `seq_len` tokens. Q, the out-to-loss weight, is the token-weighted mean of
the windows' Q (the mean over all the document's tokens).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from data_catalog import atomic
from dsdm_engine.compute.featurize.store import FeatureWriter
from dsdm_engine.compute.scoring import BLOCK_ROWS


def document_windows(
    flat: np.ndarray, offsets: np.ndarray, seq_len: int
) -> tuple[np.ndarray, np.ndarray]:
    """`flat[offsets[i]:offsets[i+1]]` is document i's tokens ending with EOS.

    Returns windows (n_windows, seq_len) int32 padded with -1, and their document (n_windows,)
    in document order. A tail window of fewer than 2 tokens carries no prediction and is dropped
    (every document keeps its first window).
    """
    rows: list[np.ndarray] = []
    owner: list[int] = []
    for i in range(len(offsets) - 1):
        toks = flat[offsets[i] : offsets[i + 1]]
        seq = np.concatenate([toks[-1:], toks[:-1]])  # [EOS] + the document, as docs.npy rows
        for s in range(0, max(len(seq), 1), seq_len):
            part = seq[s : s + seq_len]
            if s > 0 and len(part) < 2:
                continue
            w = np.full(seq_len, -1, np.int32)
            w[: len(part)] = part
            rows.append(w)
            owner.append(i)
    if not rows:
        return np.zeros((0, seq_len), np.int32), np.zeros(0, np.int64)
    return np.stack(rows), np.asarray(owner, np.int64)


def sum_windows(
    win_phi: np.ndarray,
    win_q: np.ndarray,
    owner: np.ndarray,
    n_tokens: np.ndarray,
    n_docs: int,
    out_dir: Path,
    block: int = BLOCK_ROWS,
    store: str = "float32",
) -> None:
    """Per-document features = sum of their windows' rows; Q = token-weighted mean of the
    windows' Q. Streams `block` windows at a time (windows of a document are contiguous), so
    memory stays bounded whatever the pool; writes the features (as `store`: `store.py`), q.npy
    and COMPLETE last."""
    k = win_phi.shape[1]
    q_num = np.bincount(owner, weights=win_q * n_tokens, minlength=n_docs)
    q_den = np.bincount(owner, weights=n_tokens, minlength=n_docs)
    q = (q_num / np.maximum(q_den, 1)).astype(np.float32)
    starts = np.searchsorted(owner, np.arange(n_docs + 1))  # first window of each document
    with FeatureWriter(out_dir, n_docs, k, store) as writer:
        d = 0
        while d < n_docs:
            e = int(np.searchsorted(starts, starts[d] + block, side="right")) - 1
            e = min(max(e, d + 1), n_docs)  # at least one document per block
            rows = np.asarray(win_phi[starts[d] : starts[e]], np.float64)  # (windows, k)
            sums = np.add.reduceat(rows, starts[d:e] - starts[d], axis=0)  # (docs, k)
            writer.write(sums)
            d = e
    atomic.write_npy(out_dir / "q.npy", q)
    atomic.write_bytes(out_dir / "COMPLETE", b"ok\n")
