"""Bring your own model: a local Hugging Face folder imported as the pool's proxy.

Models are built from a config and saved here (nothing is downloaded): a Llama shape (untied
embeddings, grouped-query attention, no biases) and a GPT-2 shape (Conv1D, tied embeddings),
each with its own tokenizer.json trained on other text than the pool's tokenizer.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from data_catalog.errors import InputError
from dsdm_engine import stages
from dsdm_engine.compute.featurize.base import Batch
from dsdm_engine.compute.featurize.exact import ExactFeaturizer
from dsdm_engine.compute.featurize.fast import FastFeaturizer
from dsdm_engine.compute.imported import load_model
from dsdm_engine.compute.tokenizer import train_tokenizer
from dsdm_engine.stages.proxies import import_model

OTHER_TEXT = [
    "the river flows past the old mill and the miller sings",
    "stars rise over the hills while the shepherd counts his sheep",
    "a recipe needs flour butter and patience said the baker",
] * 20


def save_model(folder, shape: str, vocab: int = 280):
    """A tiny Llama- or GPT-2-shaped causal LM with its own tokenizer, saved like a user's."""
    tok = train_tokenizer(OTHER_TEXT, vocab_size=vocab)
    torch.manual_seed(0)
    if shape == "llama":
        config = LlamaConfig(
            vocab_size=vocab, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
            bos_token_id=0, eos_token_id=0, tie_word_embeddings=False,
        )  # fmt: skip
        model = LlamaForCausalLM(config)
    else:
        config = GPT2Config(
            vocab_size=vocab, n_embd=32, n_layer=2, n_head=2, n_positions=64,
            bos_token_id=0, eos_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        )  # fmt: skip
        model = GPT2LMHeadModel(config)
    model.save_pretrained(folder)
    tok.save(str(folder / "tokenizer.json"))
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {s: save_model(root / s, s) for s in ("llama", "gpt2")}


@pytest.mark.parametrize("shape", ["llama", "gpt2"])
def test_imported_model_featurises_and_scores(scored, models, shape):
    cat, proxies, features, _ = scored
    before = cat.get_pool("p")["n_tokens"]
    run = import_model(cat, "p", models[shape], seq_len=32)
    cfg = cat.run(run).config
    assert cfg["imported"]["path"] == str(models[shape].resolve())
    assert cfg["imported"]["model_type"] == shape
    assert len(cfg["imported"]["weights_sha256"]) == 64
    assert stages.model_dirs(cat, run) == [models[shape].resolve()]
    feats = stages.featurize(cat, run, stages.FeatureConfig(proj_dim=64, shard_size=64))
    scores_run = stages.score_task(cat, feats, "cook")
    s = cat.scores(scores_run, cat.get_target_task("cook")["task_id"])["score"].to_numpy()
    assert len(s) == cat.get_pool("p")["n_docs"] and np.isfinite(s).all() and s.std() > 0
    # the pool's own tokenisation and proxies are untouched: two tokenizers side by side
    assert cat.get_pool("p")["n_tokens"] == before
    tok_dirs = [p.name for p in cat.layout.tokenizer_dir("x").parent.iterdir()]
    assert {d.split("-")[-1][0] for d in tok_dirs} == {"v", "t"}  # trained here; imported
    again = stages.featurize(cat, proxies, stages.FeatureConfig(proj_dim=128, shard_size=64))
    assert again == features  # the pool proxies' features resume as they were


def test_two_tokenisations_differ_and_coexist(scored, models):
    cat, proxies, _, _ = scored
    from dsdm_engine.stages.tokens import run_tokens

    own = np.load(run_tokens(cat, cat.get_run(proxies)).docs_path)
    run = import_model(cat, "p", models["llama"], seq_len=32)
    theirs = np.load(run_tokens(cat, cat.get_run(run)).docs_path)
    assert own.shape == theirs.shape and not np.array_equal(own, theirs)
    assert (theirs[:, 0] == 0).all()  # every row starts with the model's BOS


