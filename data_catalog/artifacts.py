"""`ArtifactLayout`: the one place that names every file and folder a workspace holds.

The engine and the app ask the layout for a path (`workspace.layout.run_dir(run_id)`) instead of
joining strings under `artifacts/`, so the folder structure is defined once. The catalog stores
paths *relative to the workspace root* (`rel`) and turns them back into absolute paths of the
*current* workspace (`resolve`); `resolve` also maps legacy absolute paths (written before paths
were stored relative, or by a workspace since moved or copied) onto the current root through their
`artifacts/` or `exports/` component, so old and moved workspaces keep working.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePath

ARTIFACTS = "artifacts"
EXPORTS = "exports"
_ANCHORS = (ARTIFACTS, EXPORTS)


@dataclass(frozen=True)
class ArtifactLayout:
    """Every artifact path of the workspace rooted at `root` (nothing is created here)."""

    root: Path

    # ------------------------------------------------------------ top-level folders
    @property
    def artifacts(self) -> Path:
        return self.root / ARTIFACTS

    @property
    def exports(self) -> Path:
        return self.root / EXPORTS

    @property
    def tmp(self) -> Path:
        """Scratch space for staged writes; anything here is incomplete by definition."""
        return self.artifacts / "tmp"

    @property
    def logs_dir(self) -> Path:
        """Launched jobs' stdout/stderr logs and exit files."""
        return self.artifacts / "logs"

    @property
    def maps_dir(self) -> Path:
        return self.artifacts / "maps"

    @property
    def embeddings_dir(self) -> Path:
        return self.artifacts / "embeddings"

    @property
    def runs_dir(self) -> Path:
        return self.artifacts / "runs"

    @property
    def validation_root(self) -> Path:
        """Where LDS validation subsets are trained (`lds/`)."""
        return self.artifacts / "lds"

    # ------------------------------------------------------------ tokens
    def tokenizer_dir(self, key: str) -> Path:
        """The trained tokenizer for `key` (`<pool>-<hash12>-v<vocab>`)."""
        return self.artifacts / "tokenizers" / key

    def tokens_dir(self, key: str, seq_len: int) -> Path:
        """The pool's token arrays for tokenizer `key` at sequence length `seq_len`."""
        return self.artifacts / "tokens" / f"{key}-L{int(seq_len)}"

    # ------------------------------------------------------------ runs
    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def model_dir(self, run_id: str, m: int) -> Path:
        """Proxy model `m` of a proxies run, or its features in a features run."""
        return self.run_dir(run_id) / f"model_{int(m)}"

    def target_features_dir(self, features_run_id: str, task_id: str, split: str) -> Path:
        """Cached per-model target features of a task split, kept under the features run."""
        return self.run_dir(features_run_id) / "targets" / f"{task_id}-{split}"

    def a_matrix_path(self, features_run_id: str, m: int, lambda_rel: float) -> Path:
        """The cached (ΦᵀΦ + λI)⁻¹ of model `m` at relative λ (its `.json` sibling holds λ)."""
        return self.model_dir(features_run_id, m) / f"A_lambda{lambda_rel:g}.npy"

    # ------------------------------------------------------------ pool-level caches
    def embeddings_path(self, pool_id: str) -> Path:
        """The MiniLM embedding cache shared by the map and the embedding selectors."""
        return self.embeddings_dir / f"{pool_id}-minilm.npy"

    def map_path(self, pool_id: str, content_hash: str, method: str) -> Path:
        return self.maps_dir / f"{pool_id}-{content_hash[:16]}-{method}.npy"

    def validation_dir(self, pool_id: str, key: str) -> Path:
        return self.validation_root / f"{pool_id}-{key}"

    def log_path(self, launch_id: str) -> Path:
        return self.logs_dir / f"{launch_id}.log"

    # ------------------------------------------------------------ stored paths
    def rel(self, path: str | os.PathLike[str]) -> str:
        """`path` as stored in the catalog: posix, relative to the workspace root.

        A relative path is taken as already workspace-relative. An absolute path outside the
        root is first mapped through `resolve` (legacy paths of a moved workspace); one that
        still lies outside (a file the user keeps elsewhere) stays absolute.
        """
        p = Path(path)
        if not p.is_absolute():
            return PurePath(os.path.normpath(p)).as_posix()
        for candidate in (p, self.resolve(p)):
            inside = _relative_to(candidate, self.root)
            if inside is not None:
                return inside
        return p.as_posix()

    def resolve(self, stored: str | os.PathLike[str] | None) -> Path | None:
        """The absolute path in the current workspace for a stored path (None stays None).

        Relative → under the root. Absolute under the root → itself. Absolute elsewhere with
        an `artifacts/` or `exports/` component → the same tail under the current root (the
        first such tail that exists, else the first one). Anything else is returned as is.
        """
        if stored is None or str(stored) == "":
            return None
        p = Path(stored)
        if not p.is_absolute():
            return self.root / p
        if _relative_to(p, self.root) is not None:
            return p
        parts = p.parts
        tails = [self.root.joinpath(*parts[i:]) for i, c in enumerate(parts) if c in _ANCHORS]
        for tail in tails:
            if tail.exists():
                return tail
        return tails[0] if tails else p


def _relative_to(path: Path, root: Path) -> str | None:
    """posix `path` relative to `root` (comparing normalised and symlink-resolved forms)."""
    for a, b in (
        (Path(os.path.normpath(path)), Path(os.path.normpath(root))),
        (path.resolve(), root.resolve()),
    ):
        try:
            return a.relative_to(b).as_posix()
        except ValueError:
            continue
    return None
