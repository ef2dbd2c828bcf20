"""`dsdm validate`: does a score predict what training on a subset does to the target's loss?

The linear datamodeling score (LDS, method.md §6) is the engine's correctness number. This module
trains `m` models from scratch on seeded random α-subsets of the pool's *documents* with the
proxies' recipe, measures each target example's completion log-prob under every subset model, and
correlates that with each predictor's prediction `Σ_{i∈S_j} score_i`. For an imported model
(`--from-model`) the subset models are fine-tuned from it instead: the fine-tuning case, where
the scores must predict what fine-tuning *that* model on a subset does.

Design choices that give the protocol power (the mean target log-prob moves only a few hundredths
of a nat between subsets, so noise must be kept below that):
- **Fixed token budget**: every subset model takes the same number of steps, so a subset's token
  count is not a hidden confound (it is still reported as a trivial predictor).
- **Common random numbers**: every subset model starts from the same initial weights and draws its
  batch order from the same random stream; only the subset differs.
- **Noise floor**: extra models on subset 0 with other seeds measure how much the outcome moves
  when only the seed changes; it is reported beside the between-subset spread.

Subset models are trained in parallel worker processes (one torch thread each) and each leaves a
`COMPLETE` marker with its outcomes, so a killed validation resumes where it stopped and gives
the same numbers. The statistics (LDS, bootstrap CIs) live in `lds_report`.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing as mp
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from data_catalog import atomic
from data_catalog.catalog import Catalog
from data_catalog.errors import InputError
from dsdm_engine.progress import ProgressCallback, no_progress

SPLITS = ("selection", "heldout")


@dataclass(frozen=True)
class ValidateConfig:
    """How the subset models are drawn and trained (the learning algorithm the scores describe)."""

    n_subsets: int = field(
        default=64, metadata={"flag": "--subsets", "help": "subset models m (LDS over these)"}
    )
    # α = 0.1, not TRAK's 0.5: on the demo, seed noise equalled the whole between-subset spread
    # at 0.5 (no predictor could show anything); at 0.1 it fell to 0.16-0.48 of it (README)
    alpha: float = field(default=0.1, metadata={"help": "fraction of documents per subset"})
    token_budget: int | None = field(
        default=None, metadata={"help": "training tokens per subset model (default: the proxies')"}
    )
    seed: int = field(
        default=0, metadata={"help": "subset draws; common init/order seed of every subset model"}
    )
    noise_seeds: int = field(
        default=2, metadata={"help": "extra models on subset 0 with other seeds (noise floor)"}
    )
    replicates: int = field(
        default=1,
        metadata={"help": "models per subset, each with its own init/order seed; outcomes are "
                  "averaged (less training noise) and, from 2, their test-retest agreement "
                  "bounds the LDS any predictor can reach"},
    )  # fmt: skip
    max_examples: int | None = field(
        default=None, metadata={"help": "target examples per task and split (default: all)"}
    )
    workers: int = field(default=2, metadata={"help": "parallel training processes"})
    device: str = field(
        default="auto", metadata={"help": "auto | cpu | cuda", "choices": ("auto", "cpu", "cuda")}
    )
    from_model: bool = field(
        default=False,
        metadata={"help": "the proxies are an imported model (`dsdm proxy import`): fine-tune "
                  "every subset model from it instead of training from scratch"},
    )  # fmt: skip
    finetune_lr: float = field(
        default=1e-4, metadata={"help": "--from-model: peak learning rate of the fine-tuning"}
    )
    train_layers: str = field(
        default="all",
        metadata={"help": "--from-model: parameters fine-tuned: all | last:N (the last N blocks)"},
    )

    def stored(self) -> dict[str, Any]:
        """The fields that identify a validation (fields added later are left out at their
        defaults, so the subset models of older workspaces resume)."""
        d = {k: v for k, v in asdict(self).items() if k not in ("workers", "device")}
        for name, default in _LATER_FIELDS.items():
            if d[name] == default:
                del d[name]
        return d

    def __post_init__(self) -> None:
        if not re.fullmatch(r"all|last:[1-9][0-9]*", self.train_layers):
            raise InputError(f"unknown --train-layers {self.train_layers!r}; known: all, last:N")
        if not (math.isfinite(self.finetune_lr) and self.finetune_lr > 0):
            raise InputError(f"--finetune-lr must be a positive number, not {self.finetune_lr}")
        if self.n_subsets < 4:
            raise InputError(f"--subsets must be at least 4, not {self.n_subsets}")
        if not 0.0 < self.alpha < 1.0:
            raise InputError(f"--alpha must be in (0, 1), not {self.alpha}")
        if self.token_budget is not None and self.token_budget <= 0:
            raise InputError(f"--token-budget must be positive, not {self.token_budget}")
        if self.noise_seeds < 0 or self.workers < 1 or self.seed < 0:
            raise InputError("--noise-seeds >= 0, --workers >= 1 and --seed >= 0 required")
        if not 1 <= self.replicates <= 16 or self.noise_seeds >= REPLICATE_SEED_STEP:
            raise InputError(
                f"--replicates must be 1-16 (not {self.replicates}) and --noise-seeds "
                f"below {REPLICATE_SEED_STEP}"
            )
        if self.max_examples is not None and self.max_examples < 2:
            raise InputError(f"--max-examples must be at least 2, not {self.max_examples}")


_LATER_FIELDS = {
    "from_model": False,
    "finetune_lr": 1e-4,
    "train_layers": "all",
    "replicates": 1,
}
# replicate r of every subset model trains with init/order seed `seed + r * REPLICATE_SEED_STEP`
# (replicate 0 is the subset model itself; the noise-floor models use seed + 1 ... + noise_seeds)
REPLICATE_SEED_STEP = 1000


def subset_masks(n_docs: int, n_subsets: int, alpha: float, seed: int) -> np.ndarray:
    """(n_subsets, n_docs) bool; row j holds exactly round(α·n) documents, seeded by (seed, j)."""
    masks = np.zeros((n_subsets, n_docs), dtype=bool)
    size = max(1, round(alpha * n_docs))
    for j in range(n_subsets):
        rng = np.random.default_rng([seed, j, 0x5AB5E7])
        masks[j, rng.permutation(n_docs)[:size]] = True
    return masks


def pack(flat: np.ndarray, offsets: np.ndarray, member: np.ndarray, seq_len: int) -> np.ndarray:
    """The member documents' tokens (each already ends with EOS), in pool order, packed into
    (n_chunks, seq_len) rows exactly as `tokenizer.encode_chunks` packs a pool."""
    idx = np.flatnonzero(member)
    parts = [flat[offsets[i] : offsets[i + 1]] for i in idx]
    joined = np.concatenate(parts) if parts else np.zeros(0, np.int32)
    n = joined.shape[0] // seq_len
    return joined[: n * seq_len].reshape(n, seq_len)


def _document_tokens(catalog: Catalog, pool_id: str, pcfg: dict[str, Any], out: Path) -> None:
    """The pool's documents as flat tokens + offsets (`stages.tokens.document_tokens`), copied
    into the validation folder where the worker processes read them."""
    from dsdm_engine.stages.tokens import document_tokens

    if (out / "doc_tokens.npy").exists():
        return
    flat, offsets = document_tokens(catalog, pool_id, int(pcfg.get("vocab_size") or 0),
                                    int(pcfg["seq_len"]), model=pcfg.get("imported"))  # fmt: skip
    atomic.write_npy(out / "doc_offsets.npy", np.asarray(offsets))
    atomic.write_npy(out / "doc_tokens.npy", np.asarray(flat))


def _encode_examples(catalog: Catalog, tasks: Sequence[str], tok: Any, seq_len: int, cfg, out):
    """Token arrays of each task's selection and held-out examples (npz per task and split)."""
    from dsdm_engine.compute.tokenizer import encode_targets

    keys = []
    for task_id in tasks:
        for split in SPLITS:
            ex = catalog.target_examples(task_id, split)[: cfg.max_examples]
            if len(ex) < 2:
                raise InputError(f"target task {task_id} has fewer than 2 {split} examples")
            path = out / f"examples-{task_id}-{split}.npz"
            if not path.exists():
                arr = encode_targets(
                    [e.prompt for e in ex], [e.completion for e in ex], tok, seq_len
                )
                np.savez(path, **asdict(arr))
            keys.append(f"{task_id}|{split}")
    return keys