@pytest.mark.parametrize("shape", ["llama", "gpt2"])
@pytest.mark.parametrize("layers", ["all", "blocks", "last:1"])
def test_fast_equals_exact_on_imported_models(models, shape, layers):
    model = load_model(models[shape])
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 280, size=(4, 12))
    att = np.ones_like(ids)
    att[1, 8:] = 0  # right padding
    batch = Batch.from_arrays(ids, attention_mask=att)
    fast = FastFeaturizer(model, k=96, seed=3, layers=layers)
    exact = ExactFeaturizer(model, k=96, seed=3, layers=layers)
    (f1, q1), (f2, q2) = fast.featurize(batch), exact.featurize(batch)
    assert f1.shape == (4, fast.k)
    np.testing.assert_allclose(f1, f2, rtol=2e-3, atol=2e-5 * np.abs(f2).max())
    np.testing.assert_allclose(q1, q2, rtol=1e-5)
    names = [s.module for s in fast.proj.specs]
    if layers == "all":
        assert "lm_head" in names
    else:
        assert "lm_head" not in names
    if layers == "last:1":
        assert all((".1." in n) for n in names)


def test_changed_weights_are_refused(scored, models, tmp_path):
    cat = scored[0]
    folder = save_model(tmp_path / "mine", "gpt2")
    run = import_model(cat, "p", folder, seq_len=32)
    torch.manual_seed(1)
    GPT2LMHeadModel(GPT2LMHeadModel.config_class.from_pretrained(folder)).save_pretrained(folder)
    with pytest.raises(InputError, match="changed .* since it was imported"):
        stages.featurize(cat, run, stages.FeatureConfig(proj_dim=64, shard_size=64))


def _cli(ws, *argv):
    return subprocess.run(
        [sys.executable, "-m", "dsdm_engine.cli", "--workspace", str(ws), "proxy", "import",
         *argv],
        capture_output=True, text=True,
    )  # fmt: skip


