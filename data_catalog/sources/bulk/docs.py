"""English software manuals from Debian documentation packages, as prose passages.

Each package is pinned (`common.DEBS`) and only its English pages are unpacked, under
``debian_docs/<package>/``: HTML (tags stripped with ``html.parser``, code blocks, scripts and
navigation skipped), GNOME's Mallard ``.page`` XML, and Perl's POD (commands and indented code
dropped, formatting codes unwrapped). Paragraphs under 8 words (headings, menus) are left out.
One page is read at a time; each package keeps its own licence in the records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from data_catalog.sources.bulk.common import Doc, extract_deb, markup_paragraphs, passage_records

NAME = "debian_docs"
# package: (member prefix kept, file suffix, licence)
PACKAGES: dict[str, tuple[str, str, str]] = {
    "python3.11-doc": ("usr/share/doc/python3.11/html/", ".html", "PSF-2.0 (Python docs)"),
    "perl-doc": ("usr/share/perl/5.36.0/pod/", ".pod", "Artistic-1.0 or GPL-1.0+ (Perl docs)"),
    "gnome-user-docs": ("usr/share/help/C/", ".page", "CC-BY-SA-3.0 (GNOME help)"),
    "libreoffice-help-en-us": (
        "usr/share/libreoffice/help/en-US/",
        ".html",
        "MPL-2.0 (LibreOffice help)",
    ),
    "debian-reference-en": ("usr/share/debian-reference/", ".en.html", "GPL-2.0+"),
    "git-doc": ("usr/share/doc/git-doc/", ".html", "GPL-2.0 (Git docs)"),
    "debian-handbook": (
        "usr/share/doc/debian-handbook/html/en-US/",
        ".html",
        "CC-BY-SA-3.0 or GPL-2.0+ (The Debian Administrator's Handbook)",
    ),
    "linux-doc-6.1": ("usr/share/doc/linux-doc-6.1/html/", ".html", "GPL-2.0 (Linux kernel docs)"),
    "openjdk-17-doc": (
        "usr/share/doc/openjdk-17-jre-headless/api/",
        ".html",
        "GPL-2.0 with Classpath exception (OpenJDK API docs)",
    ),
    "postgresql-doc-15": ("usr/share/doc/postgresql-doc-15/html/", ".html", "PostgreSQL License"),
    "python-django-doc": (
        "usr/share/doc/python-django-doc/html/",
        ".html",
        "BSD-3-Clause (Django)",
    ),
    "nodejs-doc": ("usr/share/doc/nodejs/api/", ".html", "MIT (Node.js docs)"),
    "erlang-doc": ("usr/share/doc/erlang-doc/", ".html", "Apache-2.0 (Erlang/OTP docs)"),
    "sphinx-doc": ("usr/share/doc/sphinx-doc/html/", ".html", "BSD-2-Clause (Sphinx docs)"),
    "debian-policy": ("usr/share/doc/debian-policy/", ".html", "GPL-2.0+ (Debian Policy)"),
    "bind9-doc": ("usr/share/doc/bind9-doc/arm/", ".html", "MPL-2.0 (BIND 9 ARM)"),
    "python-pandas-doc": (
        "usr/share/doc/python-pandas-doc/html/",
        ".html",
        "BSD-3-Clause (pandas)",
    ),
    "ghc-doc": ("usr/share/doc/ghc-doc/html/", ".html", "BSD-3-Clause (GHC docs)"),
}
LICENSE = "per package (see PACKAGES): PSF, Artistic/GPL, CC-BY-SA, MPL, GPL, BSD, MIT, Apache"
_SKIP_PARTS = ("_sources/", "_static/", "genindex", "py-modindex", "search.html", "index-")
_POD_CODE = re.compile(r"[A-Z]<+\s*([^<>]*?)\s*>+")


def fetch(cache: Path) -> Path:
    """Download each pinned package (once) and unpack its English pages."""
    root = Path(cache) / "extracted" / "debian_docs"
    for package, (prefix, suffix, _) in PACKAGES.items():

        def select(member: str, prefix: str = prefix, suffix: str = suffix) -> str | None:
            rel = member[len(prefix) :]
            if not member.startswith(prefix) or not member.endswith(suffix):
                return None
            return None if any(part in rel for part in _SKIP_PARTS) else rel

        extract_deb(package, cache, f"debian_docs/{package}", select)
    return root


def _pod_text(text: str) -> str:
    for _ in range(3):  # nested codes like B<C<...>>
        text = _POD_CODE.sub(lambda m: m.group(1).split("|")[0], text)
    return text


def pod_paragraphs(lines: Iterable[str], min_words: int = 8) -> Iterator[str]:
    """Prose paragraphs of a POD file: ``=commands`` and indented (code) blocks dropped."""
    block: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            block.append(line.rstrip("\n"))
            continue
        if block and not block[0].startswith(("=", " ", "\t")):
            text = " ".join(_pod_text(" ".join(block)).split())
            if len(text.split()) >= min_words:
                yield text
        block = []


def page_paragraphs(path: Path) -> Iterator[str]:
    """Prose paragraphs of one documentation page (HTML, Mallard XML or POD)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        if path.suffix == ".pod":
            yield from pod_paragraphs(fh)
        else:
            yield from markup_paragraphs(fh.read())


def _docs(root: Path) -> Iterator[Doc]:
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        license = PACKAGES.get(folder.name, ("", "", LICENSE))[2]
        pages = sorted(
            p for p in folder.rglob("*") if p.suffix in (".html", ".page", ".pod") and p.is_file()
        )
        for page in pages:
            yield Doc(f"{folder.name}/{page.relative_to(folder)}", page_paragraphs(page), license)


def parse(root: Path) -> Iterator[dict[str, Any]]:
    """Passages of every page under ``root/<package>/`` (each page its own document)."""
    return passage_records(_docs(root), NAME, LICENSE)
