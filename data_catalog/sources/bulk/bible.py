"""27 English Bible translations from the ``pythonbible-*`` wheels on PyPI (version 0.0.2).

Each wheel holds ``pythonbible_<abbr>/plain_text_readers_bible.py``: generated Python whose one
triple-quoted string is the whole translation without verse numbers (one reader's paragraph per
line in some wheels, all on one line in most). It is unpacked as
``<abbr>/plain_text_readers_bible.txt`` and read as text in blocks (never imported or executed).
Translators' square brackets (words supplied in italics) are dropped. The texts are public-domain
translations; the wheels are MIT-licensed packaging.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from data_catalog.sources.bulk.common import Doc, passage_records
from data_catalog.sources.cache import Artifact, extract_once, fetch_artifact

NAME = "bible"
LICENSE = (
    "Public domain (24 Bible translations; MKJV1963, BWE, RYLT: see each record); "
    "pythonbible-* packaging MIT"
)
# translations that are not (clearly) public domain: copyrighted, distributed by permission
PD = "Public domain (Bible translation); pythonbible-* packaging MIT"
NOT_PD = "copyrighted, freely distributable by permission (not verified here); packaging MIT"
LICENSES = {"mkjv1963": NOT_PD, "bwe": NOT_PD, "rylt": NOT_PD}
VERSION = "0.0.2"
FILE = "plain_text_readers_bible.py"
TEXT = "plain_text_readers_bible.txt"  # the same file unpacked under a non-Python name
SHA256 = {
    "akjv": "2316b29c717bcfde78ccc7bb1c5585ad53abb1b62c98fa67713b46830e015fb9",
    "asv": "d5f7a0ff67967b6b1f901a7f57895e2e38f5e748743bbafdbfbffdc8895f37c8",
    "bbe": "a71f4d0aa9ba42df0d98edfa42c4139c4dabcf5303bc2e9339f0d55913b039b6",
    "bwe": "64fc37c35f46fe0eab8477e7e38559b7dd5c8a9986afc6d81b9f9b93d58471ce",
    "dar": "10756965758580351741d4589bcf980cc5d0eb3808f74d8ace211d887756543e",
    "diaglot": "c43ce665722e003cacbc7b447da5e030c7d0434df04b365a885f60a55d0734f4",
    "dr": "562e35d3ac041d239c5a7fcfdcdae96f40891d68a5a5889821f7f12d8581fe29",
    "etheridge": "9c7d7b75f31a3a1528ad4ffba6ffd7008827126f912c39f7f451b0f76b732233",
    "gb": "c9339f022dff4dcf3bbc0def924c1727cb08b955b2c9e22dc064dd17e4f43c17",
    "kjv": "513f152479533971ac01b476e9d7e3d7522bd13e17f1bbaab63373195fb04914",
    "leeser": "1e6933e9eb2a1bbbd8b5978a19a9c15f4e4025f79f411d0821f5b668a7674e7b",
    "lont": "edb26dcfa896b8ffd554baf03a2a6c1f79aeb8c045b499f7f4344a3992e6bfe3",
    "mkjv1963": "861c01d81c7ba9027e257211491fb3d4850fd50115600f2b6ad279493ddf2f7c",
    "mont": "ed0a5405f5cc502f40adcda68010ccd5f19f414bb789006ad0d635592fc6d58f",
    "nheb": "53bd14036d5f38cf59d82f4f5b741acc141860ba5c4d6d8c0df6f8c948b7350a",
    "oeb": "c604b74c2c308c3ee2459c783e6f90d2657855a61fb742f5798fefa7432d718b",
    "roth": "c8e189bbf3eaed7c09691564be084cb4a04077914eb4c3a56c27dbb6db17132f",
    "rwebster": "0b356ccafb475157b14b8f65d27071fc65e8ab413220d5146f2faf444c2eb0ef",
    "rylt": "56c10403bd96f99ea510cab9b56cd8837a57d609b5d8bcb36a9cb9d24221c001",
    "tyn": "68d52d9b8d8fad4ed8ce036d8f9cd5622207756fdf5ce4b210ff1f895f2025b8",
    "ukjv": "61707b09697ab8712615d387045e8caaf0bb91c6ed53ec1d5e95c3e32dfcb1ad",
    "wbs": "b166eef9f63a877edcf6b3e2ed8464e814664deb430a90af84875be397dfafce",
    "web": "66f90ca618551e0bc0dccf0c69d8042fb0083cae099b70d8c4fa3aaea0deab64",
    "wesley": "8ab27796f04340b30f68fbbb9943b5cfd311753a7050960074d86e0deaaf2905",
    "wmth": "7d7900a29a39b587a827c204734ba8bd7c431959bd6102f1d7088cf34a71563a",
    "wyc": "180ed44abdfd83de3b5b91a89a05387406033f7a7883ba3324a11630a3d3339f",
    "ylt": "dfff6ff29788ab270852d38bdd041b65d37fc6945a63a12370bc34503a327517",
}
ARTIFACTS = {
    abbr: Artifact(f"pythonbible-{abbr}", f"pythonbible_{abbr}-{VERSION}-py3-none-any.whl", sha)
    for abbr, sha in SHA256.items()
}


def fetch(cache: Path) -> Path:
    """Download the 27 wheels (once) and unpack each reader text to ``bible/<abbr>/*.txt``."""
    root = Path(cache) / "extracted" / "bible"
    for abbr, artifact in ARTIFACTS.items():
        wheel = fetch_artifact(artifact, cache)
        member = f"pythonbible_{abbr}/{FILE}"
        extract_once(wheel, root / abbr, lambda m, member=member: TEXT if m == member else None)
    return root


def _clean(line: str) -> str:
    return line.replace("[", "").replace("]", "").strip()


def translation_lines(path: Path, block_chars: int = 1 << 16) -> Iterator[str]:
    """The lines of the one triple-quoted string in a generated ``*_bible.py`` file, streamed.

    Most wheels put a whole translation on one line; such a line comes out in pieces of about
    ``block_chars`` characters cut after a sentence end, so memory stays bounded.
    """
    buf = ""
    started = False
    with open(path, encoding="utf-8", errors="replace") as fh:
        while True:
            block = fh.read(block_chars)
            buf += block
            if not started:
                i = buf.find('"""')
                if i < 0:
                    if not block:
                        return
                    buf = buf[-2:]
                    continue
                started, buf = True, buf[i + 3 :]
            end = buf.find('"""')
            done = end >= 0 or not block
            lines = (buf if end < 0 else buf[:end]).split("\n")
            buf = "" if done else lines.pop()
            if len(buf) > block_chars:
                cut = buf.rfind(". ", 0, len(buf) - 3) + 1
                if cut > 0:
                    lines.append(buf[:cut])
                    buf = buf[cut:]
            yield from filter(None, map(_clean, lines))
            if done:
                return


def parse(root: Path) -> Iterator[dict[str, Any]]:
    """Passages of every translation folder under ``root`` (``<abbr>/plain_text_readers...``)."""
    files = sorted(Path(root).glob(f"*/{TEXT}"))
    docs = (
        Doc(path.parent.name, translation_lines(path), LICENSES.get(path.parent.name, PD))
        for path in files
    )
    return passage_records(docs, NAME, LICENSE)