def test_bad_model_folders_are_one_error_line_and_change_nothing(scored, models, tmp_path):
    cat = scored[0]
    ws = cat.workspace.root
    runs_before = len(cat.list_runs("proxies"))
    no_tok = save_model(tmp_path / "no_tok", "gpt2")
    (no_tok / "tokenizer.json").unlink()
    corrupt = save_model(tmp_path / "corrupt", "llama")
    (corrupt / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    cases = {
        str(tmp_path / "missing"): "no such model folder",
        "HuggingFaceTB/SmolLM2-135M": "never downloads",
        str(no_tok): "no tokenizer.json",
        str(corrupt): "cannot load the model",
    }
    for path, message in cases.items():
        proc = _cli(ws, path, "--pool", "p")
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        err = [line for line in proc.stderr.splitlines() if line.startswith("error")]
        assert len(err) == 1 and message in err[0], proc.stderr
    assert len(cat.list_runs("proxies")) == runs_before
    ok = _cli(ws, str(models["gpt2"]), "--pool", "p", "--seq-len", "32")
    assert ok.returncode == 0, ok.stderr
    assert "imported" in ok.stdout
    est = subprocess.run(
        [sys.executable, "-m", "dsdm_engine.cli", "--workspace", str(ws), "featurize",
         "--pool", "p", "--dry-run"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert est.returncode == 0, est.stderr  # the estimate of an imported model's features
    assert "x gpt2" in est.stdout


def test_validate_from_model_fine_tunes_subset_models_from_the_checkpoint(scored, models):
    from dsdm_engine.evaluation.subsets import ValidateConfig
    from dsdm_engine.evaluation.validate import validate

    cat = scored[0]
    run = import_model(cat, "p", models["llama"], seq_len=32)
    feats = stages.featurize(cat, run, stages.FeatureConfig(proj_dim=64, shard_size=64))
    stages.score_task(cat, feats, "cook")
    base = dict(n_subsets=4, noise_seeds=1, workers=1, token_budget=1024, device="cpu")
    with pytest.raises(InputError, match="pass --from-model"):
        validate(cat, "p", ["cook"], ValidateConfig(**base), False, run)
    cfg = ValidateConfig(**base, from_model=True, finetune_lr=1e-3, train_layers="last:1")
    run_id = validate(cat, "p", ["cook"], cfg, similarity=False, proxies_run_id=run)
    res = cat.lds_results(run_id=run_id)
    assert len(res) and res["aggregate_lds"].between(-1, 1).all()
    names = set(res.loc[res["kind"] == "dsdm", "predictor"])  # the imported model's run is named
    assert any(", imported llama llama (scores-" in n for n in names), names
    assert any(" tiny proxies-" in n for n in names), names  # the trained proxies' runs too
    root = cat.run(run_id).artifact_dir
    assert not any(root.glob("subset_*/model"))  # fine-tuned models are measured, not kept
    # the subsets moved the outcome: fine-tuned models differ from one another
    from dsdm_engine.evaluation.subsets import train_subset_models

    got = train_subset_models(cat, run, [cat.get_target_task("cook")["task_id"]], cfg)
    outcome = next(iter(got.outcomes.values()))
    assert outcome.shape[0] == 4 and np.ptp(outcome.mean(axis=1)) > 0


def test_warm_up_members_are_fine_tuned_copies_that_featurise_and_resume(scored, models):
    cat = scored[0]
    warm = {"models": 2, "tokens": 1024, "lr": 1e-3, "layers": "last:1", "seed": 0}
    run = import_model(cat, "p", models["llama"], seq_len=32, warmup=warm)
    dirs = stages.ensemble_dirs(cat, run)
    assert len(dirs) == 2 and all((d / "warmup.safetensors").exists() for d in dirs)
    from safetensors.torch import load_file

    saved = load_file(str(dirs[0] / "warmup.safetensors"))
    assert saved and all(k.startswith("model.layers.1.") for k in saved)  # only the last block
    from dsdm_engine.stages.proxies import load_member

    info = cat.run(run).config["imported"]
    base = load_model(models["llama"])
    a, b = (load_member(d, "cpu", info) for d in dirs)
    key = next(iter(saved))
    pa, pb, p0 = (dict(m.named_parameters())[key] for m in (a, b, base))
    assert not torch.equal(pa, p0) and not torch.equal(pa, pb)  # other subsets, other copies
    emb = "model.embed_tokens.weight"
    assert torch.equal(dict(a.named_parameters())[emb], dict(base.named_parameters())[emb])
    feats = stages.featurize(cat, run, stages.FeatureConfig(proj_dim=64, shard_size=64))
    assert stages.score_task(cat, feats, "cook")
    mtime = (dirs[0] / "warmup.safetensors").stat().st_mtime
    assert import_model(cat, "p", models["llama"], seq_len=32, warmup=warm) == run
    assert (dirs[0] / "warmup.safetensors").stat().st_mtime == mtime  # resumed, not retrained
    with pytest.raises(InputError, match="--warmup-layers"):
        import_model(cat, "p", models["llama"], warmup={**warm, "layers": "first:2"})


def test_evaluate_from_model_fine_tunes_the_checkpoint_on_each_selection(scored, models):
    from dsdm_engine.evaluation import harness as ev
    from dsdm_engine.selectors import SelectionRule

    cat = scored[0]
    sel = stages.run_selection(cat, "random", "p", rule=SelectionRule(k=120), seed=0, name="r120")
    recipe = ev.EvalRecipe(from_model=str(models["gpt2"]), seq_len=32, batch_size=4,
                           finetune_lr=1e-3, device="cpu").resolve(cat, "p")  # fmt: skip
    assert recipe.to_dict()["from_model"] == str(models["gpt2"].resolve())
    assert "from_model" not in ev.EvalRecipe().to_dict()  # scratch recipes keep their hashes
    import_model(cat, "p", models["gpt2"])  # the newest proxies run is now an imported model
    trained = [r for r in cat.runs("proxies", pool_id="p") if "imported" not in r.config]
    scratch = ev.EvalRecipe(device="cpu").resolve(cat, "p")  # takes the trained proxies' recipe
    assert scratch.preset == trained[-1].config["preset"]
    assert scratch.seq_len == trained[-1].config["seq_len"]
    df = ev.evaluate_selections(cat, [sel], ["cook"], [512], [0, 1], recipe)
    assert len(df) == 2 and np.isfinite(df["heldout_loss"]).all()
    tok = ev._tokenizer_for(cat, "p", recipe)
    ex = ev.heldout_examples(cat, cat.get_target_task("cook")["task_id"], None)
    before = ev.heldout_loss(load_model(models["gpt2"]), ex, tok, 32)
    assert (df["heldout_loss"] != before).all()  # the fine-tuning moved the model
    assert df["heldout_loss"].nunique() == 2  # seeds differ (batch order)
