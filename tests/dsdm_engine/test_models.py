"""Proxy model presets and device resolution."""

import pytest
import torch

from data_catalog.errors import InputError
from dsdm_engine.compute.models import PRESETS, build_model, get_preset, num_params, resolve_device


def test_presets_exist_and_unknown_names_list_known_ones():
    assert {"tiny", "small", "125m"} <= set(PRESETS)
    with pytest.raises(ValueError, match="tiny"):
        get_preset("huge")


def test_tiny_model_is_eager_tied_and_seeded():
    a = build_model("tiny", vocab_size=300, seq_len=32, seed=3)
    b = build_model("tiny", vocab_size=300, seq_len=32, seed=3)
    assert a.config._attn_implementation == "eager"
    assert a.lm_head.weight is a.transformer.wte.weight
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    assert num_params(a) < 200_000


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="auto"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="--device cuda"):
            resolve_device("cuda")
