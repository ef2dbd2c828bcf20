"""Tokenizer: training, save/load round trip, pool chunks and completion-only target masks."""

import numpy as np
import pytest

from dsdm_engine.compute.tokenizer import (
    EOS,
    PAD,
    encode_chunks,
    encode_targets,
    load_tokenizer,
    train_tokenizer,
)

TEXTS = [f"The capital of country number {i} is city {i % 7}. It has a river." for i in range(60)]


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(TEXTS, vocab_size=300)


def test_vocab_size_specials_and_round_trip(tok, tmp_path):
    assert tok.get_vocab_size() == 300
    assert tok.token_to_id(EOS) == 0 and tok.token_to_id(PAD) == 1
    train_tokenizer(TEXTS, vocab_size=300, out_dir=tmp_path)
    again = load_tokenizer(tmp_path)
    assert again.encode(TEXTS[3]).ids == tok.encode(TEXTS[3]).ids
    assert tok.decode(tok.encode(TEXTS[3]).ids) == TEXTS[3]


def test_encode_chunks_packs_documents_into_fixed_length(tok):
    chunks, owners = encode_chunks(TEXTS, tok, seq_len=16, return_doc_ids=True)
    total = sum(len(tok.encode(t).ids) + 1 for t in TEXTS)
    assert chunks.dtype == np.int32 and chunks.shape == (total // 16, 16)
    assert owners.shape == chunks.shape and owners[0, 0] == 0
    assert np.all(np.diff(owners.ravel()) >= 0)  # documents appear in order
    assert (chunks == 0).sum() >= len(TEXTS) - 2  # EOS separators present


def test_targets_carry_loss_on_completion_only_and_pad_right(tok):
    t = encode_targets(["The capital of country number 3 is", ""], [" city 3.", "It has"], tok, 64)
    n_comp = len(tok.encode(" city 3.").ids)
    assert t.input_ids.dtype == np.int32 and t.loss_mask.dtype == bool
    assert t.loss_mask[0].sum() == n_comp and t.loss_mask[0, -n_comp:].all()
    assert t.input_ids[0, 0] == 0  # leading EOS lets an empty prompt still score token 1
    n1 = 1 + len(tok.encode("It has").ids)
    assert t.attention_mask[1, :n1].all() and not t.attention_mask[1, n1:].any()
    assert (t.input_ids[1, n1:] == 1).all() and not t.loss_mask[1, n1:].any()


def test_targets_truncate_prompt_from_the_left(tok):
    t = encode_targets(["The capital of country number 3 is a long prompt"], [" city 3."], tok, 8)
    n_comp = len(tok.encode(" city 3.").ids)
    assert t.input_ids.shape == (1, 8) and t.loss_mask[0].sum() == n_comp
    assert t.loss_mask[0, -n_comp:].all()


def test_pool_token_arrays_stream_to_disk_as_one_packing(tmp_path):
    """`prepare_tokens` writes the chunks and per-document rows batch by batch: what it stores
    is the packing of the pool's texts and each document's first tokens after an EOS."""
    import json

    from data_catalog.catalog import Catalog
    from data_catalog.ingest import ingest
    from dsdm_engine.stages.tokens import prepare_tokens

    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    cat = Catalog.open(tmp_path / "ws")
    ingest(cat, "p", [str(path)])
    got = prepare_tokens(cat, "p", vocab_size=300, seq_len=16)
    tok = load_tokenizer(got.tokenizer_dir)
    texts = [t for df in cat.iter_documents("p") for t in df["text"]]
    assert np.array_equal(np.load(got.chunks_path), encode_chunks(texts, tok, 16))
    docs = np.load(got.docs_path, mmap_mode="r")
    assert docs.shape == (len(TEXTS), 16) and docs.dtype == np.int32
    for row, text in zip(docs, texts, strict=True):
        head = [0, *tok.encode(text).ids[:15]]
        assert list(row[: len(head)]) == head and (row[len(head) :] == -1).all()
