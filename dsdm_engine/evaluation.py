"""Evaluation: train fresh LMs on selections, measure held-out target loss (method.md §5–7).

- `EvalRecipe`: the one fixed training recipe every selection is judged with (frozen, hashed;
  the hash goes into every stored evaluation, so a changed recipe never reuses old rows).
- `heldout_loss`: mean negative log-likelihood per *completion* token (prompt tokens carry no
  loss, as in `tokenizer.encode_targets`), token-weighted over the examples.
- `evaluate_selections`: for each (selection, budget, seed) train a model from scratch on the
  selection's documents in rank order, packed (EOS-separated) into `seq_len` chunks with the
  pool's tokenizer and cut at exactly ``budget // seq_len`` chunks, then score every task's
  held-out split and store one row per (selection, task, budget, seed). Stored rows with the same
  recipe hash are skipped, so a rerun after a kill trains only what is missing.
- `summarise`, `compute_multipliers`, `headline_multipliers`: mean ± std per method and the
  compute multiplier against random (interpolated on random's loss-vs-budget curve in log budget).
- `lds_for_tasks`: linear datamodeling score of DsDm's scores (§6).
- `planted_metrics`, `planted_table`: how well the lowest scores find planted bad documents (§7).

Choices (the paper does not fix them):
- Equal compute: a budget of B tokens trains for ``passes · B`` tokens (default 2 passes, seeded
  reshuffle per pass) with the same steps, schedule and seed for every method: only data differs.
  A selection holding fewer than B tokens is an error, not silently a smaller budget.
- Training reuses `training.train_proxy` (alpha = 1.0: every packed chunk of the selection) into a
  temporary folder; evaluation models are not kept (only their losses are).
- Held-out split: at most `max_heldout` examples per task (the first ones in task order; the
  split itself is already a seeded random draw), so evaluation stays cheap next to training.
- LDS: subsets are seeded α-fractions of the pool's *documents* (scores are per document), each
  trained like a proxy (the proxies run's preset, vocabulary, context, batch and lr; one pass
  over the subset's packed chunks). The true output is the mean completion-token log-prob of the
  task's **selection**-split examples (the examples the scores were computed for), capped at
  `max_examples`. Predictions are Σ_{i∈S_j} τ_i with per-example scores τ (per-example LDS) and
  their mean over the same examples (aggregate LDS). One set of subset models serves every task.
- Planted metrics: positives are documents whose metadata has ``planted`` (one label or all);
  for one label, documents planted with *other* labels are left out (neither positive nor clean).
  precision@k uses k = number of positives unless given (R-precision).
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from data_catalog.catalog import Catalog
from data_catalog.errors import InputError, NotFoundError
from data_catalog.records import TargetExample
from dsdm_engine.progress import ProgressCallback, no_progress


# ------------------------------------------------------------------ recipe
@dataclass(frozen=True)
class EvalRecipe:
    """The fixed recipe evaluation models are trained with.

    ``preset``/``vocab_size``/``seq_len`` None = taken from the pool's latest proxies run
    (`resolve`). Training tokens for a budget B = ``passes · B``.
    """

    preset: str | None = None
    vocab_size: int | None = None
    seq_len: int | None = None
    lr: float = 3e-3
    batch_size: int = 16
    passes: float = 2.0
    weight_decay: float = 0.1
    warmup_frac: float = 0.05
    max_heldout: int | None = 256
    eval_batch_size: int = 32
    device: str = "auto"

    def __post_init__(self) -> None:
        from dsdm_engine.models import DEVICES, PRESETS

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
        return None not in (self.preset, self.vocab_size, self.seq_len)

    def resolve(self, catalog: Catalog, pool_id: str) -> EvalRecipe:
        """Fill preset, vocabulary and context from the pool's latest finished proxies run."""
        if self.resolved:
            return self
        runs = catalog.list_runs("proxies")
        runs = runs[(runs["pool_id"] == pool_id) & (runs["status"] == "done")]
        if runs.empty:
            raise InputError(
                f"pool {pool_id!r} has no proxies run to take preset/vocab/seq_len from; "
                "give them explicitly or run `dsdm proxy train`"
            )
        cfg = catalog.get_run(str(runs.iloc[-1]["run_id"]))["config"]
        return replace(
            self,
            preset=self.preset or cfg["preset"],
            vocab_size=self.vocab_size or int(cfg["vocab_size"]),
            seq_len=self.seq_len or int(cfg["seq_len"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def recipe_hash(self) -> str:
        """sha256 of the resolved recipe minus the device (CPU and GPU runs share results)."""
        d = {k: v for k, v in self.to_dict().items() if k not in ("device", "eval_batch_size")}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def train_config(self, budget_tokens: int, seed: int) -> Any:
        from dsdm_engine.training import TrainConfig

        assert self.resolved, "resolve() the recipe first"
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


# ------------------------------------------------------------------ held-out loss
def completion_logprobs(
    model: torch.nn.Module,
    examples: Sequence[TargetExample],
    tokenizer: Any,
    seq_len: int,
    batch_size: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """Per example: summed log-prob of its completion tokens and their count. -> 2 × (m,)."""
    from dsdm_engine.tokenizer import encode_targets

    arr = encode_targets(
        [e.prompt for e in examples], [e.completion for e in examples], tokenizer, seq_len
    )
    device = next(model.parameters()).device
    sums, counts = [], []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for s in range(0, len(examples), batch_size):
            ids = torch.as_tensor(
                arr.input_ids[s : s + batch_size], dtype=torch.long, device=device
            )
            att = torch.as_tensor(arr.attention_mask[s : s + batch_size], device=device).long()
            mask = torch.as_tensor(arr.loss_mask[s : s + batch_size], device=device)
            logits = model(input_ids=ids, attention_mask=att).logits.float()  # (B, T, V)
            logp = torch.log_softmax(logits[:, :-1], dim=-1)  # predicts tokens 1..T-1
            tok = logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)  # (B, T-1)
            m = mask[:, 1:].to(tok.dtype)
            sums.append((tok * m).sum(-1).cpu().numpy())
            counts.append(m.sum(-1).cpu().numpy())
    model.train(was_training)
    if not sums:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(sums).astype(np.float64), np.concatenate(counts).astype(np.float64)


def heldout_loss(
    model: torch.nn.Module,
    examples: Sequence[TargetExample],
    tokenizer: Any,
    seq_len: int,
    batch_size: int = 32,
) -> float:
    """Mean NLL per completion token over `examples` (token-weighted; prompts carry no loss)."""
    if not examples:
        raise InputError("no examples to evaluate on")
    sums, counts = completion_logprobs(model, examples, tokenizer, seq_len, batch_size)
    total = counts.sum()
    if total == 0:
        raise InputError("the examples have no completion tokens")
    return float(-sums.sum() / total)


# ------------------------------------------------------------------ training data
def selection_chunks(
    catalog: Catalog, selection_id: str, budget_tokens: int, tokenizer: Any, seq_len: int
) -> np.ndarray:
    """The selection's documents in rank order, EOS-separated, cut to ``budget // seq_len`` chunks.

    -> (budget // seq_len, seq_len) int32. Raises when the selection holds fewer tokens.
    """
    from dsdm_engine.tokenizer import encode_chunks

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
    from dsdm_engine.pipeline import prepare_tokens
    from dsdm_engine.tokenizer import load_tokenizer

    tokens = prepare_tokens(catalog, pool_id, int(recipe.vocab_size or 0), int(recipe.seq_len or 0))
    return load_tokenizer(tokens.tokenizer_dir)


def train_fresh(
    chunks: np.ndarray,
    recipe: EvalRecipe,
    budget_tokens: int,
    seed: int,
    progress: ProgressCallback = no_progress,
) -> torch.nn.Module:
    """Train one evaluation model from scratch on `chunks` for ``passes · budget`` tokens."""
    from dsdm_engine.training import load_proxy, train_proxy

    cfg = recipe.train_config(budget_tokens, seed)
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


def evaluate_selections(
    catalog: Catalog,
    selection_ids: Sequence[str],
    task_refs: Sequence[str],
    budgets_tokens: Sequence[int],
    seeds: Sequence[int],
    recipe: EvalRecipe = EvalRecipe(),
    progress: ProgressCallback = no_progress,
) -> pd.DataFrame:
    """Train and evaluate every (selection, budget, seed) on every task's held-out split.

    Returns one row per (selection, task, budget, seed): selection_id, method, task_id,
    budget_tokens, seed, heldout_loss, reused (True when it was already stored).
    """
    if not selection_ids or not task_refs or not budgets_tokens or not seeds:
        raise InputError("need at least one selection, task, budget and seed")
    sels = [catalog.get_selection(s) for s in selection_ids]
    tasks = [catalog.get_target_task(t)["task_id"] for t in task_refs]
    units = [(s, b, seed) for s in sels for b in budgets_tokens for seed in seeds]
    total = len(units) * 100
    rows: list[dict[str, Any]] = []
    stored = _stored(catalog)
    recipes: dict[str, EvalRecipe] = {}
    cache: dict[str, Any] = {}  # tokenizers and held-out examples
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
                rows.append({**base, "task_id": t, "heldout_loss": loss, "reused": True})
        label = f"{sel['name']} @ {budget:,} tokens, seed {seed}"
        if not todo:
            progress((u + 1) * 100, total, f"{label}: already evaluated, skipped")
            continue
        if f"tok:{pool_id}" not in cache:
            cache[f"tok:{pool_id}"] = _tokenizer_for(catalog, pool_id, rc)
        tok = cache[f"tok:{pool_id}"]
        chunks = selection_chunks(catalog, sid, int(budget), tok, int(rc.seq_len or 0))

        def report(done: int, tot: int, msg: str = "", u: int = u, label: str = label) -> None:
            progress(u * 100 + int(90 * done / max(tot, 1)), total, f"{label}: {msg}")

        model = train_fresh(chunks, rc, int(budget), int(seed), progress=report)
        config = {
            **rc.to_dict(),
            "recipe_hash": rhash,
            "train_tokens": rc.train_config(int(budget), int(seed)).token_budget,
            "data_tokens": int(chunks.size),
            "selection_name": sel["name"],
        }
        for t in todo:
            if f"ex:{t}" not in cache:
                cache[f"ex:{t}"] = heldout_examples(catalog, t, rc.max_heldout)
            ex = cache[f"ex:{t}"]
            loss = heldout_loss(model, ex, tok, int(rc.seq_len or 0), rc.eval_batch_size)
            catalog.save_evaluation(
                sid, t, int(budget), int(seed), loss, {**config, "n_heldout": len(ex)}
            )
            stored[(sid, t, int(budget), int(seed), rhash)] = loss
            rows.append({**base, "task_id": t, "heldout_loss": loss, "reused": False})
        progress((u + 1) * 100, total, f"{label}: evaluated on {len(todo)} task(s)")
    cols = ["selection_id", "method", "task_id", "budget_tokens", "seed", "heldout_loss", "reused"]
    return pd.DataFrame(rows, columns=cols)


# ------------------------------------------------------------------ summaries
def summarise(df: pd.DataFrame, by: str = "method") -> pd.DataFrame:
    """Mean ± std over seeds (ddof 1; NaN for one seed) of held-out loss per task/method/budget."""
    keys = ["task_id", by, "budget_tokens"]
    g = df.groupby(keys, sort=True)["heldout_loss"]
    out = g.agg(loss="mean", loss_std="std", n_seeds="count").reset_index()
    return out


def compute_multipliers(
    summary: pd.DataFrame, baseline: str = "random", by: str = "method"
) -> pd.DataFrame:
    """Compute multiplier of every method (at each budget) against the baseline's curve per task.

    Columns: task_id, method, budget_tokens, loss, multiplier, bound, matched_budget
    (see `metrics.compute_multiplier`; bound "at_least"/"at_most" when off random's curve).
    """
    from dsdm_engine.metrics import compute_multiplier

    rows = []
    for task, grp in summary.groupby("task_id", sort=True):
        base = grp[grp[by] == baseline].sort_values("budget_tokens")
        if base.empty:
            continue
        for r in grp[grp[by] != baseline].itertuples():
            m = compute_multiplier(
                base["budget_tokens"].to_numpy(), base["loss"].to_numpy(), r.loss, r.budget_tokens
            )
            rows.append(
                {
                    "task_id": task,
                    "method": getattr(r, by),
                    "budget_tokens": r.budget_tokens,
                    "loss": r.loss,
                    "multiplier": m.value,
                    "bound": m.bound,
                    "matched_budget": m.matched_budget,
                }
            )
    cols = ["task_id", "method", "budget_tokens", "loss", "multiplier", "bound", "matched_budget"]
    return pd.DataFrame(rows, columns=cols)


def headline_multipliers(mult: pd.DataFrame) -> dict[str, dict[str, float]]:
    """One number per (task, method): the geometric mean of its per-budget multipliers."""
    out: dict[str, dict[str, float]] = {}
    for (task, method), grp in mult.groupby(["task_id", "method"], sort=True):
        vals = grp["multiplier"].to_numpy(dtype=float)
        vals = vals[np.isfinite(vals) & (vals > 0)]
        out.setdefault(str(task), {})[str(method)] = (
            float(np.exp(np.log(vals).mean())) if vals.size else math.nan
        )
    return out


# ------------------------------------------------------------------ planted data
def planted_labels(catalog: Catalog, pool_id: str) -> np.ndarray:
    """``metadata.planted`` of every pool document in pool order (None where not planted)."""
    return _labels_and_sources(catalog, pool_id)[0]


def _labels_and_sources(catalog: Catalog, pool_id: str) -> tuple[np.ndarray, np.ndarray]:
    labels: list[Any] = []
    sources: list[str] = []
    for df in catalog.iter_documents(pool_id, columns="doc_id, source, metadata"):
        sources += list(df["source"])
        for meta in df["metadata"]:
            d = json.loads(meta) if isinstance(meta, str) and meta else {}
            labels.append(d.get("planted") if isinstance(d, dict) else None)
    return np.asarray(labels, dtype=object), np.asarray(sources, dtype=object)


def _run_scores(catalog: Catalog, scores_run_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    run = catalog.get_run(scores_run_id)
    scores = catalog.scores(scores_run_id, run["task_id"])["score"].to_numpy()
    labels, sources = _labels_and_sources(catalog, run["pool_id"])
    if labels.size != scores.size:
        raise InputError(f"scores run {scores_run_id} does not cover pool {run['pool_id']}")
    return scores, labels, sources


def planted_metrics(
    catalog: Catalog, scores_run_id: str, label: str | None = None, k: int | None = None
) -> dict[str, Any]:
    """AUROC and precision@k with which the lowest DsDm scores find planted documents.

    `label` None = every planted label against the clean documents; a label = that label's
    documents against the clean ones (other planted labels left out). Also
    ``auroc_same_source``: against clean documents of the planted ones' own sources only (e.g.
    wrong-answer QA documents against correct QA documents of the same format), or NaN when
    no clean document shares a source with them.
    """
    scores, labels, sources = _run_scores(catalog, scores_run_id)
    return _planted(scores, labels, sources, label, k)


def _planted(
    scores: np.ndarray, labels: np.ndarray, sources: np.ndarray, label: str | None, k: int | None
) -> dict[str, Any]:
    from dsdm_engine.metrics import auroc, precision_at_k

    is_planted = np.array([lab is not None for lab in labels])
    pos = is_planted if label is None else np.array([lab == label for lab in labels])
    keep = pos | ~is_planted
    s, y = scores[keep], pos[keep]
    n_pos = int(y.sum())
    if n_pos == 0:
        known = sorted({str(lab) for lab in labels if lab is not None})
        raise NotFoundError(f"no documents planted as {label or 'anything'} (labels: {known})")
    kk = min(int(k or n_pos), s.size)
    same = keep & np.isin(sources, np.unique(sources[pos]))
    return {
        "label": label or "all",
        "n_planted": n_pos,
        "n_clean": int((~y).sum()),
        "auroc": auroc(s, y),
        "k": kk,
        "precision_at_k": precision_at_k(s, y, kk),
        "base_rate": n_pos / s.size,
        "auroc_same_source": auroc(scores[same], pos[same]),
        "n_clean_same_source": int((same & ~pos).sum()),
    }


def planted_table(catalog: Catalog, scores_run_id: str) -> pd.DataFrame:
    """`planted_metrics` for all planted documents together and for each label."""
    scores, labels, sources = _run_scores(catalog, scores_run_id)
    names = sorted({str(lab) for lab in labels if lab is not None})
    if not names:
        return pd.DataFrame(columns=["label", "n_planted", "auroc", "precision_at_k"])
    return pd.DataFrame([_planted(scores, labels, sources, lab, None) for lab in [None, *names]])


# ------------------------------------------------------------------ LDS
@dataclass(frozen=True)
class LdsReport:
    """LDS of one task's DsDm scores: per-example mean Spearman and the aggregate one."""

    task_id: str
    scores_run_id: str
    per_example: float
    aggregate: float
    n_subsets: int
    n_examples: int
    n_valid_examples: int


def _doc_masks(n_docs: int, n_subsets: int, alpha: float, seed: int) -> np.ndarray:
    """(n_subsets, n_docs) bool: each row exactly round(α·n) documents, seeded per subset."""
    masks = np.zeros((n_subsets, n_docs), dtype=bool)
    for j in range(n_subsets):
        rng = np.random.default_rng([seed, j, 0x1D5])
        masks[j, rng.permutation(n_docs)[: max(1, round(alpha * n_docs))]] = True
    return masks


def _examples_key(examples: Sequence[TargetExample]) -> str:
    ids = [e.example_id for e in examples]
    return hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:16]


def _subset_chunks(catalog: Catalog, pool_id: str, mask: np.ndarray, tok: Any, seq_len: int):
    from dsdm_engine.tokenizer import encode_chunks

    texts: list[str] = []
    row = 0
    for df in catalog.iter_documents(pool_id, columns="doc_id, text"):
        keep = mask[row : row + len(df)]
        texts += [t for t, k in zip(df["text"], keep, strict=True) if k]
        row += len(df)
    return encode_chunks(texts, tok, seq_len)


def lds_for_tasks(
    catalog: Catalog,
    scores_run_ids: Sequence[str],
    n_subsets: int = 8,
    alpha: float | None = None,
    seed: int = 0,
    max_examples: int | None = 256,
    device: str = "auto",
    progress: ProgressCallback = no_progress,
) -> dict[str, LdsReport]:
    """LDS (method.md §6) of several tasks' scores, sharing one set of subset-trained models.

    All scores runs must come from the same features run. Subset models are trained with the
    proxies' recipe (α defaults to the proxies' α) and kept under ``artifacts/lds/<key>/``
    with their per-task outputs, so a rerun (or a new task) trains only missing subsets.
    """
    from dsdm_engine.metrics import lds, spearman
    from dsdm_engine.pipeline import _pool_models, _target_features
    from dsdm_engine.scoring import example_scores
    from dsdm_engine.training import TrainConfig, load_proxy, train_proxy

    if n_subsets < 2:
        raise InputError("LDS needs at least 2 subsets")
    runs = [catalog.get_run(r) for r in scores_run_ids]
    feats = {r["config"]["features_run_id"] for r in runs}
    if len(feats) != 1:
        raise InputError(f"scores runs come from different features runs: {sorted(feats)}")
    features_run_id = feats.pop()
    pcfg = catalog.get_run(catalog.get_run(features_run_id)["config"]["proxies_run_id"])["config"]
    pool_id = runs[0]["pool_id"]
    alpha = float(alpha if alpha is not None else pcfg["alpha"])
    n_docs = len(catalog.doc_ids(pool_id))
    masks = _doc_masks(n_docs, n_subsets, alpha, seed)
    recipe = EvalRecipe(
        preset=pcfg["preset"],
        vocab_size=int(pcfg["vocab_size"]),
        seq_len=int(pcfg["seq_len"]),
        device=device,
    )
    tok = _tokenizer_for(catalog, pool_id, recipe)
    seq_len = int(pcfg["seq_len"])
    examples = {
        r["task_id"]: catalog.target_examples(r["task_id"], "selection")[:max_examples]
        for r in runs
    }
    key = hashlib.sha256(
        json.dumps([features_run_id, pcfg, alpha, seed], sort_keys=True, default=str).encode()
    ).hexdigest()[:12]
    out_dir = catalog.workspace.artifacts / "lds" / f"{pool_id}-{key}"
    actual: dict[str, list[np.ndarray]] = {t: [] for t in examples}
    for j in range(n_subsets):
        mdir = out_dir / f"subset_{j}"
        if (mdir / "COMPLETE").exists():
            progress(j + 1, n_subsets, f"subset {j + 1}: already trained, skipped")
        else:
            chunks = _subset_chunks(catalog, pool_id, masks[j], tok, seq_len)
            tc = TrainConfig(
                preset=pcfg["preset"],
                vocab_size=int(pcfg["vocab_size"]),
                seq_len=seq_len,
                alpha=1.0,
                batch_size=int(pcfg["batch_size"]),
                lr=float(pcfg["lr"]),
                seed=seed * 1000 + j,
                device=device,
            )

            def report(done: int, tot: int, msg: str = "", j: int = j) -> None:
                progress(j, n_subsets, f"subset {j + 1}/{n_subsets}: {msg}")

            train_proxy(chunks, tc, mdir, progress=report)
            progress(j + 1, n_subsets, f"subset {j + 1}/{n_subsets} trained")
        model = None
        for t, ex in examples.items():
            cache = mdir / f"logprob-{_examples_key(ex)}.npy"  # mean log-prob per example
            if not cache.exists():
                model = model or load_proxy(mdir, device=device)[0]
                sums, counts = completion_logprobs(model, ex, tok, seq_len)
                np.save(cache, sums / np.maximum(counts, 1))
            actual[t].append(np.load(cache))
    models: dict[float, list[Any]] = {}  # per λ
    reports = {}
    for r in runs:
        t, lam = r["task_id"], float(r["config"]["lambda_rel"])
        if lam not in models:
            models[lam] = _pool_models(catalog, features_run_id, lam)
        targets, _ = _target_features(catalog, features_run_id, t)
        n_ex = len(examples[t])
        tau = example_scores(models[lam], [f[:n_ex] for f in targets])  # (n_docs, n_ex)
        pred = masks.astype(np.float64) @ tau  # (n_subsets, n_ex)
        act = np.stack(actual[t])  # (n_subsets, n_ex)
        res = lds(pred, act)
        agg = spearman(pred.mean(axis=1), act.mean(axis=1))
        reports[t] = LdsReport(t, r["run_id"], res.mean, agg, n_subsets, n_ex, res.n_valid)
    return reports


def lds_for_task(
    catalog: Catalog, scores_run_id: str, n_subsets: int = 8, **kwargs: Any
) -> LdsReport:
    """LDS of one task's scores (see `lds_for_tasks`)."""
    reports = lds_for_tasks(catalog, [scores_run_id], n_subsets, **kwargs)
    return next(iter(reports.values()))


__all__ = [
    "EvalRecipe",
    "LdsReport",
    "completion_logprobs",
    "compute_multipliers",
    "evaluate_selections",
    "headline_multipliers",
    "heldout_examples",
    "heldout_loss",
    "lds_for_task",
    "lds_for_tasks",
    "planted_labels",
    "planted_metrics",
    "planted_table",
    "selection_chunks",
    "summarise",
    "train_fresh",
]
