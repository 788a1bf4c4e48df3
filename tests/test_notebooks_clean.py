"""Committed notebooks carry no outputs, parse as notebooks, and use the course's set-up conventions."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_outputs(path: Path):
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"])
             if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; run `make strip` before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_uses_profile_and_has_exercises(path: Path):
    text = path.read_text()
    assert "get_profile()" in text, f"{path.name} must take its budgets from genviz_utils.profiles"
    assert text.count("{exercise}") >= 3, f"{path.name} needs at least 3 exercises"
    assert "{solution-start}" in text, f"{path.name}: solutions must be folded with solution-start/end"