def _train_and_measure(job: dict[str, Any]) -> str:
    """Worker: train one subset model (common seed), record per-example completion log-probs."""

    from dsdm_engine.compute.configs import TrainConfig
    from dsdm_engine.compute.models import configure_threads
    from dsdm_engine.compute.training import load_proxy, train_proxy

    configure_threads()
    out = Path(job["out"])
    known = _measured(out)
    if known is not None and all(k in known for k in job["keys"]):
        return job["name"]
    root = Path(job["root"])
    if known is not None and (out / "model").is_dir():  # trained for other targets: measure these
        model = load_proxy(out / "model", device=job["device"])[0]
        _measure(model, job, root, out, known)
        return job["name"]
    flat = np.load(root / "doc_tokens.npy", mmap_mode="r")
    offsets = np.load(root / "doc_offsets.npy")
    member = np.load(root / "masks.npy", mmap_mode="r")[job["subset"]]
    chunks = pack(flat, offsets, np.asarray(member), job["seq_len"])
    if "from_model" in job["train"]:  # fine-tuned from the imported model, kept in memory only
        model = _finetuned(job, chunks)
        out.mkdir(parents=True, exist_ok=True)
    else:
        tc = TrainConfig(**{**job["train"], "alpha": 1.0, "seed": job["seed"]})
        train_proxy(chunks, tc, out / "model")
        model = load_proxy(out / "model", device=job["device"])[0]
    _measure(model, job, root, out, known or {})
    return job["name"]


