"""Opening (possibly compressed) input files, and turning decoder failures into plain words.

Readers stream lines out of `.gz`/`.zst` files; the decoders below them fail with library
exception types (`zlib.error`, `ZstdError`, `EOFError`, pyarrow's `ArrowException`) that mean
nothing to a user. `describe_read_error` maps each to one sentence ("corrupt gzip data", "file
is truncated") so that `readers.read_records` can raise a single `InputError` naming the file and
the last good line. zstd gets its own raw stream because `zstandard`'s stream reader ends
quietly at a cut-off frame, which used to surface as "malformed JSON" on the last partial line.
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path
from typing import IO

import pyarrow as pa
import zstandard

_CHUNK = 1 << 16


class TruncatedError(Exception):
    """A compressed stream stopped mid-frame: the file was cut short (download or copy)."""


class _ZstdRaw(io.RawIOBase):
    """Decompress zstd frames one after another and notice when the file ends inside a frame."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._dobj = self._dctx.decompressobj()
        self._in_frame = False
        self._buf = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buf:
            chunk = self._raw.read(_CHUNK)
            if not chunk:
                if self._in_frame:
                    raise TruncatedError("the zstd stream ends in the middle of a frame")
                return 0
            self._buf = memoryview(self._feed(chunk))
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def _feed(self, data: bytes) -> bytes:
        out = []
        while data:
            out.append(self._dobj.decompress(data))
            self._in_frame = not self._dobj.eof
            if not self._dobj.eof:
                break
            # A finished frame: whatever follows is the next frame (zstd files may hold several).
            data = self._dobj.unused_data
            self._dobj = self._dctx.decompressobj()
        return b"".join(out)


def open_binary(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """(raw file for progress, decompressed stream), by the file name's last suffix."""
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    name = path.name.lower()
    if name.endswith(".gz"):
        return raw, gzip.GzipFile(fileobj=raw)
    if name.endswith(".zst"):
        return raw, io.BufferedReader(_ZstdRaw(raw), buffer_size=_CHUNK)
    return raw, raw


# Exception types a damaged or unreadable file can raise from the decoders below the readers;
# anything else is a bug and should keep its traceback.
READ_ERRORS: tuple[type[BaseException], ...] = (
    TruncatedError,
    EOFError,
    zlib.error,
    zstandard.ZstdError,
    pa.ArrowException,
    OSError,
    ValueError,  # UnicodeDecodeError, pyarrow's ArrowInvalid
)


def describe_read_error(exc: BaseException, kind: str) -> str:
    """One sentence for a decoder failure, saying what is wrong with the file."""
    if isinstance(exc, TruncatedError | EOFError):
        return f"file is truncated (incomplete download or copy?): {exc or 'the stream ends early'}"
    if isinstance(exc, zlib.error):
        return f"corrupt gzip data ({exc})"
    if isinstance(exc, gzip.BadGzipFile):
        return f"not valid gzip data ({exc})"
    if isinstance(exc, zstandard.ZstdError):
        return f"corrupt zstd data ({exc})"
    if isinstance(exc, UnicodeDecodeError):
        return f"invalid UTF-8 ({exc.reason})"
    if kind == "parquet" and isinstance(exc, pa.ArrowException | OSError | ValueError):
        return f"corrupt Parquet data ({exc})"
    return f"cannot read ({type(exc).__name__}: {exc})"
