"""ci/colab_check.py's checks can fail (freeze diff, widget cells), the constraints are Colab's, and pyproject's
lower bounds are at or below Colab's preinstalled versions (so the install cell upgrades nothing there)."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("colab_check", ROOT / "ci" / "colab_check.py")
cc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cc)

COLAB = cc.parse_freeze(cc.FREEZE.read_text())


def _version(v: str) -> tuple[int, ...]:
    """'2.0.2' or a torch wheel URL '...torch-2.11.0%2Bcpu-cp312...' -> (2, 11, 0)."""
    m = re.search(r"(?:^|-)(\d+(?:\.\d+)+)", v)
    return tuple(int(x) for x in m.group(1).split("."))


def test_pyproject_lower_bounds_are_at_or_below_colab():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert len(deps) >= 7
    for dep in deps:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([\d.]+)\s*(?:,.*)?", dep)
        assert m, f"{dep!r}: give a lower bound (>=) so that Colab's preinstalled version is kept"
        name, low = cc._norm(m.group(1)), tuple(int(x) for x in m.group(2).split("."))
        assert name in COLAB, f"{name} is not preinstalled on Colab: the install cell would add it"
        assert low <= _version(COLAB[name]), f"{dep} asks for more than Colab's {name} {COLAB[name]}"
    assert COLAB["ipywidgets"] == "7.7.1"


def test_constraints_pin_colab_versions_except_the_substituted():
    pins = cc.parse_freeze(cc.CONSTRAINTS.read_text())
    text = cc.CONSTRAINTS.read_text()
    for name, v in pins.items():
        if name in ("torch", "torchvision"):
            assert re.search(rf"^{name}=={re.escape(v)}\s+# SUBSTITUTED: Colab ", text, re.M)
            continue
        assert COLAB.get(name) == v, f"{name}=={v} in colab-constraints.txt, Colab has {COLAB.get(name)}"
    assert pins["ipywidgets"] == "7.7.1" and "nbclient" in pins and "ipykernel" in pins
    assert re.search(r"^# Python 3\.12", text, re.M) and "1764c367dbde7db6ba45005d7c79680d225ca431" in text


def test_colab_freeze_constraints_drop_what_pip_cannot_take():
    keep, dropped = cc.colab_constraints("# c\nnumpy==2.0.2\ntorch @ https://x/torch-2.11.0.whl\n"
                                         "setuptools==75.2.0\nnvidia-nccl-cu13==2.31.2\ngoogle-colab @ file:///x\n")
    assert keep == ["numpy==2.0.2"]
    assert len(dropped) == 4 and any("SUBSTITUTED" in d for d in dropped)


def test_freeze_diff_reports_every_change():
    before = cc.parse_freeze("ipywidgets==7.7.1\nnumpy==2.0.2\ntorch==2.14.1\n")
    after = cc.parse_freeze("ipywidgets==8.1.9\nnumpy==2.0.2\ncomm==0.2.3\n")
    assert cc.freeze_diff(before, after) == ["comm: (absent) -> 0.2.3", "ipywidgets: 7.7.1 -> 8.1.9",
                                             "torch: 2.14.1 -> (removed)"]
    assert cc.freeze_diff(before, dict(before)) == []
    assert cc.parse_freeze("Jupyter_Client==7.4.9\n") == {"jupyter-client": "7.4.9"}


def _cell(src, outputs=()):
    return {"cell_type": "code", "source": src, "outputs": list(outputs)}


VIEW = {"output_type": "display_data", "data": {"text/plain": "VBox()", cc.WIDGET_VIEW: {"model_id": "x"}}}


@pytest.mark.parametrize("src,expect", [
    ("latent_explorer(dec, 2)", True),
    ("x = 1\ninterpolation_explorer(dec, a, b,\n    title='t')", True),
    ("token_editor(vqvae, x[1:2], cell=(3, 3))", True),
    ("prior_explorer(vqgan, prior_gan)", True),
    ("box = latent_explorer(dec, 2)", False),          # assigned: not displayed by the cell
    ("latent_explorer(dec, 2);", False),
    ("%pip install x\nprint(1)", False),
    ("plt.show()", False),
])
def test_calls_explorer(src, expect):
    assert cc.calls_explorer(src) is expect


def test_widget_cells_without_a_view_are_reported():
    cells = [_cell("latent_explorer(dec, 2)", [VIEW]),               # fine
             _cell("token_editor(m, x)"),                             # an explorer with no widget output
             _cell("train(model)", [VIEW]),                           # a progress bar: counted, fine
             _cell("make_sliders()"),                                 # created DOM widgets, showed none
             {"cell_type": "markdown", "source": "latent_explorer(dec, 2)"}]
    shown, problems = cc.widget_problems(cells, {3: 2})
    assert shown == 2
    assert len(problems) == 2 and problems[0].startswith("cell [1] calls an explorer")
    assert problems[1].startswith("cell [3] created 2 DOM widget(s)")
