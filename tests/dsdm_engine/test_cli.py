"""The `dsdm` CLI end to end in a temporary workspace: help, happy path, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from data_catalog.catalog import Catalog
from dsdm_engine.cli import build_parser, main


def _subcommands(parser, prefix=()):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from _subcommands(sub, (*prefix, name))


def test_every_subcommand_has_help(capsys):
    commands = list(_subcommands(build_parser()))
    for needed in [("pool", "add"), ("target", "show"), ("export",), ("workspace", "info")]:
        assert needed in commands
    for cmd in commands:
        with pytest.raises(SystemExit) as exc:
            main([*cmd, "--help"])
        assert exc.value.code == 0
        assert "usage: dsdm" in capsys.readouterr().out


def test_pool_target_export_flow(tmp_path, capsys, jsonl_file):
    ws = str(tmp_path / "ws")
    docs = jsonl_file([{"text": f"document {i}", "source": "s"} for i in range(5)])
    assert main(["--workspace", ws, "pool", "add", "demo", str(docs), "--quiet"]) == 0
    assert "5 documents added" in capsys.readouterr().out
    assert main(["--workspace", ws, "pool", "show", "demo"]) == 0
    assert "documents:    5" in capsys.readouterr().out
    target = tmp_path / "t.jsonl"
    target.write_text(
        "\n".join(json.dumps({"prompt": f"q{i}", "completion": f" a{i}"}) for i in range(4))
    )
    assert main(["--workspace", ws, "target", "add", str(target), "--name", "qa"]) == 0
    assert "qa@v1 added: 4 examples (2 selection / 2 held out, seed 0)" in capsys.readouterr().out
    assert main(["--workspace", ws, "target", "show", "qa"]) == 0
    assert "2 selection / 2 held out" in capsys.readouterr().out
    assert main(["--workspace", ws, "workspace", "info"]) == 0
    assert "schema version" in capsys.readouterr().out


def test_user_errors_are_one_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"txt": "x"}\n')
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dsdm_engine.cli",
            "--workspace",
            str(tmp_path / "ws"),
            "pool",
            "add",
            "p",
            str(bad),
            "--quiet",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    err = [line for line in proc.stderr.splitlines() if line.strip()]
    assert err[-1].startswith("error: ") and "bad.jsonl line 2: missing text field" in err[-1]
    assert len([line for line in err if line.startswith("error")]) == 1


def test_featurize_dry_run_estimates_before_any_proxy_exists(tmp_path, capsys, jsonl_file):
    ws = str(tmp_path / "ws")
    docs = jsonl_file([{"text": f"document {i}"} for i in range(50)])
    assert main(["--workspace", ws, "pool", "add", "p", str(docs), "--quiet"]) == 0
    capsys.readouterr()
    argv = ["--workspace", ws, "featurize", "--pool", "p", "--proj-dim", "1024", "--models", "2"]
    assert main([*argv, "--dry-run", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "50 documents" in out and "2 x small" in out
    # 50 docs x (1024 float16 dims + a float32 row scale + a float32 Q) x 2 proxies, to the byte
    per_doc = (1024 * 2 + 8) * 2
    assert f"{50 * per_doc:,} bytes on disk ({per_doc:,} per document; float16" in out
    assert main(["--workspace", ws, "featurize", "--pool", "p"]) == 2  # no proxies yet


def test_bad_selection_options_are_a_one_line_error(tmp_path, capsys, jsonl_file):
    ws = str(tmp_path / "ws")
    docs = jsonl_file([{"text": f"document {i}"} for i in range(5)])
    assert main(["--workspace", ws, "pool", "add", "p", str(docs), "--quiet"]) == 0
    argv = ["--workspace", ws, "select", "--method", "random", "--pool", "p", "--k", "2"]
    assert main([*argv, "--options", "{bad"]) == 2
    assert "--options is not valid JSON" in capsys.readouterr().err
    assert main([*argv, "--options", "[1]"]) == 2


def _subparser(parser, *path):
    for name in path:
        action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = action.choices[name]
    return parser


def test_every_generated_cli_default_is_the_config_default():
    """A default lives in one place: the stage config. The CLI reads it from there."""
    import dataclasses

    from dsdm_engine.compute.configs import FeatureConfig, ScoreConfig, TrainConfig
    from dsdm_engine.evaluation.harness import EvalRecipe
    from dsdm_engine.evaluation.subsets import ValidateConfig
    from dsdm_engine.stages import ProxyConfig

    cases = [
        (("proxy", "train"), TrainConfig()),
        (("proxy", "train"), ProxyConfig()),
        (("featurize",), FeatureConfig()),
        (("validate",), ValidateConfig()),
        (("score",), ScoreConfig()),
        (("evaluate",), EvalRecipe()),
    ]
    for path, config in cases:
        parser = _subparser(build_parser(), *path)
        defaults = {a.dest: a.default for a in parser._actions}
        for f in dataclasses.fields(config):
            if f.name == "train":
                continue
            assert defaults[f.name] == getattr(config, f.name), (path, f.name)


def test_lambda_rel_takes_inf_as_its_help_says():
    parser = _subparser(build_parser(), "score")
    assert parser.parse_args(["--target", "t", "--lambda-rel", "inf"]).lambda_rel == float("inf")
    assert parser.parse_args(["--target", "t", "--lambda-rel", "2.5"]).lambda_rel == 2.5


def test_featurize_takes_proj_dim_and_the_deprecated_k(tmp_path, capsys):
    parser = _subparser(build_parser(), "featurize")
    assert parser.parse_args(["--proj-dim", "512"]).proj_dim == 512
    ws = str(tmp_path / "ws")
    Catalog.open(ws)  # engine commands need an existing workspace
    assert main(["--workspace", ws, "featurize", "--pool", "none", "--k", "64", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "--k is deprecated" in err and "pool 'none' not found" in err
