"""Server-side paths the app may read: only inside the workspace and the `--data-root` folders.

The app runs on a server that may be reachable by others, so a path typed into a page must
never reach a file the operator did not offer. Every input (file, folder or glob) is checked
twice: its literal part before any wildcard must lie inside an allowed folder (so nothing
outside is even listed), and every file it expands to must too, after symlinks are resolved
(so a link inside a data root that points at `/etc` is refused).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from data_catalog.errors import InputError
from data_catalog.readers import expand_inputs

DATA_ROOTS_ENV = "DSDM_DATA_ROOTS"
_WILDCARDS = "*?["


def data_roots_from_env(env: dict[str, str] | None = None) -> list[Path]:
    """The folders named with `dsdm app --data-root` (passed to the server in $DSDM_DATA_ROOTS)."""
    raw = (os.environ if env is None else env).get(DATA_ROOTS_ENV, "")
    return [Path(p) for p in raw.split(os.pathsep) if p.strip()]


def check_data_roots(roots: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Each `--data-root` resolved; a missing one or a file is an error naming the flag."""
    out = []
    for r in roots:
        p = Path(r).expanduser().resolve()
        if not p.is_dir():
            raise InputError(f"--data-root {r}: not a folder")
        out.append(p)
    return out


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path.is_relative_to(r) for r in roots)


def _literal_prefix(raw: str) -> Path:
    """`/data/x/*.jsonl` → `/data/x`: the part of a pattern that names real folders."""
    parts = Path(raw).parts
    cut = next((i for i, part in enumerate(parts) if any(c in part for c in _WILDCARDS)), None)
    return Path(*parts[:cut]) if cut else Path(raw)


def confined_inputs(
    inputs: Sequence[str], roots: Sequence[str | os.PathLike[str]], what: str = "path"
) -> list[str]:
    """The concrete files behind `inputs` (files, folders, globs), each resolved and inside one
    of `roots`; anything else is refused before it is read or even listed."""
    allowed = [Path(r).expanduser().resolve() for r in roots]
    if not allowed:
        raise InputError(
            f"{what}s on the server are off: upload the file, or start the app with "
            "`dsdm app --data-root FOLDER`"
        )
    names = ", ".join(str(r) for r in allowed)
    for raw in inputs:
        literal = _literal_prefix(os.path.expanduser(raw.strip()))
        if not _inside(literal.resolve(), allowed):
            raise InputError(f"{what} {raw!r} is outside the folders this app may read ({names})")
    files = []
    for path, _kind in expand_inputs([i.strip() for i in inputs]):
        real = path.resolve()
        if not _inside(real, allowed):
            raise InputError(
                f"{what} {path} resolves to {real}, outside the folders this app may read ({names})"
            )
        files.append(str(real))
    return files


def confined_folder(raw: str, roots: Sequence[str | os.PathLike[str]], what: str = "folder") -> str:
    """One folder (no wildcards), resolved and inside one of `roots`; anything else is refused
    before it is read."""
    allowed = [Path(r).expanduser().resolve() for r in roots]
    names = ", ".join(str(r) for r in allowed)
    if not allowed:
        raise InputError(
            f"{what}s on the server are off: start the app with `dsdm app --data-root FOLDER`"
        )
    if any(c in raw for c in _WILDCARDS):
        raise InputError(f"{what} {raw!r}: give one folder, without wildcards")
    real = Path(os.path.expanduser(raw.strip())).resolve()
    if not _inside(real, allowed):
        raise InputError(f"{what} {raw!r} is outside the folders this app may read ({names})")
    if not real.is_dir():
        raise InputError(f"{what} {raw!r} is not a folder")
    return str(real)