def _measured(out: Path) -> dict[str, Any] | None:
    """The outcomes a finished subset model recorded (None while it is not finished)."""
    if not (out / "COMPLETE").exists():
        return None
    return json.loads((out / "outcomes.json").read_text())


def _measure(model: Any, job: dict[str, Any], root: Path, out: Path, known: dict) -> None:
    """Record the model's outcomes on the job's (task, split) keys beside those it has, then
    mark it finished (a later validation with more targets measures only the new ones)."""
    import torch

    model.eval()
    outcomes = dict(known)
    with torch.no_grad():
        for key in job["keys"]:
            if key in outcomes:
                continue
            task_id, split = key.split("|")
            arr = np.load(root / f"examples-{task_id}-{split}.npz")
            outcomes[key] = _mean_logprobs(model, arr).tolist()
    atomic.write_text(out / "outcomes.json", json.dumps(outcomes))
    (out / "COMPLETE").write_text("ok\n")


def _finetuned(job: dict[str, Any], chunks: np.ndarray) -> Any:
    """The imported model fine-tuned on one subset's chunks: common seed, fixed token budget."""
    from dsdm_engine.compute.configs import TrainConfig
    from dsdm_engine.compute.imported import load_model
    from dsdm_engine.compute.training import finetune

    t = job["train"]
    model = load_model(t["from_model"], job["device"], expected_sha256=t["weights_sha256"])
    tc = TrainConfig(
        seq_len=int(t["seq_len"]), batch_size=int(t["batch_size"]), lr=t["lr"],
        token_budget=int(t["token_budget"]), weight_decay=0.0, seed=job["seed"],
    )  # fmt: skip
    finetune(model, chunks, tc, t["train_layers"])
    return model


