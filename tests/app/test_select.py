"""The Select page and recipes: a live preview, "Create selection", export from the same page,
and the recipe it shows run by `dsdm select --recipe` to the identical selection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_pages import ok, open_page, texts

from data_catalog.catalog import Catalog
from data_catalog.errors import InputError
from dsdm_engine.cli import main
from dsdm_engine.stages.recipe import load_recipe


def members(cat: Catalog, sid: str) -> list[str]:
    return list(cat.selection_members(sid).sort_values("rank")["doc_id"])


def test_select_page_previews_creates_exports_and_its_recipe_reruns(
    tiny_workspace: Catalog, tmp_path: Path
):
    at = open_page("select", target="cooking@v1", method="dsdm")
    assert texts(at.title) == ["Build a selection"]
    next(n for n in at.number_input if n.label == "How many").set_value(6).run()
    name = next(t for t in at.text_input if t.label == "Selection name")
    name.set_value("page-pick").run()
    metrics = {m.label: m.value for m in ok(at).metric}
    assert metrics["documents"] == "6" and len(at.get("plotly_chart")) == 2
    assert any("predict held-out loss" in s for s in texts(at.success))  # the trust banner
    recipe = json.loads(at.code[0].value)
    assert recipe["method"] == "dsdm" and recipe["target"] == "cooking@v1"
    assert recipe["rule"]["k"] == 6 and recipe["name"] == "page-pick"
    next(b for b in at.button if b.label == "Create selection").click().run()
    assert any("page-pick" in s and "6 documents" in s for s in texts(ok(at).success))
    sels = tiny_workspace.list_selections("tiny")
    sid = sels[sels["name"] == "page-pick"]["selection_id"].iloc[0]
    next(b for b in at.button if b.label == "Export").click().run()
    assert any("Wrote 6 rows" in s for s in texts(ok(at).success))
    manifest = json.loads(
        next(Path(tiny_workspace.workspace.exports).rglob("manifest.json")).read_text()
    )
    assert manifest["recipe"]["method"] == "dsdm" and manifest["recipe"]["rule"]["k"] == 6
    # the page's recipe, run from the command line under another name: the same documents
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps({**recipe, "name": "cli-pick"}))
    ws = str(tiny_workspace.workspace.root)
    assert main(["--workspace", ws, "select", "--recipe", str(path)]) == 0
    sels = tiny_workspace.list_selections("tiny")
    again = sels[sels["name"] == "cli-pick"]["selection_id"].iloc[0]
    assert members(tiny_workspace, again) == members(tiny_workspace, sid)
    # and the manifest's recipe too
    path.write_text(json.dumps({**manifest["recipe"], "name": "from-manifest"}))
    assert main(["--workspace", ws, "select", "--recipe", str(path)]) == 0
    sels = tiny_workspace.list_selections("tiny")
    third = sels[sels["name"] == "from-manifest"]["selection_id"].iloc[0]
    assert members(tiny_workspace, third) == members(tiny_workspace, sid)


def test_a_mix_and_quotas_preview_without_storing(tiny_workspace: Catalog):
    at = open_page("select", method="dsdm")
    before = len(tiny_workspace.list_selections("tiny"))
    at.multiselect[0].set_value(["cooking@v1", "finance@v1"]).run()
    recipe = json.loads(ok(at).code[0].value)
    assert recipe["target"] is None and set(recipe["mix"]) == {"cooking@v1", "finance@v1"}
    assert {m.label for m in at.metric} >= {"documents", "tokens"}
    assert len(tiny_workspace.list_selections("tiny")) == before  # a preview stores nothing


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{\n  "pool": "tiny",\n  oops\n}', "line 3"),
        ('{"pool": "tiny", "method": "dsdm", "colour": 1}', "unknown field"),
        ('{"pool": "tiny", "method": "dsdm", "rule": {"k": -1}}', "rule: k must be"),
        ('{"pool": "tiny", "method": "dsdm", "rule": {"kk": 1}}', "unknown rule field"),
        ('{"pool": "tiny", "method": "dsdm", "mix": {"a": 0}}', "mix['a']"),
        ('["not", "an object"]', "a JSON object"),
    ],
)
def test_bad_recipes_name_the_file_and_field(tmp_path: Path, content: str, message: str):
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(InputError, match="r.json") as err:
        load_recipe(path)
    assert message in str(err.value)


def test_a_recipe_with_flags_is_refused(tiny_workspace: Catalog, tmp_path: Path, capsys):
    path = tmp_path / "r.json"
    path.write_text('{"pool": "tiny", "method": "random", "rule": {"k": 3}}')
    ws = str(tiny_workspace.workspace.root)
    assert main(["--workspace", ws, "select", "--recipe", str(path), "--k", "4"]) == 2
    assert "drop --k" in capsys.readouterr().err
    assert main(["--workspace", ws, "select", "--pool", "tiny"]) == 2
    assert "give --method and --pool" in capsys.readouterr().err


def test_the_page_opens_on_dsdm_with_a_live_preview(tiny_workspace: Catalog):
    at = open_page("select")  # from the sidebar: no method in the URL
    assert json.loads(at.code[0].value)["method"] == "dsdm"
    assert {m.label for m in at.metric} >= {"documents", "tokens"}
