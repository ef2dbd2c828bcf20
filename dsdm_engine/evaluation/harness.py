"""Evaluation: train fresh LMs on selections, measure held-out target loss (method.md §5, §7).

LDS (§6) lives in `subsets.py` (subset models), `lds.py` (statistics) and `validate.py`.

- `EvalRecipe`: the one fixed training recipe every selection is judged with (frozen, hashed;
  the hash goes into every stored evaluation, so a changed recipe never reuses old rows).
- `heldout_loss`: mean negative log-likelihood per *completion* token (prompt tokens carry no
  loss, as in `tokenizer.encode_targets`), token-weighted over the examples.
- `evaluate_selections`: for each (selection, budget, seed) train a model from scratch on the
  selection's documents in rank order, packed (EOS-separated) into `seq_len` chunks with the
  pool's tokenizer and cut at exactly ``budget // seq_len`` chunks, then score every task's
  held-out split and store one row per (selection, task, budget, seed). Stored rows with the same
  recipe hash are skipped, so a rerun after a kill trains only what is missing.
- `summarise`: mean ± std per method; `compute_multipliers`, `headline_multipliers` (re-exported
  from `metrics`): the compute multiplier against random (interpolated on random's
  loss-vs-budget curve in log budget).

Choices (the paper does not fix them):
- Equal compute: a budget of B tokens trains for ``passes · B`` tokens (default 2 passes, seeded
  reshuffle per pass) with the same steps, schedule and seed for every method: only data differs.
  A selection holding fewer than B tokens is an error, not silently a smaller budget.
- Training reuses `training.train_proxy` (alpha = 1.0: every packed chunk of the selection) into a
  temporary folder; evaluation models are not kept (only their losses are).
- Held-out split: at most `max_heldout` examples per task (the first ones in task order; the
  split itself is already a seeded random draw), so evaluation stays cheap next to training.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from data_catalog.catalog import Catalog
from data_catalog.errors import InputError
from data_catalog.records import TargetExample
from dsdm_engine.evaluation.heldout import completion_logprobs, heldout_loss
from dsdm_engine.evaluation.metrics import compute_multipliers, headline_multipliers
from dsdm_engine.progress import ProgressCallback, no_progress


# ------------------------------------------------------------------ recipe
@dataclass(frozen=True)
class EvalRecipe:
    """The fixed recipe evaluation models are trained with.

    ``preset``/``vocab_size``/``seq_len`` None = taken from the pool's latest proxies run
    (`resolve`). Training tokens for a budget B = ``passes · B``.
    """

    preset: str | None = field(
        default=None, metadata={"help": "model preset (default: the pool's proxies preset)"}
    )
    vocab_size: int | None = field(
        default=None, metadata={"help": "default: the pool's proxies vocabulary"}
    )
    seq_len: int | None = field(
        default=None, metadata={"help": "default: the pool's proxies context"}
    )
    lr: float = field(default=3e-3, metadata={"help": "peak AdamW learning rate"})
    batch_size: int = field(default=16, metadata={"help": "sequences per step"})
    passes: float = field(default=2.0, metadata={"help": "training tokens = passes x budget"})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW weight decay"})
    warmup_frac: float = field(default=0.05, metadata={"help": "warm-up share of the steps"})
    max_heldout: int | None = field(
        default=256, metadata={"help": "held-out examples per task (0 = all)"}
    )
    eval_batch_size: int = field(default=32, metadata={"help": "sequences per scoring batch"})
    device: str = field(
        default="auto", metadata={"help": "auto | cpu | cuda", "choices": ("auto", "cpu", "cuda")}
    )
    from_model: str | None = field(
        default=None,
        metadata={"help": "fine-tune this local model folder on each selection instead of "
                  "training from scratch (the fine-tuning case; its own tokenizer)"},
    )  # fmt: skip
    finetune_lr: float = field(
        default=1e-4, metadata={"help": "--from-model: peak learning rate of the fine-tuning"}
    )

    def __post_init__(self) -> None:
        from dsdm_engine.compute.models import DEVICES, PRESETS

        if not (math.isfinite(self.finetune_lr) and self.finetune_lr > 0):
            raise InputError(f"--finetune-lr must be a positive number, not {self.finetune_lr}")
        if self.preset is not None and self.preset not in PRESETS:
            raise InputError(f"unknown preset {self.preset!r}; known: {', '.join(PRESETS)}")
        if self.device not in DEVICES:
            raise InputError(f"unknown device {self.device!r}; known: {', '.join(DEVICES)}")
        if self.passes <= 0 or self.lr <= 0 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise InputError("passes and lr must be > 0, batch sizes >= 1")
        if self.max_heldout is not None and self.max_heldout < 1:
            raise InputError("max_heldout must be >= 1 (or None for the whole split)")
        for name in ("vocab_size", "seq_len"):
            v = getattr(self, name)
            if v is not None and v < 2:
                raise InputError(f"{name} must be >= 2")

    @property
    def resolved(self) -> bool:
        if self.from_model:
            return self.seq_len is not None
        return None not in (self.preset, self.vocab_size, self.seq_len)

    def model_info(self) -> dict[str, Any]:
        """The `--from-model` folder's `ModelInfo` dict (checked; nothing loaded)."""
        from dsdm_engine.compute.imported import inspect_model_dir

        return inspect_model_dir(str(self.from_model)).as_dict()

    def resolve(self, catalog: Catalog, pool_id: str) -> EvalRecipe:
        """Fill preset, vocabulary and context from the pool's latest finished trained proxies
        run, imported models skipped (`--from-model`: the context from the model, 128 or its
        own if shorter)."""
        if self.resolved:
            return self
        if self.from_model:
            info = self.model_info()
            return replace(
                self,
                from_model=info["path"],
                seq_len=self.seq_len or min(128, info["max_positions"] or 128),
            )
        from dsdm_engine.stages.proxies import trained_proxies

        trained = trained_proxies(catalog, pool_id)  # an imported model has no preset
        if not trained:
            raise InputError(
                f"pool {pool_id!r} has no trained proxies run to take preset/vocab/seq_len from; "
                "give them explicitly, run `dsdm proxy train`, or evaluate an imported model "
                "with --from-model"
            )
        cfg = trained[-1].config
        return replace(
            self,
            preset=self.preset or cfg["preset"],
            vocab_size=self.vocab_size or int(cfg["vocab_size"]),
            seq_len=self.seq_len or int(cfg["seq_len"]),
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored form (the fine-tuning fields only when fine-tuning: older hashes hold)."""
        d = asdict(self)
        if not self.from_model:
            del d["from_model"], d["finetune_lr"]
        return d

    def recipe_hash(self) -> str:
        """sha256 of the resolved recipe minus the device (CPU and GPU runs share results)."""
        d = {k: v for k, v in self.to_dict().items() if k not in ("device", "eval_batch_size")}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def train_config(self, budget_tokens: int, seed: int) -> Any:
        from dsdm_engine.compute.configs import TrainConfig

        assert self.resolved, "resolve() the recipe first"
        if self.from_model:
            return TrainConfig(
                seq_len=int(self.seq_len or 0), alpha=1.0, batch_size=self.batch_size,
                token_budget=max(1, int(round(self.passes * budget_tokens))),
                lr=self.finetune_lr, weight_decay=0.0, warmup_frac=self.warmup_frac, seed=seed,
                device=self.device,
            )  # fmt: skip
        return TrainConfig(
            preset=str(self.preset),
            vocab_size=int(self.vocab_size or 0),
            seq_len=int(self.seq_len or 0),
            alpha=1.0,
            token_budget=max(1, int(round(self.passes * budget_tokens))),
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            warmup_frac=self.warmup_frac,
            seed=seed,
            device=self.device,
        )


# ------------------------------------------------------------------ training data
def selection_chunks(
    catalog: Catalog, selection_id: str, budget_tokens: int, tokenizer: Any, seq_len: int
) -> np.ndarray:
    """The selection's documents in rank order, EOS-separated, cut to ``budget // seq_len`` chunks.

    -> (budget // seq_len, seq_len) int32. Raises when the selection holds fewer tokens.
    """
    from dsdm_engine.compute.tokenizer import encode_chunks

    n_chunks = budget_tokens // seq_len
    if n_chunks < 1:
        raise InputError(f"budget {budget_tokens} is smaller than one {seq_len}-token chunk")
    need = n_chunks * seq_len
    parts: list[np.ndarray] = []
    have = 0
    for df in catalog.iter_selection_rows(selection_id, batch_rows=2000):
        flat = encode_chunks(list(df["text"]), tokenizer, 1).ravel()  # seq_len 1: no tail cut
        parts.append(flat)
        have += flat.size
        if have >= need:
            break
    if have < need:
        raise InputError(
            f"selection {selection_id} holds {have} tokens, fewer than the budget {need}: "
            "select more documents or lower the budget"
        )
    return np.concatenate(parts)[:need].reshape(n_chunks, seq_len).astype(np.int32)


def _tokenizer_for(catalog: Catalog, pool_id: str, recipe: EvalRecipe) -> Any:
    from dsdm_engine.compute.tokenizer import load_tokenizer
    from dsdm_engine.stages import prepare_tokens

    model = recipe.model_info() if recipe.from_model else None
    tokens = prepare_tokens(catalog, pool_id, int(recipe.vocab_size or 0),
                            int(recipe.seq_len or 0), model=model)  # fmt: skip
    return load_tokenizer(tokens.tokenizer_dir)


def train_fresh(
    chunks: np.ndarray,
    recipe: EvalRecipe,
    budget_tokens: int,
    seed: int,
    progress: ProgressCallback = no_progress,
) -> torch.nn.Module:
    """Train one evaluation model from scratch on `chunks` for ``passes · budget`` tokens
    (`recipe.from_model`: fine-tune that model on them instead)."""
    from dsdm_engine.compute.training import finetune, load_proxy, train_proxy

    cfg = recipe.train_config(budget_tokens, seed)
    if recipe.from_model:
        from dsdm_engine.compute.imported import load_model
        from dsdm_engine.compute.models import resolve_device

        model = load_model(recipe.from_model, resolve_device(recipe.device))
        finetune(model, chunks, cfg, progress=progress)
        return model.eval()
    with tempfile.TemporaryDirectory(prefix="dsdm-eval-") as tmp:
        train_proxy(chunks, cfg, tmp, progress=progress)
        model, _, _ = load_proxy(tmp, device=recipe.device)
    return model


def heldout_examples(catalog: Catalog, task_id: str, max_n: int | None) -> list[TargetExample]:
    """The task's held-out examples, the first `max_n` in task order."""
    ex = catalog.target_examples(task_id, split="heldout")
    if not ex:
        raise InputError(f"target task {task_id} has no held-out examples to evaluate on")
    return ex[:max_n] if max_n else ex


# ------------------------------------------------------------------ evaluate selections
def _stored(catalog: Catalog) -> dict[tuple[str, str, int, int, str], float]:
    """(selection, task, budget, seed, recipe hash) -> loss of every stored evaluation."""
    out = {}
    for row in catalog.list_evaluations().itertuples():
        cfg = json.loads(row.config) if isinstance(row.config, str) else dict(row.config)
        key = (row.selection_id, row.task_id, int(row.budget_tokens), int(row.seed))
        out[(*key, str(cfg.get("recipe_hash", "")))] = float(row.heldout_loss)
    return out


def evaluate_unit(
    unit: dict[str, Any], progress: ProgressCallback = no_progress
) -> dict[str, float]:
    """One evaluation model: train it on the unit's chunks, return each task's held-out loss.

    A function of its inputs only (chunks, recipe, budget, seed, tokenizer, examples), so the
    local loop and a Ray task (`executors.run_units`) compute the same bits."""
    import os

    if os.environ.get("DSDM_TORCH_THREADS"):  # a Ray worker (or a user's setting); else the
        from dsdm_engine.compute.models import configure_threads  # caller's threads stand

        configure_threads()
    rc: EvalRecipe = unit["recipe"]
    model = train_fresh(unit["chunks"], rc, unit["budget"], unit["seed"], progress=progress)
    seq_len, batch = int(rc.seq_len or 0), rc.eval_batch_size
    tok = unit["tok"]
    return {t: heldout_loss(model, ex, tok, seq_len, batch) for t, ex in unit["examples"].items()}


def evaluate_selections(
    catalog: Catalog,
    selection_ids: Sequence[str],
    task_refs: Sequence[str],
    budgets_tokens: Sequence[int],
    seeds: Sequence[int],
    recipe: EvalRecipe = EvalRecipe(),
    progress: ProgressCallback = no_progress,
    executor: str = "local",
    ray_address: str | None = None,
) -> pd.DataFrame:
    """Train and evaluate every (selection, budget, seed) on every task's held-out split.

    Returns one row per (selection, task, budget, seed): selection_id, method, task_id,
    budget_tokens, seed, heldout_loss, reused (True when it was already stored). Each model's
    losses are stored as soon as it finishes, so a rerun after a kill trains only what is
    missing. `executor="ray"`: the models train as Ray tasks (one per unit; same losses).
    """
    if not selection_ids or not task_refs or not budgets_tokens or not seeds:
        raise InputError("need at least one selection, task, budget and seed")
    sels = [catalog.get_selection(s) for s in selection_ids]
    tasks = [catalog.get_target_task(t)["task_id"] for t in task_refs]
    units = [(s, b, seed) for s in sels for b in budgets_tokens for seed in seeds]
    total = len(units) * 100
    rows: list[tuple[int, dict[str, Any]]] = []
    stored = _stored(catalog)
    recipes: dict[str, EvalRecipe] = {}
    cache: dict[str, Any] = {}  # tokenizers and held-out examples
    plan: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (unit to train, what to store)
    for u, (sel, budget, seed) in enumerate(units):
        pool_id, sid = sel["pool_id"], sel["selection_id"]
        if pool_id not in recipes:
            recipes[pool_id] = recipe.resolve(catalog, pool_id)
        rc = recipes[pool_id]
        rhash = rc.recipe_hash()
        todo = [t for t in tasks if (sid, t, int(budget), int(seed), rhash) not in stored]
        base = dict(selection_id=sid, method=sel["method"], budget_tokens=int(budget), seed=seed)
        for t in tasks:
            if t not in todo:
                loss = stored[(sid, t, int(budget), int(seed), rhash)]
                rows.append((u, {**base, "task_id": t, "heldout_loss": loss, "reused": True}))
        label = f"{sel['name']} @ {budget:,} tokens, seed {seed}"
        if not todo:
            progress((u + 1) * 100, total, f"{label}: already evaluated, skipped")
            continue
        if f"tok:{pool_id}" not in cache:
            cache[f"tok:{pool_id}"] = _tokenizer_for(catalog, pool_id, rc)
        tok = cache[f"tok:{pool_id}"]
        for t in todo:
            if f"ex:{t}" not in cache:
                cache[f"ex:{t}"] = heldout_examples(catalog, t, rc.max_heldout)
        chunks = selection_chunks(catalog, sid, int(budget), tok, int(rc.seq_len or 0))
        config = {
            **rc.to_dict(),
            "recipe_hash": rhash,
            "train_tokens": rc.train_config(int(budget), int(seed)).token_budget,
            "data_tokens": int(chunks.size),
            "selection_name": sel["name"],
        }
        unit = {"chunks": chunks, "recipe": rc, "budget": int(budget), "seed": int(seed),
                "tok": tok, "examples": {t: cache[f"ex:{t}"] for t in todo}}  # fmt: skip
        plan.append((unit, {"u": u, "base": base, "config": config, "label": label, "rh": rhash}))

    def save(i: int, losses: dict[str, float]) -> None:
        unit, meta = plan[i]
        b = meta["base"]
        for t, loss in losses.items():
            n = len(unit["examples"][t])
            catalog.save_evaluation(b["selection_id"], t, b["budget_tokens"], int(b["seed"]),
                                    loss, {**meta["config"], "n_heldout": n})  # fmt: skip
            stored[(b["selection_id"], t, b["budget_tokens"], int(b["seed"]), meta["rh"])] = loss
            rows.append((meta["u"], {**b, "task_id": t, "heldout_loss": loss, "reused": False}))

    if executor == "ray" and plan:
        from dsdm_engine.executors import run_units

        done = len(units) - len(plan)
        run_units(evaluate_unit, [p[0] for p in plan], "ray",
                  lambda d, _t, msg="": progress((done + d) * 100, total, msg),
                  label="evaluation models", gpu=str(recipe.device).startswith("cuda"),
                  address=ray_address, on_result=save)  # fmt: skip
    else:
        for i, (unit, meta) in enumerate(plan):
            u, label = meta["u"], meta["label"]

            def report(done: int, tot: int, msg: str = "", u: int = u, label: str = label) -> None:
                progress(u * 100 + int(90 * done / max(tot, 1)), total, f"{label}: {msg}")

            save(i, evaluate_unit(unit, report))
            n = len(unit["examples"])
            progress((u + 1) * 100, total, f"{label}: evaluated on {n} task(s)")
    cols = ["selection_id", "method", "task_id", "budget_tokens", "seed", "heldout_loss", "reused"]
    ordered = [r for _, r in sorted(rows, key=lambda ur: ur[0])]  # stable: unit, then task
    return pd.DataFrame(ordered, columns=cols)


# ------------------------------------------------------------------ summaries
def summarise(df: pd.DataFrame, by: str = "method") -> pd.DataFrame:
    """Mean ± std over seeds (ddof 1; NaN for one seed) of held-out loss per task/method/budget."""
    keys = ["task_id", by, "budget_tokens"]
    g = df.groupby(keys, sort=True)["heldout_loss"]
    out = g.agg(loss="mean", loss_std="std", n_seeds="count").reset_index()
    return out


__all__ = [
    "EvalRecipe",
    "evaluate_unit",
    "completion_logprobs",
    "compute_multipliers",
    "evaluate_selections",
    "headline_multipliers",
    "heldout_examples",
    "heldout_loss",
    "selection_chunks",
    "summarise",
    "train_fresh",
]
