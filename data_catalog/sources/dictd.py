"""Debian dictd dictionaries (optional): short definitional text from ``dict-*`` packages.

Debian-only: fetched with ``apt-get download`` (apt checks the signed archive hashes), unpacked
with the stdlib (a .deb is an ar archive around ``data.tar.*``). Each database is
``/usr/share/dictd/NAME.index`` (``headword<TAB>offset<TAB>length``, numbers in dictd's base64)
plus ``NAME.dict.dz`` (gzip-compatible dictzip). Where apt-get is missing, `fetch` raises a
`SourceError` saying so; the demo pool never needs these sources.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from data_catalog.sources.cache import SourceError, apt_download, extract_once
from data_catalog.sources.text import make_record

PACKAGES = {
    "jargon": ("dict-jargon", "Public domain (The Jargon File)"),
    "devil": ("dict-devil", "Public domain (Ambrose Bierce, The Devil's Dictionary)"),
    "foldoc": ("dict-foldoc", "GFDL (Free On-line Dictionary of Computing)"),
}
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def decode_number(text: str) -> int:
    """Decode one of dictd's base64 numbers (most significant digit first)."""
    value = 0
    for ch in text:
        value = value * 64 + _B64.index(ch)
    return value


def fetch(name: str, cache: Path) -> Path:
    """Download and unpack one dictd database (``jargon``, ``devil`` or ``foldoc``)."""
    if name not in PACKAGES:
        raise SourceError(f"unknown dictd database {name!r}; known: {sorted(PACKAGES)}")
    deb = apt_download(PACKAGES[name][0], cache)

    def select(member: str) -> str | None:
        if member.startswith("usr/share/dictd/") and member.endswith((".index", ".dict.dz")):
            return member.rsplit("/", 1)[-1]
        return None

    return extract_once(deb, Path(cache) / "extracted" / f"dictd-{name}", select)


def parse(root: Path, name: str) -> Iterator[dict[str, Any]]:
    """One record per headword: ``"headword\\n\\ndefinition"`` (server entries skipped)."""
    root = Path(root)
    index = next(iter(sorted(root.glob("*.index"))), None)
    data = next(iter(sorted(root.glob("*.dict.dz"))), None)
    if index is None or data is None:
        raise SourceError(f"no dictd .index/.dict.dz pair under {root}; run fetch() first")
    blob = gzip.decompress(data.read_bytes())
    license = PACKAGES[name][1]
    for line in index.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or parts[0].startswith("00-database") or parts[0].startswith("00data"):
            continue
        start, length = decode_number(parts[1]), decode_number(parts[2])
        text = blob[start : start + length].decode("utf-8", errors="replace").strip()
        if text:
            yield make_record(text, f"dictd_{name}", license, headword=parts[0])
