"""The README's "minimal session on your own data" runs exactly as written, in a fresh folder.

The bash block is read from README.md and run by bash with the venv's `dsdm` first on PATH, on a
tiny zstd JSONL pool and a tiny target file named as the README names them. This is the test
that would have caught `dsdm proxy train` crashing on an import (issue 19, item 1).
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import zstandard

ROOT = Path(__file__).resolve().parents[2]


def readme_session() -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"A minimal session on your own data:\s*```bash\n(.*?)```", text, re.S)
    assert m, "README lost its minimal session block"
    return m.group(1)


def _tiny_inputs(folder: Path) -> None:
    rng = random.Random(0)
    words = (
        "the cat sat on a mat while river banks flood in spring and the city council votes "
        "on a new budget for schools roads and parks"
    ).split()
    (folder / "data").mkdir()
    with open(folder / "data" / "part-0.jsonl.zst", "wb") as f:
        with zstandard.ZstdCompressor().stream_writer(f) as z:
            for _ in range(48):
                text = " ".join(rng.choice(words) for _ in range(60))
                z.write((json.dumps({"text": text}) + "\n").encode())
    lines = [
        json.dumps({"prompt": f"Question {i}: where does the cat sit?", "completion": " the mat"})
        for i in range(12)
    ]
    (folder / "my_task.jsonl").write_text("\n".join(lines) + "\n")


def test_readme_minimal_session_runs_as_written(tmp_path):
    _tiny_inputs(tmp_path)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DSDM_TORCH_THREADS": "1",
    }
    env.pop("DSDM_WORKSPACE", None)
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", readme_session()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr
    assert "proxies ready:" in proc.stdout and "scores stored:" in proc.stdout
    data = tmp_path / "dsdm_workspace" / "exports" / "pick-parquet" / "data.parquet"
    manifest = json.loads((data.parent / "manifest.json").read_text())
    assert pq.read_table(data).num_rows == manifest["row_count"] == 48
