"""Every user-supplied number, name, path and run id is checked where it enters (issue 19).

Each case failed on the old code with a traceback or was accepted silently; now it is one
`error:` line naming the flag, field or file, exit 2, and nothing is stored.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from data_catalog.catalog import Catalog
from dsdm_engine import cli
from dsdm_engine.cli import main


def run(capsys, ws: Path, *argv: str) -> tuple[int, str]:
    """Exit code and stderr of `dsdm --workspace WS ARGV...` (argparse errors exit 2 too)."""
    try:
        code = main(["--workspace", str(ws), *argv])
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


@pytest.fixture
def ws(scored):
    cat, proxies, features, scores = scored
    return cat.workspace.root, proxies, features, scores


FLAG_CASES = [
    (["select", "--method", "random", "--pool", "p", "--k", "5", "--seed", str(2**70)], "--seed"),
    (["map", "--pool", "p", "--seed", "-1"], "--seed"),
    (["jobs", "list", "--limit", "0"], "--limit"),
    (["pool", "show", "p", "--limit", "-1"], "--limit"),
    (["target", "show", "cook", "--examples", "-1"], "--examples"),
    (["evaluate", "--pool", "p", "--target", "cook", "--lr", "nan"], "--lr"),
    (["evaluate", "--pool", "p", "--target", "cook", "--passes", "nan"], "--passes"),
    (["proxy", "train", "--pool", "p", "--lr", "inf"], "--lr"),
    (["proxy", "train", "--pool", "p", "--weight-decay", "nan"], "--weight-decay"),
    (["score", "--pool", "p", "--target", "cook", "--lambda-rel", "nan"], "--lambda-rel"),
    (["score", "--pool", "p", "--target", "cook", "--query-damping", "inf"], "--query-damping"),
    (
        ["score", "--pool", "p", "--target", "cook", "--scorer", "ekfac", "--ekfac-damping", "nan"],
        "--ekfac-damping",
    ),
    (
        ["score", "--pool", "p", "--target", "cook", "--scorer", "ekfac", "--ekfac-sample", "1"],
        "--ekfac-sample",
    ),
    (["score", "--pool", "p", "--target", "cook", "--scorer", "shampoo"], "--scorer"),
    (["app", "--port", "70000"], "--port"),
]


@pytest.mark.parametrize(("argv", "flag"), FLAG_CASES)
def test_bad_numbers_name_their_flag(ws, capsys, argv, flag):
    code, err = run(capsys, ws[0], *argv)
    assert code == 2 and flag in err and "Traceback" not in err, err


def test_run_ids_of_the_wrong_kind_and_missing_inputs(ws, capsys):
    root, proxies, features, scores = ws
    cases = [
        (["score", "--target", "cook", "--features", proxies], "is a proxies run, not a features"),
        (["score", "--target", "cook", "--features", scores], "is a scores run, not a features"),
        (["featurize", "--proxies", features], "is a features run, not a proxies run"),
        (["featurize"], "give --pool"),
        (["score", "--target", "cook"], "give --pool"),
        (["featurize", "--pool", "p", "--dry-run", "--proj-dim", "0"], "--proj-dim must be"),
        (["featurize", "--pool", "p", "--proj-dim", str(10**11)], "more than this machine's"),
    ]
    if not torch.cuda.is_available():
        cases.append((["featurize", "--pool", "p", "--device", "cuda"], "--device cuda"))
        cases.append(
            (["validate", "--pool", "p", "--target", "cook", "--device", "cuda"], "--device cuda")
        )
    before = Catalog.open(root).list_runs()[["run_id", "status"]]
    for argv, message in cases:
        code, err = run(capsys, root, *argv)
        assert code == 2 and message in err, (argv, err)
        assert "Traceback" not in err
    after = Catalog.open(root).list_runs()[["run_id", "status"]]
    assert after.equals(before)  # nothing was started or stored


def test_selections_that_mean_something(ws, capsys):
    root = ws[0]
    base = ["select", "--method", "dsdm", "--pool", "p", "--target", "cook"]
    n_before = len(Catalog.open(root).list_selections("p"))
    for extra, message in [
        (["--token-budget", "2"], "--token-budget 2 is below the shortest document"),
        (["--threshold", "1e9"], "no document scores at least --threshold"),
        (["--k", "3", "--name", ""], "--name must be a non-empty name"),
        (["--k", "3", "--options", '{"nosuch": 1}'], "unknown option(s) ['nosuch'] for dsdm"),
        (["--k", "3", "--mix", "cook=nan"], "--mix 'cook=nan'"),
        (["--k", "3", "--mix", "cook=0"], "--mix 'cook=0'"),
        (["--k", "3", "--mix", "cook=inf"], "--mix 'cook=inf'"),
        (["--k", "3", "--token-budget", "2"], "--token-budget 2 is below the shortest document"),
        (["--k", "3", "--source-max-fraction", "cooking=2"], "--source-max-fraction"),
        (["--k", "3", "--source-max-fraction", "cooking=x"], "--source-max-fraction 'cooking=x'"),
    ]:
        code, err = run(capsys, root, *base, *extra)
        assert code == 2 and message in err, (extra, err)
    assert len(Catalog.open(root).list_selections("p")) == n_before  # no empty selection stored
    assert run(capsys, root, *base, "--k", "4", "--name", "pick")[0] == 0
    assert run(capsys, root, *base, "--k", "4", "--name", "pick")[0] == 0  # identical: reused
    code, err = run(capsys, root, *base, "--k", "5", "--name", "pick")
    assert code == 2 and "already has a selection named 'pick'" in err
    names = list(Catalog.open(root).list_selections("p")["name"])
    assert names.count("pick") == 1
    assert run(capsys, root, "export", "pick", "--name", "_.hidden")[0] == 0
    assert (root / "exports" / "hidden").is_dir()
    assert not any(p.name.startswith(".") for p in (root / "exports").iterdir())


def test_workspace_paths(tmp_path, capsys):
    code, err = run(capsys, tmp_path / "typo", "pool", "list")
    assert code == 2 and "no workspace at" in err and not (tmp_path / "typo").exists()
    docs = tmp_path / "d.jsonl"
    docs.write_text('{"text": "hello there"}\n')
    for odd in ("we?ird", "we[ir]d"):
        code, err = run(capsys, tmp_path / odd, "pool", "add", "p", str(docs))
        assert code == 2 and "DuckDB reads as a pattern" in err
    truncated = tmp_path / "t"
    assert run(capsys, truncated, "pool", "add", "p", str(docs))[0] == 0
    data = (truncated / "catalog.duckdb").read_bytes()
    (truncated / "catalog.duckdb").write_bytes(data[: len(data) // 3])
    code, err = run(capsys, truncated, "pool", "list")
    assert code == 2 and ("cannot open catalog" in err or "is damaged or unreadable" in err)


def test_an_internal_error_is_one_line_with_the_log_path(tmp_path, capsys, monkeypatch):
    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "cmd_pool_list", broken)
    Catalog.open(tmp_path / "ws")
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    for action in parser._subparsers._group_actions[0].choices["pool"]._subparsers._group_actions:
        action.choices["list"].set_defaults(func=broken)
    code, err = run(capsys, tmp_path / "ws", "pool", "list")
    assert code == 1 and "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: internal error (ZeroDivisionError: a bug)")
    log = Path(line.rsplit(" ", 1)[-1])
    assert log.parent == tmp_path / "ws" / "artifacts" / "logs"
    assert "Traceback" in log.read_text() and "ZeroDivisionError" in log.read_text()


def test_a_diverging_proxy_run_is_failed_with_its_step(ws, capsys):
    root = ws[0]
    argv = ["proxy", "train", "--pool", "p", "--preset", "tiny", "--models", "1",
            "--vocab-size", "300", "--seq-len", "32", "--lr", "1e30"]  # fmt: skip
    code, err = run(capsys, root, *argv)
    assert code == 2 and "training diverged at step" in err and "loss is nan" in err
    cat = Catalog.open(root)
    runs = cat.list_runs("proxies")
    assert runs.iloc[-1]["status"] == "failed"
    assert cat.list_jobs(1).iloc[0]["status"] == "failed"


LOCKER = """
import sys, time
from data_catalog.catalog import Catalog
cat = Catalog.open(sys.argv[1])
t0 = time.time()
with cat.begin_run("features", {"same": 1}) as run:
    entered = time.time()
    time.sleep(float(sys.argv[2]))
