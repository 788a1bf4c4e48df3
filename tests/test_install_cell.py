"""One install cell and one repository URL: every notebook's first code cell is tools/sync_install_cell.py's template
rendered with _config.yml's repository, the README's Colab links and the launch buttons point at the same one, and
the cell installs GENVIZ_INSTALL_SPEC when it is set."""

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

_spec = importlib.util.spec_from_file_location("sync_install_cell", ROOT / "tools" / "sync_install_cell.py")
sync = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sync)
URL, BRANCH = sync.repository()


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_install_cell_is_the_template(nb):
    assert sync.sync([nb], check=True, url=URL, branch=BRANCH) == [], (
        f"{nb.name}: its install cell differs from tools/sync_install_cell.py's template. "
        "Fix: python tools/sync_install_cell.py")
    cell = sync.install_cell(json.loads(nb.read_text()), nb)
    assert "remove-cell" in cell["metadata"].get("tags", []), f"{nb.name}: the install cell must be tagged remove-cell"


def test_config_has_one_github_repository_and_colab_buttons():
    import yaml

    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", cfg["repository"]["url"])
    assert cfg["repository"].get("branch")
    assert cfg["launch_buttons"]["colab_url"] == "https://colab.research.google.com"   # Jupyter Book builds
    assert cfg["html"]["use_repository_button"]          # the Colab and repository buttons from repository.url


def test_readme_colab_links_match_the_config():
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"https://colab\.research\.google\.com/github/[^\s`)>\]]+", text)
    assert links, "README.md has no Colab link"
    for link in links:
        nb = link.split(f"/blob/{BRANCH}/", 1)[-1]
        assert link == sync.colab_link(URL, BRANCH, nb), (
            f"README.md's Colab link {link} does not match _config.yml's repository ({URL}, branch {BRANCH})")
        assert (ROOT / nb).exists(), f"README.md's Colab link names {nb}, which does not exist"
    for m in re.findall(r"github\.com/([\w.-]+/[\w.-]+)", text):
        assert m == URL.removeprefix("https://github.com/"), f"README.md names another repository: {m}"


def test_template_renders_the_url_and_the_override():
    cell = sync.render("https://github.com/a-fork/course", "gh-pages")
    assert '_url = "git+https://github.com/a-fork/course@gh-pages"' in cell and 'f"genviz-utils @ {_url}"' in cell
    assert "GENVIZ_INSTALL_SPEC" in cell and "@URL@" not in cell and "@BRANCH@" not in cell


def test_sync_rewrites_only_the_install_cell(tmp_path):
    src = NOTEBOOKS[0]
    nb = json.loads(src.read_text())
    first = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code")
    nb["cells"][first]["source"] = ["try:\n", "    import genviz_utils\n", "except ImportError:\n",
                                    "    %pip install -q genviz-utils"]
    path = tmp_path / src.name
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    assert sync.main(["--check", str(path)]) == 1
    assert sync.main([str(path)]) == 0
    assert sync.main(["--check", str(path)]) == 0
    new = json.loads(path.read_text())
    assert "".join(new["cells"][first]["source"]) == sync.render(URL, BRANCH).rstrip("\n")
    for a, b in zip(nb["cells"], new["cells"], strict=True):
        assert a["id"] == b["id"] and a["metadata"] == b["metadata"]
        if a is not nb["cells"][first]:
            assert a == b
    assert new["metadata"] == nb["metadata"]


def test_sync_refuses_a_notebook_without_an_install_cell(tmp_path):
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "id": "a", "metadata": {}, "outputs": [],
                                           "execution_count": None, "source": ["print(1)"]}],
                                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    with pytest.raises(SystemExit, match="not the install cell"):
        sync.main([str(path)])


@pytest.mark.parametrize("override", [None, "/tmp/wheels/genviz_utils-0.1.0-py3-none-any.whl"])
def test_install_cell_runs_pip_with_the_spec(monkeypatch, override):
    """Run the rendered cell in an IPython shell where genviz_utils is missing and %pip only records its line."""
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell

    if override:
        monkeypatch.setenv("GENVIZ_INSTALL_SPEC", override)
    else:
        monkeypatch.delenv("GENVIZ_INSTALL_SPEC", raising=False)
    monkeypatch.setitem(sys.modules, "genviz_utils", None)           # import genviz_utils -> ImportError
    shell = InteractiveShell.instance()
    try:
        lines = []
        shell.register_magic_function(lambda line: lines.append(line), "line", "pip")
        result = shell.run_cell(sync.render(URL, BRANCH))
        assert result.success, result.error_in_exec
        want = override or f"genviz-utils @ git+{URL}@{BRANCH}"
        assert lines == [f'install -q "{want}"']
    finally:
        InteractiveShell.clear_instance()
