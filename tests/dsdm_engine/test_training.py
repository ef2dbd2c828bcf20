"""Proxy training: validated hashed configs, seeded subsets, reproducible checkpoints."""

import numpy as np
import pytest
import torch

from data_catalog.errors import InputError
from dsdm_engine.compute.configs import TrainConfig
from dsdm_engine.compute.training import checkpoint_sha256, load_proxy, subset_mask, train_proxy
from dsdm_engine.progress import Cancelled

CHUNKS = np.random.default_rng(0).integers(0, 300, (64, 32)).astype(np.int32)
CFG = TrainConfig(
    preset="tiny",
    vocab_size=300,
    seq_len=32,
    token_budget=32 * 8 * 6,
    batch_size=8,
    device="cpu",
    seed=5,
)


def test_config_is_validated_frozen_and_hashed():
    assert CFG.config_hash() == TrainConfig(**CFG.__dict__).config_hash()
    assert CFG.config_hash() != TrainConfig(**{**CFG.__dict__, "seed": 6}).config_hash()
    bad_cases = {"alpha": 0.0, "preset": "nope", "device": "tpu", "token_budget": 0}
    for field, value in bad_cases.items():
        flag = "--" + field.replace("_", "-")
        with pytest.raises(InputError, match=flag):  # the message names the flag
            TrainConfig(**{**CFG.__dict__, field: value})
    with pytest.raises(AttributeError):
        CFG.seed = 1  # frozen


def test_subset_mask_has_alpha_n_and_depends_on_seed():
    m = subset_mask(1000, 0.5, 1)
    assert m.sum() == 500 and np.array_equal(m, subset_mask(1000, 0.5, 1))
    assert not np.array_equal(m, subset_mask(1000, 0.5, 2))


def test_training_is_reproducible_and_round_trips(tmp_path):
    seen = []
    r1 = train_proxy(
        CHUNKS, CFG, tmp_path / "a", progress=lambda d, t, m="": seen.append((d, t, m))
    )
    train_proxy(CHUNKS, CFG, tmp_path / "b")
    assert checkpoint_sha256(tmp_path / "a") == checkpoint_sha256(tmp_path / "b")
    assert seen[-1][0] == seen[-1][1] == CFG.token_budget and "tok/s" in seen[-1][2]
    model, cfg, mask = load_proxy(tmp_path / "a", device="cpu")
    assert cfg == CFG and np.array_equal(mask, r1.subset_mask) and mask.sum() == 32
    assert model.lm_head.weight is model.transformer.wte.weight
    x = torch.as_tensor(CHUNKS[:2], dtype=torch.long)
    assert torch.isfinite(model(input_ids=x).logits).all()


def test_cancelled_training_leaves_no_checkpoint(tmp_path):
    def cancel(done, total, message=""):
        if done > 0:
            raise Cancelled()

    with pytest.raises(Cancelled):
        train_proxy(CHUNKS, CFG, tmp_path / "c", progress=cancel)
    with pytest.raises(FileNotFoundError):
        load_proxy(tmp_path / "c", device="cpu")


def test_checkpoints_are_saved_along_training_without_changing_it(tmp_path):
    from safetensors.torch import load_file

    from dsdm_engine.compute.training import checkpoint_steps, member_dirs

    assert checkpoint_steps(6, 3) == [2, 4, 6] and checkpoint_steps(7, 2) == [4, 7]
    three = TrainConfig(**{**CFG.__dict__, "checkpoints": 3})
    assert "checkpoints" not in CFG.to_json()  # stored configs of older workspaces keep hashing
    assert three.config_hash() != CFG.config_hash()
    train_proxy(CHUNKS, CFG, tmp_path / "one")
    train_proxy(CHUNKS, three, tmp_path / "three")
    dirs = member_dirs(tmp_path / "three", 3)
    assert dirs[-1] == tmp_path / "three" and [d.name for d in dirs[:2]] == [
        "checkpoint_1",
        "checkpoint_2",
    ]
    w = [load_file(str(d / "model.safetensors")) for d in dirs]
    final_once = load_file(str(tmp_path / "one" / "model.safetensors"))
    assert all(torch.equal(w[2][k], final_once[k]) for k in final_once)  # saving changes nothing
    assert not torch.equal(
        w[0]["transformer.h.0.mlp.c_fc.weight"], w[2]["transformer.h.0.mlp.c_fc.weight"]
    )
    model, cfg, _ = load_proxy(dirs[0], device="cpu")
    assert cfg == three
    with pytest.raises(InputError, match="--checkpoints 7"):
        train_proxy(CHUNKS, TrainConfig(**{**CFG.__dict__, "checkpoints": 7}), tmp_path / "x")


def _llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=300,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    return LlamaForCausalLM(cfg)


def test_next_token_loss_is_the_models_own_loss_and_grads():
    from dsdm_engine.compute.models import build_model
    from dsdm_engine.compute.training import _hf_loss, head_split_ok, next_token_loss

    x = torch.as_tensor(CHUNKS[:4], dtype=torch.long)
    for model in (build_model("tiny", 300, 32, 0, "cpu"), _llama()):
        assert head_split_ok(model, x)
        mine, theirs = next_token_loss(model, x), _hf_loss(model, x)
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)
        g_mine = torch.autograd.grad(mine, list(model.parameters()), allow_unused=True)
        g_hf = torch.autograd.grad(theirs, list(model.parameters()), allow_unused=True)
        for a, b in zip(g_mine, g_hf, strict=True):
            if a is not None or b is not None:
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_a_head_that_scales_its_logits_keeps_the_models_loss():
    """Soft-capping or logit scaling in forward(): the split loss would differ, so fit() must
    keep `model(labels=x)`."""
    from transformers import GPT2LMHeadModel

    from dsdm_engine.compute.models import gpt2_config
    from dsdm_engine.compute.training import head_split_ok

    class Scaled(GPT2LMHeadModel):
        def forward(self, *args, labels=None, **kw):
            out = super().forward(*args, **kw)
            out.logits = out.logits * 0.5
            if labels is not None:
                out.loss = self.loss_function(out.logits, labels, self.config.vocab_size)
            return out

    model = Scaled(gpt2_config("tiny", 300, 32))
    assert not head_split_ok(model, torch.as_tensor(CHUNKS[:4], dtype=torch.long))
