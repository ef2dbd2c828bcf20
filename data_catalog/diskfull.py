"""Recognise "disk full" from any layer (OS, pyarrow, DuckDB) and report it as one clean error.

A full disk shows up as `OSError(ENOSPC)` from Python, as an `OSError` carrying only the text
from pyarrow, and as a `duckdb` exception whose message ends in "No space left on device". The
writers here (ingest staging and commit, export) wrap their work in `disk_full_guard` so the
user sees one `CatalogError` line that names the path being written and says nothing was
changed, instead of a traceback. Callers must make the guarded work all-or-nothing themselves.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from data_catalog.errors import CatalogError, DsdmError

_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_DISK_FULL_TEXT = ("no space left on device", "disk quota exceeded", "file too large")


def is_disk_full(exc: BaseException) -> bool:
    """True when `exc` (or an exception it wraps) says the device or quota is full."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno in _DISK_FULL_ERRNOS:
            return True
        if any(t in str(cur).lower() for t in _DISK_FULL_TEXT):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


@contextmanager
def disk_full_guard(what: str, where: Path | str, unchanged: str) -> Iterator[None]:
    """Turn a disk-full failure inside the block into CatalogError naming `what` and `where`."""
    try:
        yield
    except DsdmError:
        raise
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        raise CatalogError(
            f"no space left on the device while {what} ({where}); {unchanged}. "
            "Free some disk space and run it again"
        ) from exc
