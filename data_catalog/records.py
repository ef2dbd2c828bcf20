"""Typed records that flow between stages: one small frozen dataclass per stage.

Storage (the catalog) persists these; compute (the engine) produces and consumes them. Ids are
explicit strings so a record can be joined back to the catalog without positional assumptions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Document:
    """One pool document: stable content-hash id, text, origin and free-form metadata."""

    doc_id: str
    text: str
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetExample:
    """One target-task example. Loss is measured on `completion` tokens only.

    A plain-text example has an empty prompt and the whole text as completion.
    """

    example_id: str
    prompt: str
    completion: str
    split: str = "selection"  # "selection" | "heldout"


@dataclass(frozen=True)
class Selection:
    """The output of every selector: ids in rank order (best first) with one score per id."""

    method: str
    ids: tuple[str, ...]
    scores: tuple[float, ...]
    params: dict[str, Any]
    seed: int

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.scores):
            raise ValueError(
                f"Selection has {len(self.ids)} ids but {len(self.scores)} scores; they must match"
            )


# ---------------------------------------------------------------- catalog rows
@dataclass(frozen=True)
class Pool:
    """One pool's catalog row (counts over its documents, set-of-ids content hash)."""

    pool_id: str
    created_at: datetime
    n_docs: int
    n_chars: int
    n_words: int
    n_duplicates: int
    n_skipped: int
    content_hash: str
    params: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Run:
    """One run: a frozen config and the artifacts it produced.

    `run_id` is `<kind>-<first 12 hex of config_hash>`, so the same config is the same run.
    `artifact_dir` is absolute in the *current* workspace (the catalog stores it relative), or
    None for runs without files.
    """

    run_id: str
    kind: str
    pool_id: str | None
    task_id: str | None
    config: dict[str, Any]
    config_hash: str
    status: str  # running | done | failed | cancelled
    artifact_dir: Path | None
    created_at: datetime
    finished_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        """The legacy `get_run` dict: the fields plus `artifact_path` (an absolute str)."""
        out = asdict(self)
        out["artifact_path"] = None if self.artifact_dir is None else str(self.artifact_dir)
        return out


@dataclass(frozen=True)
class Job:
    """One job's progress row; `params` is what the job was started with.

    `status` is as read: a queued/running row whose process is gone (or silent for longer than
    the heartbeat limit) reads `died`. `pid_start` and `host` tell a reused pid from the original.
    """

    job_id: str
    kind: str
    status: str  # queued | running | done | failed | cancelled | died
    done: int
    total: int
    rate: float | None
    eta_s: float | None
    message: str
    params: dict[str, Any]
    error: str | None
    pid: int | None
    cancel_requested: bool
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    pid_start: int | None = None
    host: str | None = None
    heartbeat_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