def _mean_logprobs(model: Any, arr: Any, batch_size: int = 64) -> np.ndarray:
    """Mean log-prob per completion token of each example (higher = better). -> (m,)."""
    import torch

    device = next(model.parameters()).device
    out = []
    for s in range(0, arr["input_ids"].shape[0], batch_size):
        ids = torch.as_tensor(arr["input_ids"][s : s + batch_size], dtype=torch.long, device=device)
        att = torch.as_tensor(arr["attention_mask"][s : s + batch_size], device=device).long()
        mask = torch.as_tensor(arr["loss_mask"][s : s + batch_size], device=device)[:, 1:]
        logp = torch.log_softmax(model(input_ids=ids, attention_mask=att).logits.float(), -1)
        tok = logp[:, :-1].gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)  # (B, T-1)
        m = mask.to(tok.dtype)
        out.append(((tok * m).sum(-1) / m.sum(-1).clamp(min=1)).cpu().numpy())
    return np.concatenate(out).astype(np.float64)


@dataclass
class SubsetOutcomes:
    """What the subset models measured: masks (m, n) and per-(task|split) outcomes (m, examples).

    `noise[key]` holds the outcomes of the extra-seed models on subset 0 (noise_seeds, examples).
    `outcomes[key]` is the mean over the replicates, `replicates[key]` each one (r, m, examples).
    """

    root: Path
    masks: np.ndarray
    outcomes: dict[str, np.ndarray]
    noise: dict[str, np.ndarray]
    config: dict[str, Any]
    replicates: dict[str, np.ndarray] = field(default_factory=dict)


