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
# package | pages kept: a pattern under usr/share/ (one "*") | licence; one package a line
_TABLE = """
python3.11-doc | doc/python3.11/html/*.html | PSF-2.0 (Python docs)
perl-doc | perl/5.36.0/pod/*.pod | Artistic-1.0 or GPL-1.0+ (Perl docs)
gnome-user-docs | help/C/*.page | CC-BY-SA-3.0 (GNOME help)
libreoffice-help-en-us | libreoffice/help/en-US/*.html | MPL-2.0 (LibreOffice help)
debian-reference-en | debian-reference/*.en.html | GPL-2.0+
git-doc | doc/git-doc/*.html | GPL-2.0 (Git docs)
debian-handbook | doc/debian-handbook/html/en-US/*.html | CC-BY-SA-3.0 or GPL-2.0+ (Debian Handbook)
linux-doc-6.1 | doc/linux-doc-6.1/html/*.html | GPL-2.0 (Linux kernel docs)
openjdk-17-doc | doc/openjdk-17-jre-headless/api/*.html | GPL-2.0 WITH Classpath-exception (OpenJDK)
postgresql-doc-15 | doc/postgresql-doc-15/html/*.html | PostgreSQL License
python-django-doc | doc/python-django-doc/html/*.html | BSD-3-Clause (Django)
nodejs-doc | doc/nodejs/api/*.html | MIT (Node.js docs)
erlang-doc | doc/erlang-doc/*.html | Apache-2.0 (Erlang/OTP docs)
sphinx-doc | doc/sphinx-doc/html/*.html | BSD-2-Clause (Sphinx docs)
debian-policy | doc/debian-policy/*.html | GPL-2.0+ (Debian Policy)
bind9-doc | doc/bind9-doc/arm/*.html | MPL-2.0 (BIND 9 ARM)
python-pandas-doc | doc/python-pandas-doc/html/*.html | BSD-3-Clause (pandas)
ghc-doc | doc/ghc-doc/html/*.html | BSD-3-Clause (GHC docs)
python-sqlalchemy-doc | doc/python-sqlalchemy-doc/html/*.html | MIT (SQLAlchemy docs)
llvm-15-doc | doc/llvm-15-doc/html/*.html | Apache-2.0 WITH LLVM-exception
cmake-doc | doc/cmake-data/html/*.html | BSD-3-Clause (CMake docs)
libboost1.74-doc | doc/libboost1.74-doc/*.html | BSL-1.0 (Boost docs)
qtbase5-doc-html | qt5/doc/*.html | GFDL-1.3 (Qt 5 docs)
octave-doc | doc/octave/*.html | GPL-3.0+ (GNU Octave manual)
rust-doc | doc/rust-doc/html/*.html | MIT or Apache-2.0 (Rust docs)
python-sympy-doc | doc/python-sympy-doc/html/*.html | BSD-3-Clause (SymPy docs)
python-astropy-doc | doc/python-astropy-doc/html/*.html | BSD-3-Clause (Astropy docs)
lilypond-doc-html | doc/lilypond/html/*.html | GFDL-1.3+ (LilyPond manuals)
apache2-doc | doc/apache2-doc/manual/en/*.html | Apache-2.0 (Apache HTTP Server docs)
zsh-doc | doc/zsh-common/html/*.html | Zsh licence (MIT-style)
postfix-doc | doc/postfix/html/*.html | IPL-1.0 or EPL-2.0 (Postfix docs)
exim4-doc-html | doc/exim4-doc-html/spec_html/*.html | GPL-2.0+ (Exim spec)
racket-doc | doc/racket/*.html | Apache-2.0 or MIT (Racket docs)
python-scipy-doc | doc/python-scipy-doc/html/*.html | BSD-3-Clause (SciPy docs)
python-statsmodels-doc | doc/python-statsmodels-doc/html/*.html | BSD-3-Clause (statsmodels)
maxima-doc | doc/maxima-doc/html/*.html | GPL-2.0 (Maxima manual)
python-dask-doc | doc/python-dask-doc/html/*.html | BSD-3-Clause (Dask docs)
python-celery-doc | doc/python-celery-doc/html/*.html | BSD-3-Clause (Celery docs)
python-werkzeug-doc | doc/python-werkzeug-doc/html/*.html | BSD-3-Clause (Werkzeug docs)
python-flask-doc | doc/python-flask-doc/html/*.html | BSD-3-Clause (Flask docs)
developers-reference | developers-reference/*.html | GPL-2.0 (Developer's Reference)
python-mpmath-doc | doc/python-mpmath-doc/html/*.html | BSD-3-Clause (mpmath docs)
python-scrapy-doc | doc/python-scrapy-doc/html/*.html | BSD-3-Clause (Scrapy docs)
python-ipython-doc | doc/python-ipython-doc/html/*.html | BSD-3-Clause (IPython docs)
cython-doc | doc/cython-doc/html/*.html | Apache-2.0 (Cython docs)
python-xarray-doc | doc/python-xarray-doc/html/*.html | Apache-2.0 (xarray docs)
python-pygame-doc | doc/python-pygame-doc/html/*.html | LGPL-2.1+ (pygame docs)
python-rdflib-doc | doc/python-rdflib-doc/html/*.html | BSD-3-Clause (rdflib docs)
python-tables-doc | doc/python-tables-doc/html/*.html | BSD-3-Clause (PyTables docs)
python-lmfit-doc | doc/python3-lmfit/html/*.html | BSD-3-Clause (lmfit docs)
python-sqlobject-doc | doc/python-sqlobject-doc/html/*.html | LGPL-2.1+ (SQLObject docs)
python-biopython-doc | doc/python-biopython-doc/*.html | Biopython License or BSD-3-Clause
"""
PACKAGES: dict[str, tuple[str, str, str]] = {
    name: ("usr/share/" + pattern.split("*")[0], pattern.split("*")[1], license)
    for name, pattern, license in (
        tuple(cell.strip() for cell in line.split("|")) for line in _TABLE.strip().split("\n")
    )
}
LICENSE = "per package (see PACKAGES): PSF, Artistic/GPL, CC-BY-SA, MPL, GPL, BSD, MIT, Apache"
_SKIP_PARTS = (
    "_sources/",
    "_static/",
    "genindex",
    "py-modindex",
    "search.html",
    "index-",
    "big-page",
)
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
