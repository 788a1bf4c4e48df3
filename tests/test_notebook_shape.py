"""Every chapter in a lecture's rhythm: small code cells, a short set-up cell, one budget cell, names that say what
they are. CONTRIBUTING.md ("Every chapter has the same shape", "Budgets") is the rule these tests count."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
MAX_CELL_LINES, MAX_SETUP_LINES = 30, 10


def _code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_code_cell_is_longer_than_30_lines(path: Path):
    long = [(i, n) for i, src in enumerate(_code_cells(path)) if (n := len(src.splitlines())) > MAX_CELL_LINES]
    assert not long, (f"{path.name}: code cells (index among code cells, lines) {long} are over {MAX_CELL_LINES} "
                      "lines; split them by job, a sentence before each (CONTRIBUTING.md, item 5)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_set_up_cell_is_short_and_sets_up(path: Path):
    install, setup = _code_cells(path)[:2]
    assert "GENVIZ_INSTALL_SPEC" in install, f"{path.name}: the first code cell must be the install cell"
    n = len(setup.splitlines())
    assert n <= MAX_SETUP_LINES, (f"{path.name}: the set-up cell has {n} lines (at most {MAX_SETUP_LINES}); import "
                                  "course names where they are first used")
    assert "get_profile()" in setup and "pick_device(" in setup, f"{path.name}: the set-up cell sets up P and device"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_budget_is_in_the_budget_cell_after_set_up(path: Path):
    cells = _code_cells(path)
    with_pick = [i for i, src in enumerate(cells) if "P.pick(" in src]
    assert with_pick == [2], (f"{path.name}: P.pick in code cells {with_pick}; every budget belongs in one budget "
                              "cell right after the set-up cell (code cell 2)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_ipywidgets_is_not_called_W(path: Path):
    text = "\n".join(_code_cells(path))
    assert not re.search(r"import ipywidgets as W\b", text), f"{path.name}: import ipywidgets as widgets"