def train_subset_models(
    catalog: Catalog,
    proxies_run_id: str,
    tasks: Sequence[str],
    config: ValidateConfig = ValidateConfig(),
    progress: ProgressCallback = no_progress,
    executor: str = "local",
    ray_address: str | None = None,
) -> SubsetOutcomes:
    """Train (or resume) the subset models of a validation and collect their outcomes.

    `executor="ray"` trains the missing ones as Ray tasks (one per model, `executors.py`); they
    write the same outcome files and markers, so either executor resumes the other."""
    from dsdm_engine.compute.tokenizer import load_tokenizer
    from dsdm_engine.stages.tokens import run_tokens

    proxies = catalog.get_run(proxies_run_id)
    pcfg = proxies["config"]
    imported = pcfg.get("imported")
    if imported and not config.from_model:
        raise InputError(
            f"proxies {proxies_run_id} are an imported model ({imported['path']}): pass "
            "--from-model to fine-tune the subset models from it"
        )
    if config.from_model and not imported:
        raise InputError(
            f"--from-model needs imported proxies (`dsdm proxy import`); {proxies_run_id} were "
            "trained from scratch"
        )
    pool_id = proxies["pool_id"]
    n_docs = len(catalog.doc_ids(pool_id))
    seq_len = int(pcfg["seq_len"])
    tokens = run_tokens(catalog, proxies)
    n_chunks = int(np.load(tokens.chunks_path, mmap_mode="r").shape[0])
    if imported:  # fine-tuning: one pass over a subset's worth of chunks
        budget = config.token_budget or max(1, round(config.alpha * n_chunks)) * seq_len
        train = {"from_model": imported["path"], "weights_sha256": imported["weights_sha256"],
                 "seq_len": seq_len, "batch_size": 16, "lr": config.finetune_lr,
                 "train_layers": config.train_layers}  # fmt: skip
    else:
        budget = (
            config.token_budget
            or pcfg.get("token_budget")
            or int(round(float(pcfg["alpha"]) * n_chunks) * seq_len)
        )
        train = {
            k: pcfg[k] for k in ("preset", "vocab_size", "seq_len", "batch_size", "lr") if k in pcfg
        }
    train.update(token_budget=int(budget), device=config.device)
    frozen = {
        "pool_id": pool_id,
        "pool_hash": catalog.get_pool(pool_id)["content_hash"],
        "tokenizer": str(tokens.tokenizer_dir.name),
        "train": train,
        # replicates are extra models beside the same ones: they share the folder
        "validate": {k: v for k, v in config.stored().items() if k != "replicates"},
    }
    key = hashlib.sha256(json.dumps(frozen, sort_keys=True).encode()).hexdigest()[:12]
    root = catalog.layout.validation_dir(pool_id, key)
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps(frozen, indent=1, sort_keys=True))
    tok = load_tokenizer(tokens.tokenizer_dir)
    _document_tokens(catalog, pool_id, pcfg, root)
    masks = subset_masks(n_docs, config.n_subsets, config.alpha, config.seed)
    np.save(root / "masks.npy", masks)
    keys = _encode_examples(catalog, tasks, tok, seq_len, config, root)
    base = {"root": str(root), "seq_len": seq_len, "train": train, "keys": keys}
    base["device"] = "cpu" if config.device == "auto" else config.device
    jobs = [
        {
            **base,
            "name": f"subset_{j}",
            "out": str(root / f"subset_{j}"),
            "subset": j,
            "seed": config.seed,
            "replicate": 0,
        }  # fmt: skip
        for j in range(config.n_subsets)
    ]
    jobs += [
        {
            **base,
            "name": f"subset_{j}_r{r}",
            "out": str(root / f"subset_{j}_r{r}"),
            "subset": j,
            "seed": config.seed + r * REPLICATE_SEED_STEP,
            "replicate": r,
        }  # fmt: skip
        for r in range(1, config.replicates)
        for j in range(config.n_subsets)
    ]
    jobs += [
        {
            **base,
            "name": f"noise_{s}",
            "out": str(root / f"noise_{s}"),
            "subset": 0,
            "seed": config.seed + 1 + s,
        }  # fmt: skip
        for s in range(config.noise_seeds)
    ]
    todo = [j for j in jobs if not set(keys) <= set(_measured(Path(j["out"])) or ())]
    done = len(jobs) - len(todo)
    progress(done, len(jobs), f"{done} subset models already trained" if done else "")
    t0 = time.monotonic()
    if todo and executor == "ray":
        from dsdm_engine.executors import run_units

        run_units(_train_and_measure, todo, "ray",
                  lambda d, t, msg="": progress(done + d, len(jobs), msg),
                  label="subset models", gpu=base["device"].startswith("cuda"),
                  address=ray_address)  # fmt: skip
    elif todo:
        if config.workers == 1:
            results = map(_train_and_measure, todo)
            for i, name in enumerate(results, 1):
                rate = i / (time.monotonic() - t0)
                progress(done + i, len(jobs), f"{name} trained, {rate * 60:.1f} models/min")
        else:
            ctx = mp.get_context("spawn")
            with ctx.Pool(min(config.workers, len(todo))) as pool:
                for i, name in enumerate(pool.imap_unordered(_train_and_measure, todo), 1):
                    rate = i / (time.monotonic() - t0)
                    progress(done + i, len(jobs), f"{name} trained, {rate * 60:.1f} models/min")
    reps: dict[str, list] = {k: [[] for _ in range(config.replicates)] for k in keys}
    noise: dict[str, list] = {k: [] for k in keys}
    for j in jobs:
        got = json.loads((Path(j["out"]) / "outcomes.json").read_text())
        for k in keys:
            (reps[k][j["replicate"]] if "replicate" in j else noise[k]).append(got[k])
    by_replicate = {k: np.asarray(v, dtype=np.float64) for k, v in reps.items()}
    return SubsetOutcomes(
        root,
        masks,
        {k: v.mean(axis=0) for k, v in by_replicate.items()},
        {
            k: np.asarray(v, dtype=float).reshape(len(v), -1) if v else np.zeros((0, 0))
            for k, v in noise.items()
        },  # fmt: skip
        frozen,
        by_replicate,
    )
