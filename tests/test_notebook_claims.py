"""Every numeric check in a notebook is a genviz_utils.claims.claim (value, bar and a named wrong alternative),
never a bare ``assert`` that prints nothing and might not be able to fail (CONTRIBUTING.md, "Checks")."""

import ast
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def _code_cells(path: Path):
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] == "code":
            src = "".join(cell["source"])
            # IPython magics and shell escapes are not Python
            yield i, "\n".join(line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!"))
                                else line for line in src.splitlines())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_bare_asserts_in_notebooks(path):
    bare = []
    for i, src in _code_cells(path):
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Assert):
                bare.append(f"cell [{i}] line {node.lineno}: {ast.unparse(node)[:90]}")
    assert not bare, ("use genviz_utils.claims.claim (value, bar and a named wrong alternative) instead of:\n"
                      + "\n".join(bare))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_claim_names_its_wrong_alternative(path):
    for i, src in _code_cells(path):
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "claim":
                kws = {k.arg for k in node.keywords}
                assert {"wrong", "wrong_value"} <= kws, f"cell [{i}] line {node.lineno}: claim without its control"


def test_the_notebooks_are_found():
    assert len(NOTEBOOKS) >= 6
