"""Public-domain Bible commentaries from Debian's SWORD modules (``sword-comm-*`` packages).

A SWORD ``zCom`` module is ``usr/share/sword/modules/comments/zcom/<mod>/{ot,nt}.{b,c}z{s,v,z}``:
``*.?zs`` lists compressed blocks (offset, size, uncompressed size: three little-endian uint32),
``*.?zz`` holds the zlib blocks, and ``*.?zv`` maps each verse to (block, offset, size) inside the
uncompressed block: uint32, uint32 and a uint16 size in ``.bzv`` (zCom) or uint32 in ``.czv``
(zCom4). Entries shared by several verses are read once. Entries are ThML/OSIS markup, stripped
with ``html.parser``; one block is decompressed at a time.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from data_catalog.sources.bulk.common import Doc, extract_deb, markup_paragraphs, passage_records

NAME = "sword_commentaries"
MODULES = {
    "tdavid": ("sword-comm-tdavid", "Public domain (C. H. Spurgeon, The Treasury of David)"),
    "mhcc": ("sword-comm-mhcc", "Public domain (Matthew Henry's Concise Commentary)"),
    "scofield": ("sword-comm-scofield", "Public domain (Scofield Reference Notes, 1917)"),
}
LICENSE = "Public domain (Spurgeon's Treasury of David, Matthew Henry, Scofield 1917 notes)"
_PREFIX = "usr/share/sword/modules/comments/zcom/"


def fetch(cache: Path) -> Path:
    """Download and unpack the three commentary packages; return the ``zcom`` folder."""
    root = Path(cache) / "extracted" / "sword"
    for mod, (package, _) in MODULES.items():

        def select(member: str, mod: str = mod) -> str | None:
            prefix = f"{_PREFIX}{mod}/"
            return member[len(prefix) :] if member.startswith(prefix) else None

        extract_deb(package, cache, f"sword/{mod}", select)
    return root


def module_entries(folder: Path) -> Iterator[str]:
    """The raw entries of one zCom/zCom4 module folder, Old then New Testament."""
    for testament in ("ot", "nt"):
        for kind, vfmt in (("b", "<IIH"), ("c", "<III")):
            blocks_path = folder / f"{testament}.{kind}zs"
            if blocks_path.exists() and blocks_path.stat().st_size:
                yield from _testament_entries(folder, f"{testament}.{kind}z", vfmt)


def _testament_entries(folder: Path, stem: str, vfmt: str) -> Iterator[str]:
    blocks = list(struct.iter_unpack("<III", (folder / f"{stem}s").read_bytes()))
    vsize = struct.calcsize(vfmt)
    verses = (folder / f"{stem}v").read_bytes()
    seen: set[tuple[int, int]] = set()
    current, data = -1, b""
    with open(folder / f"{stem}z", "rb") as zfh:
        for block, offset, size in struct.iter_unpack(vfmt, verses[: len(verses) // vsize * vsize]):
            if size == 0 or block >= len(blocks) or (block, offset) in seen:
                continue
            seen.add((block, offset))
            if block != current:
                start, length, _ = blocks[block]
                zfh.seek(start)
                data, current = zlib.decompress(zfh.read(length)), block
            yield data[offset : offset + size].decode("utf-8", errors="replace")


def _paragraphs(folder: Path) -> Iterator[str]:
    for entry in module_entries(folder):
        yield from markup_paragraphs(entry, min_words=3)


def parse(root: Path) -> Iterator[dict[str, Any]]:
    """Passages of every module folder under ``root`` (``<mod>/ot.bzs`` ...)."""
    folders = sorted(p for p in Path(root).iterdir() if p.is_dir())
    docs = (
        Doc(f.name, _paragraphs(f), MODULES[f.name][1] if f.name in MODULES else None)
        for f in folders
    )
    return passage_records(docs, NAME, LICENSE)
