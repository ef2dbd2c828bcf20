"""The `Source` record: one named real source, how to fetch it, parse it, and test it offline."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Source:
    """A named real source: how to fetch it, how to parse it, where its test excerpt lives."""

    name: str
    license: str
    registry: str  # the pinned artifact, for the README and error messages
    fetch_fn: Callable[[Path], Path]
    parse_fn: Callable[[Path], Iterator[dict[str, Any]]]
    fixture_subdir: str | None  # folder under tests/fixtures/sources; None: not committed
    planted: str | None = None  # metadata["planted"] label when all records are bad data
    optional: bool = False  # Debian-only sources
    role: str = "pool"  # "pool" (documents) or "target" (prompt → completion examples)
    downloads: tuple[str, ...] = ()  # files under cache/downloads; "apt/PKG" for Debian packages
    records: int | None = None  # records the parser gave on the full artifact (measured)
    download_bytes: int | None = None  # size of the downloads (measured)

    @property
    def kind(self) -> str:
        """``pool``, ``target`` or ``planted`` (a pool source whose every record is bad data)."""
        return "planted" if self.planted else self.role

    def is_cached(self, cache: Path) -> bool:
        """Whether every download is in the cache (so the source works offline)."""
        folder = Path(cache) / "downloads"
        for name in self.downloads:
            if name.startswith("apt/") and not name.endswith(".deb"):
                if not any((folder / "apt").glob(f"{name[4:]}_*.deb")):
                    return False
            elif not (folder / name).exists():
                return False
        return True

    def fetch(self, cache: Path) -> Path:
        """Download and extract (once); return the folder ``parse`` reads."""
        return self.fetch_fn(Path(cache))

    def parse(self, path: Path) -> Iterator[dict[str, Any]]:
        """Records from an extracted folder or file (the cache's, or a fixture's)."""
        return self.parse_fn(Path(path))

    def iter_records(self, cache: Path) -> Iterator[dict[str, Any]]:
        """Fetch if needed, then parse."""
        return self.parse(self.fetch(cache))

    def fixture_path(self, fixtures_dir: Path) -> Path | None:
        """Where this source's committed excerpt lives, or None when there is none."""
        if self.fixture_subdir is None:
            return None
        path = Path(fixtures_dir) / self.fixture_subdir
        return path if path.exists() else None