print(f"{t0} {entered} {time.time()}")
"""


def test_two_identical_runs_take_turns(tmp_path):
    Catalog.open(tmp_path / "ws")
    first = subprocess.Popen([sys.executable, "-c", LOCKER, str(tmp_path / "ws"), "2"],
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(1.0)
    second = subprocess.run([sys.executable, "-c", LOCKER, str(tmp_path / "ws"), "0"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    out1, _ = first.communicate(timeout=60)
    _, _, end1 = map(float, out1.split())
    _, entered2, _ = map(float, second.stdout.split())
    assert entered2 >= end1 - 0.05  # the second entered only after the first had finished
    assert "waiting: another process is running features-" in second.stderr
    assert Catalog.open(tmp_path / "ws").list_runs("features").iloc[0]["status"] == "done"


def test_staging_left_by_a_killed_ingest_is_removed_by_the_next(tmp_path, jsonl_file):
    cat = Catalog.open(tmp_path / "ws")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    left = cat.workspace.tmp / f"ingest-p{dead}-{'a' * 32}"
    left.mkdir(parents=True)
    (left / "part-0.parquet").write_bytes(b"x" * 1000)
    mine = cat.workspace.tmp / "ingest-p1-notours"  # not a staging name: left alone
    mine.mkdir()
    from data_catalog.ingest import ingest

    ingest(cat, "p", [str(jsonl_file([{"text": "one document"}]))])
    assert not left.exists() and mine.exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("sur.jsonl", '{"text": "bad \\ud800 here"}\n', "line 1: a lone surrogate \\ud800"),
        ("deep.jsonl", '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n", "line 1: JSON nested"),
        ("uq.csv", 'text,source\nhello,a\n"never closed,b\nmore,c\n', "line 3: malformed CSV"),
        ("short.csv", "text,source\nhello,a\nshort\n", "line 3: fewer cells than header"),
        ("bad.csv", "text,source\nhello,a\nfine,b\nok,c\nbad \udcff here,d\n",
         "line 5: invalid UTF-8"),
    ],
)  # fmt: skip
def test_damaged_pool_inputs_name_file_and_line(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    code, err = run(capsys, tmp_path / "ws", "pool", "add", "p", str(path))
    assert code == 2 and f"{name} {message}" in err.replace(f"{path.parent}/", ""), err
    assert Catalog.open(tmp_path / "ws").list_pools().empty


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("t1.jsonl", '{"prompt": "a\\u0000b", "completion": " c"}\n', "holds a NUL byte"),
        ("t2.jsonl", '{"prompt": "", "completion": " c"}\n', "field 'prompt' is empty"),
        ("t3.jsonl", '{"prompt": "a\\udc00", "completion": " c"}\n', "lone surrogate"),
        ("t4.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_damaged_targets_name_file_and_field(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    Catalog.open(tmp_path / "ws")
    code, err = run(capsys, tmp_path / "ws", "target", "add", str(path), "--name", "t")
    assert code == 2 and message in err and name in err, err
    assert Catalog.open(tmp_path / "ws").list_target_tasks().empty


def test_featurising_onto_a_full_disk_fails_cleanly_and_resumes(ws, monkeypatch):
    import errno

    from data_catalog import atomic
    from data_catalog.errors import DsdmError
    from dsdm_engine import stages

    root, proxies, _, _ = ws
    cat = Catalog.open(root)
    cfg = stages.FeatureConfig(proj_dim=96, shard_size=64)
    real = atomic.write_npy
    calls = []

    def fills_up(path, arr):
        calls.append(path)
        if len(calls) > 3:  # a few shard files land, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, arr)

    monkeypatch.setattr(atomic, "write_npy", fills_up)
    with pytest.raises(DsdmError, match="no space left on the device while featurising") as exc:
        stages.featurize(cat, proxies, cfg)
    assert "a re-run resumes" in str(exc.value) and "\n" not in str(exc.value)
    failed = cat.list_runs("features")
    run_id = str(failed[failed["status"] == "failed"]["run_id"].iloc[-1])
    monkeypatch.setattr(atomic, "write_npy", real)  # space freed
    assert stages.featurize(cat, proxies, cfg) == run_id  # the same run, resumed
    assert cat.get_run(run_id)["status"] == "done"


def test_a_file_deleted_while_the_ingest_runs_is_named(tmp_path, monkeypatch):
    from data_catalog import ingest as ingest_mod
    from data_catalog.errors import InputError

    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text('{"text": "one"}\n')
    second.write_text('{"text": "two"}\n')
    real = ingest_mod.expand_inputs

    def then_delete(inputs, fmt=None):
        found = real(inputs, fmt)
        second.unlink()  # gone after it was listed, before it is read
        return found

    monkeypatch.setattr(ingest_mod, "expand_inputs", then_delete)
    cat = Catalog.open(tmp_path / "ws")
    with pytest.raises(InputError, match="b.jsonl"):
        ingest_mod.ingest(cat, "p", [str(tmp_path / "*.jsonl")])
    assert cat.list_pools().empty
