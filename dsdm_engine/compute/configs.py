"""The frozen, validated configs of the compute layer: a proxy's training recipe and a
featurisation. Torch-free on purpose: the CLI builds its options from these dataclasses (every
default is written once, here) and must start without importing torch.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field, replace

from data_catalog.errors import InputError

# The names of `models.PRESETS` and `model_output.OUTPUT_KINDS`, repeated here so that no torch
# import is needed to validate a config; tests check that they agree.
PRESET_NAMES = ("tiny", "small", "medium", "125m")
OUTPUT_KINDS = ("margin", "logprob")
FEATURIZERS: tuple[str, ...] = ("fast", "exact", "trak")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a proxy. ``token_budget`` None = one pass over the subset."""

    preset: str = field(default="small", metadata={"help": "tiny | small | medium | 125m"})
    vocab_size: int = field(default=4096, metadata={"help": "BPE vocabulary trained on the pool"})
    seq_len: int = field(default=128, metadata={"help": "tokens per training chunk"})
    alpha: float = field(default=0.5, metadata={"help": "subset fraction per proxy"})
    token_budget: int | None = field(
        default=None, metadata={"help": "training tokens per proxy (default: one pass)"}
    )
    batch_size: int = field(default=16, metadata={"help": "sequences per step"})
    lr: float = field(default=3e-3, metadata={"help": "peak AdamW learning rate"})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW weight decay"})
    warmup_frac: float = field(default=0.05, metadata={"help": "warm-up share of the steps"})
    seed: int = field(default=0, metadata={"help": "subset, order and init seed (+m per proxy)"})
    device: str = field(
        default="auto", metadata={"help": "auto | cpu | cuda", "choices": ("auto", "cpu", "cuda")}
    )
    checkpoints: int = field(
        default=1,
        metadata={"help": "ensemble members per proxy: C evenly spaced checkpoints of its "
                  "training, the final model last (TRAK's checkpoint ensemble; no extra training)"},
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.checkpoints < 1:
            raise InputError(f"--checkpoints must be at least 1, not {self.checkpoints}")
        if self.preset not in PRESET_NAMES:
            raise InputError(f"unknown --preset {self.preset!r}; known: {', '.join(PRESET_NAMES)}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise InputError(f"unknown --device {self.device!r}; known: auto, cpu, cuda")
        if not 0.0 < self.alpha <= 1.0:
            raise InputError(f"--alpha must be in (0, 1], got {self.alpha}")
        if self.vocab_size < 2 or self.seq_len < 2 or self.batch_size < 1:
            raise InputError("--vocab-size and --seq-len must be >= 2, --batch-size >= 1")
        if self.token_budget is not None and self.token_budget <= 0:
            raise InputError("--token-budget must be positive (or omitted for one pass)")
        if not all(math.isfinite(v) for v in (self.lr, self.weight_decay, self.warmup_frac)):
            raise InputError("--lr, --weight-decay and --warmup-frac must be finite numbers")
        if self.lr <= 0 or self.weight_decay < 0 or not 0 <= self.warmup_frac < 1:
            raise InputError("--lr > 0, --weight-decay >= 0 and 0 <= --warmup-frac < 1 required")
        if self.seed < 0:
            raise InputError("--seed must be >= 0")

    def as_dict(self) -> dict:
        """The stored form. A field added later is left out at its default, so the proxies
        (and their hashes) of workspaces made before it stay valid."""
        return _stored(self, _LATER_FIELDS)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    def config_hash(self) -> str:
        """Stable sha256 of the JSON form: names runs and their artifact folders."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return cls(**d)


# Config fields added after workspaces existed -> their default (left out when stored)
_LATER_FIELDS = {"checkpoints": 1}
# (a run stored before `store` existed holds float32 files; readers go by the files' dtype)
_LATER_FEATURE_FIELDS = {
    "precondition": "none",
    "damping": 1.0,
    "kfac_windows": 256,
    "store": "float16",
    "layers": "all",
}
PRECONDITIONERS = ("none", "kfac", "kfac-body")


def _stored(config, later: dict) -> dict:
    d = asdict(config)
    for name, default in later.items():
        if d[name] == default:
            del d[name]
    return d


@dataclass(frozen=True)
class FeatureConfig:
    """How to featurise: method, projection size and seed, model output, batching, device.

    One config for the whole featurisation; `for_proxy(m)` gives proxy m its own projection
    seed (averaging over proxies then cancels projection noise), and pool and targets of a proxy
    always use the same one.
    """

    method: str = field(
        default="fast", metadata={"help": "fast | exact | trak", "choices": FEATURIZERS}
    )
    # 2,048 (2,040 after the per-layer blocks): held-out LDS equal to 4,096's within noise on the
    # same 64 subset models (README, "Other levers"), half the store (16,352 bytes per document
    # with 4 proxies) and half the scoring time; a finite λ needs a k × k inverse per proxy
    proj_dim: int = field(
        default=2048,
        metadata={"help": "projection dimensions per proxy (--k is a deprecated alias)"},
    )
    proj_seed: int = field(default=0, metadata={"help": "projection seed (+1000·m for proxy m)"})
    output: str = field(
        default="margin",
        metadata={"help": "model output: margin | logprob", "choices": ("margin", "logprob")},
    )
    whole_docs: bool = field(
        default=True,
        metadata={"help": "featurise every window of a document and sum them (its whole "
                  "gradient); --no-whole-docs judges a document by its first seq_len tokens"},
    )  # fmt: skip
    batch_size: int = field(default=16, metadata={"help": "sequences per batch"})
    shard_size: int = field(default=1024, metadata={"help": "rows per resumable shard"})
    device: str = field(
        default="auto", metadata={"help": "auto | cpu | cuda", "choices": ("auto", "cpu", "cuda")}
    )
    precondition: str = field(
        default="none",
        metadata={"help": "none | kfac (every layer) | kfac-body (all but the LM head): K-FAC "
                  "whitening folded into the projection", "choices": PRECONDITIONERS},
    )  # fmt: skip
    damping: float = field(
        default=1.0, metadata={"help": "K-FAC damping, a multiple of each factor's mean eigenvalue"}
    )
    kfac_windows: int = field(
        default=256, metadata={"help": "pool windows sampled to estimate the K-FAC factors"}
    )
    store: str = field(
        default="float16",
        metadata={"help": "feature storage on disk: float16 (row-scaled, half the bytes) | "
                  "float32", "choices": ("float16", "float32")},
    )  # fmt: skip
    layers: str = field(
        default="all",
        metadata={"help": "layers projected: all | blocks (attention and MLP projections, no LM "
                  "head) | last:N (the last N blocks)"},
    )  # fmt: skip

    def __post_init__(self) -> None:
        if not re.fullmatch(r"all|blocks|last:[1-9][0-9]*", self.layers):
            raise InputError(f"unknown --layers {self.layers!r}; known: all, blocks, last:N")
        if self.precondition not in PRECONDITIONERS:
            known = ", ".join(PRECONDITIONERS)
            raise InputError(f"unknown --precondition {self.precondition!r}; known: {known}")
        if not (math.isfinite(self.damping) and self.damping > 0):
            raise InputError(f"--damping must be a positive number, not {self.damping}")
        if self.store not in ("float16", "float32"):
            raise InputError(f"unknown --store {self.store!r}; known: float16, float32")
        if self.kfac_windows < 1:
            raise InputError(f"--kfac-windows must be positive, not {self.kfac_windows}")
        if self.method not in FEATURIZERS:
            raise InputError(f"unknown --method {self.method!r}; known: {', '.join(FEATURIZERS)}")
        if self.output not in OUTPUT_KINDS:
            raise InputError(f"unknown --output {self.output!r}; known: {', '.join(OUTPUT_KINDS)}")
        for name in ("proj_dim", "batch_size", "shard_size"):
            if int(getattr(self, name)) <= 0:
                flag = "--" + name.replace("_", "-")
                raise InputError(f"{flag} must be positive, not {getattr(self, name)}")
        if self.proj_seed < 0:
            raise InputError(f"--proj-seed must be >= 0, not {self.proj_seed}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise InputError(f"unknown --device {self.device!r}; known: auto, cpu, cuda")

    def for_proxy(self, m: int) -> FeatureConfig:
        """Proxy m's settings: its own projection seed, everything else shared."""
        return replace(self, proj_seed=self.proj_seed + PROJ_SEED_STRIDE * m)

    def as_dict(self) -> dict:
        """The stored form; fields added later are left out at their defaults (old runs resume)."""
        return _stored(self, _LATER_FEATURE_FIELDS)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)


# each proxy's projection seed is proj_seed + 1000·m (bench/featurize.py seeds the same way)
PROJ_SEED_STRIDE = 1000


NORMALIZE = ("none", "cosine")
QUERY_PRECONDITIONERS = ("none", "kfac")
SCORERS = ("trak", "ekfac")


@dataclass(frozen=True)
class ScoreConfig:
    """How stored features become one score per document for a target task.

    Chosen by held-out LDS on the demo workspace (README, "Do the scores predict?"): finite λ
    from 0.1 to 10 · tr(ΦᵀΦ)/k with raw TRAK scores predicted subset-trained models equally well
    within noise, and 10 kept the projection seeds closest (Spearman 0.72-0.83, against 0.61-0.71
    at 0.1); the former defaults (λ = ∞, cosine), chosen for seed agreement, predicted nothing.
    """

    lambda_rel: float = field(
        default=10.0,
        metadata={
            "help": "λ as a multiple of tr(ΦᵀΦ)/k; inf = Q-weighted gradient dot product",
            "inf": True,
        },
    )
    normalize: str = field(
        default="none",
        metadata={"help": "none: TRAK's scores; cosine: divide by each document's feature norm",
                  "choices": NORMALIZE},
    )  # fmt: skip
    query_precondition: str = field(
        default="none",
        metadata={"help": "none | kfac: precondition the target's gradient alone by each proxy's "
                  "K-FAC inverse (the pool's features are unchanged)",
                  "choices": QUERY_PRECONDITIONERS},
    )  # fmt: skip
    query_damping: float = field(
        default=0.1,
        metadata={"help": "damping of --query-precondition kfac, a multiple of each factor's "
                  "mean eigenvalue"},
    )  # fmt: skip

    scorer: str = field(
        default="trak",
        metadata={"help": "trak: the stored projected features (seconds per target); ekfac: "
                  "EK-FAC-preconditioned full gradients, one pass over the pool per batch of "
                  "targets (opt-in: more predictive on the demo, minutes per pass)",
                  "choices": SCORERS},
    )  # fmt: skip
    ekfac_damping: float = field(
        default=0.01,
        metadata={"help": "--scorer ekfac: damping, a multiple of each layer's mean eigenvalue"},
    )
    ekfac_sample: int = field(
        default=1024,
        metadata={"help": "--scorer ekfac: pool windows the curvature is estimated on"},
    )

    def __post_init__(self) -> None:
        if self.scorer not in SCORERS:
            raise InputError(f"unknown --scorer {self.scorer!r}; known: {', '.join(SCORERS)}")
        if not (math.isfinite(self.ekfac_damping) and self.ekfac_damping > 0):
            raise InputError(f"--ekfac-damping must be a positive number, not {self.ekfac_damping}")
        if self.ekfac_sample < 8:
            raise InputError(f"--ekfac-sample must be at least 8 windows, not {self.ekfac_sample}")
        if not self.lambda_rel > 0:  # NaN fails too
            raise InputError(f"--lambda-rel must be positive (or inf), not {self.lambda_rel}")
        if self.query_precondition not in QUERY_PRECONDITIONERS:
            known = ", ".join(QUERY_PRECONDITIONERS)
            raise InputError(
                f"unknown --query-precondition {self.query_precondition!r}; known: {known}"
            )
        if not (math.isfinite(self.query_damping) and self.query_damping > 0):
            raise InputError(f"--query-damping must be a positive number, not {self.query_damping}")
        if self.normalize not in NORMALIZE:
            raise InputError(
                f"unknown --normalize {self.normalize!r}; known: {', '.join(NORMALIZE)}"
            )
