"""The large real sources (``data_catalog/sources/bulk``), the passage cutter, compact decontam.

Offline and fast: every parser reads its committed excerpt in ``tests/fixtures/sources``
(laid out like the extracted cache; see that folder's README), nothing is downloaded.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from data_catalog.sources import SOURCES, get_source
from data_catalog.sources.bulk import BULK_RECORDS, BULK_SOURCES
from data_catalog.sources.bulk.bible import translation_lines
from data_catalog.sources.bulk.common import is_prose, markup_paragraphs
from data_catalog.sources.bulk.docs import pod_paragraphs
from data_catalog.sources.decontam import (
    CompactDecontaminator,
    DecontaminationCount,
    Decontaminator,
    decontaminated,
)
from data_catalog.sources.text import PassageDedup, cut_passages, make_record

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"
BULK = [s.name for s in BULK_SOURCES]


def _records(name: str) -> list[dict]:
    source = get_source(name)
    path = source.fixture_path(FIXTURES)
    assert path is not None, f"no committed excerpt for {name}"
    return list(source.parse(path))


# --- the sources on their excerpts -------------------------------------------------------------


def test_bulk_sources_are_registered_with_licences():
    assert set(BULK) == {
        "bible",
        "debian_docs",
        "sword_commentaries",
        "gutenberg",
        "sotu",
        "gcide_passages",
    }
    assert set(BULK_RECORDS) == set(BULK) and sum(BULK_RECORDS.values()) >= 1_000_000
    for source in BULK_SOURCES:
        assert SOURCES[source.name] is source
        assert source.license and source.fixture_subdir


@pytest.mark.parametrize("name", BULK)
def test_each_bulk_parser_yields_unique_passages_within_bounds(name):
    records = _records(name)
    assert len(records) >= 20
    texts = [r["text"] for r in records]
    assert len(set(texts)) == len(texts)
    for rec in records:
        assert rec["source"] == name and rec["license"]
        assert 40 <= len(rec["text"].split()) <= 300
        assert rec["metadata"]["doc"]


def test_bible_reads_both_wheel_layouts_without_brackets():
    kjv = FIXTURES / "bible" / "kjv" / "plain_text_readers_bible.txt"
    akjv = FIXTURES / "bible" / "akjv" / "plain_text_readers_bible.txt"
    kjv_lines = list(translation_lines(kjv))
    assert kjv_lines[0].startswith("In the beginning God created the heaven and the earth.")
    assert len(kjv_lines) > 10 and not any("[" in line or "import" in line for line in kjv_lines)
    pieces = list(translation_lines(akjv, block_chars=2000))  # one long line, cut in pieces
    assert pieces[0].startswith("In the beginning God created") and len(pieces) > 3
    assert all(len(p) < 4000 for p in pieces)
    docs = {r["metadata"]["doc"] for r in _records("bible")}
    assert docs == {"kjv", "akjv"}


def test_sword_reads_zcom_and_zcom4_modules():
    records = _records("sword_commentaries")
    by_doc = {r["metadata"]["doc"] for r in records}
    assert by_doc == {"scofield", "tdavid"}  # .bz? (zCom) and .cz? (zCom4) modules
    assert all("<" not in r["text"] for r in records)  # markup stripped
    assert any("Public domain" in r["license"] for r in records)


def test_gutenberg_leaves_out_its_kjv_copy():
    docs = {r["metadata"]["doc"] for r in _records("gutenberg")}
    assert docs == {"carroll-alice"}
    assert (FIXTURES / "gutenberg" / "bible-kjv.txt").exists()


def test_gcide_merges_short_entries_into_passages():
    records = _records("gcide_passages")
    assert any("\n\n" in r["text"] for r in records)  # several entries in one passage
    assert all("GPL" in r["license"] for r in records)


def test_debian_docs_keep_prose_and_per_package_licences():
    records = _records("debian_docs")
    licences = {r["metadata"]["doc"].split("/")[0]: r["license"] for r in records}
    assert set(licences) == {"python3.11-doc", "perl-doc", "gnome-user-docs", "linux-doc-6.1"}
    assert "PSF" in licences["python3.11-doc"] and "GPL" in licences["linux-doc-6.1"]
    text = " ".join(r["text"] for r in records)
    assert "shaunm@gnome.org" not in text  # Mallard <info> credits skipped


def test_markup_and_pod_readers():
    html = (
        "<html><head><title>T</title></head><body><div class='sphinxsidebar'><p>side bar "
        "words that are many more than eight here</p></div><p>Keep this paragraph, it has "
        "<code>inline</code> code and enough words.</p><pre>x = 1 and more code words here ok"
        "</pre><p>short one</p></body></html>"
    )
    assert markup_paragraphs(html) == ["Keep this paragraph, it has inline code and enough words."]
    signature = (
        "leftJustified(int width, QChar fill = QLatin1Char(' '), bool truncate = false) const"
    )
    assert not is_prose(signature)
    enum = "SectionFlag { SectionDefault, SectionSkipEmpty, SectionIncludeLeadingSep, Other, More }"
    assert len(enum.split()) >= 8 and not is_prose(enum)
    assert is_prose("The QString class provides a Unicode character string, with more to say.")
    pod = [
        "=head1 NAME\n",
        "\n",
        "Use B<strict> and C<warnings> in every L<perl|perlintro> program you write today.\n",
        "\n",
        "    my $code = 'is dropped because it is indented verbatim text';\n",
    ]
    assert list(pod_paragraphs(pod)) == [
        "Use strict and warnings in every perl program you write today."
    ]


# --- the passage cutter ------------------------------------------------------------------------


def _words(n: int, start: int = 0) -> str:
    return " ".join(f"w{i}" for i in range(start, start + n))


def test_cut_passages_respects_word_bounds():
    rng = random.Random(0)
    paragraphs = []
    for _ in range(200):
        sentences = [_words(rng.randint(1, 60)) + "." for _ in range(rng.randint(1, 8))]
        paragraphs.append(" ".join(sentences))
    paragraphs.append(_words(1000) + ".")  # a run-on "sentence" of 1000 words
    passages = list(cut_passages(paragraphs))
    assert passages
    assert all(40 <= len(p.split()) <= 300 for p in passages)
    total_in = sum(len(p.split()) for p in paragraphs)
    total_out = sum(len(p.split()) for p in passages)
    assert total_in - 40 < total_out <= total_in  # at most a short tail is lost


def test_cut_passages_ends_at_sentences_and_keeps_paragraph_breaks():
    para = [f"Sentence {i} has exactly seven words here." for i in range(12)]
    passages = list(cut_passages([" ".join(para[:5]), " ".join(para[5:])]))  # 35 + 49 words
    assert all(p.endswith(".") for p in passages)
    assert all(40 <= len(p.split()) <= 300 for p in passages)
    assert any("\n\n" in p for p in passages)


def test_cut_passages_tail_and_small_documents():
    assert list(cut_passages([_words(10) + "."])) == []  # under the minimum: nothing
    out = list(cut_passages([_words(45) + ".", _words(12, 100) + "."]))
    assert len(out) == 1 and len(out[0].split()) == 57  # the tail joins the last passage
    with pytest.raises(ValueError):
        list(cut_passages(["x"], min_words=50, max_words=40))


def test_passage_dedup_ignores_case_and_spacing():
    seen = PassageDedup()
    assert seen.is_new("The Same  text")
    assert not seen.is_new("the same text")
    assert seen.is_new("another text")
    assert len(seen) == 2 and seen.dropped == 1


# --- compact decontamination -------------------------------------------------------------------


def test_compact_decontaminator_matches_the_tuple_one():
    rng = random.Random(1)
    vocab = [f"v{i}" for i in range(30)]
    protected = [" ".join(rng.choices(vocab, k=200)) for _ in range(5)]
    old, new = Decontaminator(protected), CompactDecontaminator(protected)
    assert len(old) == len(new)
    docs = [" ".join(rng.choices(vocab, k=60)) for _ in range(300)]
    docs += [p[: len(p) // 3] + " extra" for p in protected]  # real overlaps
    docs += ["Short text.", ""]
    answers = [old.overlaps(d) for d in docs]
    assert answers == [new.overlaps(d) for d in docs]
    assert [old.is_clean(d) for d in docs] == [new.is_clean(d) for d in docs]
    assert any(answers) and not all(answers)


def test_decontaminated_drops_a_planted_overlap_and_counts():
    target = " ".join(f"target{i}" for i in range(30))
    planted = "Intro words. " + " ".join(f"target{i}" for i in range(5, 20)) + " outro."
    records = [make_record(_words(50), "x", "l"), make_record(planted, "x", "l")]
    records += [make_record(_words(50, 1000), "x", "l")]
    counts = DecontaminationCount()
    kept = list(decontaminated(iter(records), [target], counts))
    assert [r["text"] for r in kept] == [records[0]["text"], records[2]["text"]]
    assert (counts.kept, counts.dropped) == (2, 1)
    checker = CompactDecontaminator([target])
    assert len(list(decontaminated(records, checker))) == 2
