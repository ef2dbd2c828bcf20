"""The workspace folder: `catalog.duckdb`, `artifacts/` and `exports/`, and how to find it.

Paths inside `artifacts/` are named by `workspace.layout` (`data_catalog.artifacts`).

Resolution order: an explicit path (the `--workspace` flag), then the `DSDM_WORKSPACE`
environment variable, then `./dsdm_workspace`.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from data_catalog.artifacts import ArtifactLayout
from data_catalog.errors import InputError
from data_catalog.procs import process_alive

DEFAULT_WORKSPACE = "dsdm_workspace"
ENV_VAR = "DSDM_WORKSPACE"
_TMP_MAX_AGE_S = 6 * 3600
_PATTERN_CHARS = "?*[]"


def resolve_workspace_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Where the workspace lives: the explicit path, else $DSDM_WORKSPACE, else ./dsdm_workspace."""
    if path:
        return Path(path).expanduser().resolve()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    return Path(DEFAULT_WORKSPACE).resolve()


@dataclass(frozen=True)
class Workspace:
    """Paths inside one workspace folder. Creating one makes the folders if they are missing."""

    root: Path

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> Workspace:
        root = resolve_workspace_path(path)
        if root.exists() and not root.is_dir():
            raise InputError(f"workspace path {root} exists and is not a folder")
        odd = sorted(set(str(root)) & set(_PATTERN_CHARS))
        if odd:
            raise InputError(
                f"workspace path {root} contains {' '.join(odd)}, which DuckDB reads as a pattern "
                "or parameter; choose a folder name without ? * [ ]"
            )
        ws = cls(root)
        for p in (ws.root, ws.artifacts, ws.exports, ws.tmp):
            p.mkdir(parents=True, exist_ok=True)
        return ws

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.duckdb"

    @property
    def layout(self) -> ArtifactLayout:
        """Names every artifact path; see `data_catalog.artifacts`."""
        return ArtifactLayout(self.root)

    @property
    def artifacts(self) -> Path:
        return self.layout.artifacts

    @property
    def exports(self) -> Path:
        return self.layout.exports

    @property
    def tmp(self) -> Path:
        """Scratch space for staged writes; anything here is incomplete by definition."""
        return self.layout.tmp

    def clean_stale_tmp(self, max_age_s: float = _TMP_MAX_AGE_S) -> int:
        """Remove scratch folders left by killed processes. Returns how many were removed."""
        removed = 0
        now = time.time()
        for p in self.tmp.iterdir() if self.tmp.exists() else ():
            try:
                if now - p.stat().st_mtime > max_age_s or owner_is_dead(p.name):
                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def export_dir(self, name: str) -> Path:
        """A folder under exports/ for `name`, sanitised so nothing lands outside exports/."""
        safe = sanitize_name(name)
        target = (self.exports / safe).resolve()
        if self.exports.resolve() not in target.parents:
            raise InputError(f"export name {name!r} would write outside {self.exports}")
        return target


def staging_name(prefix: str) -> str:
    """A scratch name that records its process: `<prefix>-p<pid>-<uuid>`, so the next run can
    remove what a killed process left behind (`clean_stale_tmp`)."""
    return f"{prefix}-p{os.getpid()}-{uuid.uuid4().hex}"


def owner_is_dead(name: str) -> bool:
    """Whether a `staging_name` belongs to a process that no longer exists."""
    found = re.search(r"-p(\d+)-[0-9a-f]{32}", name)
    return bool(found) and process_alive(int(found.group(1))) is False


def sanitize_name(name: str) -> str:
    """Turn any user-given name into one safe path component: [A-Za-z0-9._-], no leading dots."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name.strip())
    safe = re.sub(r"_+", "_", safe).lstrip("._").rstrip("_")  # never hidden, never "_x_"
    if not safe:
        raise InputError(f"name {name!r} has no usable characters (use letters, digits, . _ -)")
    return safe[:120]
