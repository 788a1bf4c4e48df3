"""Every ipywidgets explorer builds, redraws when its sliders move, and displays as a widget view, on ipywidgets 7.7
(Colab's) and 8.x alike. ``make test`` runs it with the .venv's ipywidgets 8; ``make colab-check`` runs it again in
the Colab-like venv (ipywidgets 7.7.1), see ci/colab_check.py. Tiny fake models stand in for the chapters' ones,
called the way the notebooks call them."""

import pytest
import torch

ipywidgets = pytest.importorskip("ipywidgets")

import genviz_utils.vq_widgets as vqw  # noqa: E402
import genviz_utils.widgets as gw  # noqa: E402

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
MAJOR = int(ipywidgets.__version__.split(".")[0])


@pytest.fixture(autouse=True)
def kernel_present(monkeypatch):
    """Build the sliders as in a kernel (vq_widgets imported has_ipywidgets by name)."""
    monkeypatch.setattr(gw, "has_ipywidgets", lambda: True)
    monkeypatch.setattr(vqw, "has_ipywidgets", lambda: True)


class Counting:
    """decode (B, d) -> (B, 1, 28, 28) in [0, 1], counting its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, z):
        self.calls += 1
        return torch.sigmoid(z.sum(1, keepdim=True))[:, :, None, None].expand(-1, 1, 28, 28)


class TinyTokenizer:
    """The Tokenizer protocol of vq_widgets: a 7x7 grid of codes in [0, 8)."""

    num_codes = 8

    def __init__(self):
        self.decodes = 0

    def tokenize(self, x):
        return (x[:, 0, ::4, ::4] * 7.99).long().clamp(0, 7)

    def decode_tokens(self, t):
        self.decodes += 1
        img = (t.float() / 7)[:, None]
        return img.repeat_interleave(4, 2).repeat_interleave(4, 3)


def _sliders(box):
    out, stack = [], [box]
    while stack:
        w = stack.pop()
        if isinstance(w, (ipywidgets.FloatSlider, ipywidgets.IntSlider)):
            out.append(w)
        stack.extend(getattr(w, "children", ()))
    return out


def _outputs(box):
    out, stack = [], [box]
    while stack:
        w = stack.pop()
        if isinstance(w, ipywidgets.Output):
            out.append(w)
        stack.extend(getattr(w, "children", ()))
    return out


def _shows_widget_view(box) -> bool:
    """The display data the box sends to a front end: 8.x has _repr_mimebundle_, 7.x _ipython_display_."""
    if MAJOR >= 8:
        bundle = box._repr_mimebundle_()
    else:
        from unittest import mock

        # ipywidgets 7 bound IPython's display at import: patch that name
        with mock.patch("ipywidgets.widgets.widget.display") as disp:
            box._ipython_display_()
        (bundle,), _ = disp.call_args
    return WIDGET_VIEW in bundle and bundle[WIDGET_VIEW]["model_id"] == box.model_id


def _check(box, slider_values, decode_count):
    assert isinstance(box, ipywidgets.Box) and _shows_widget_view(box)
    assert len(_outputs(box)) == 1
    sliders = _sliders(box)
    assert [s.description for s in sliders] and all(s.description for s in sliders)
    before = decode_count()
    for s, v in zip(sliders, slider_values, strict=False):
        s.value = v
    assert decode_count() > before, "moving a slider must redraw"


def test_latent_explorer_sliders():
    dec = Counting()
    box = gw.latent_explorer(dec, 2, lim=2.5, names=["PC 1", "PC 2"])
    assert {s.description for s in _sliders(box)} == {"PC 1", "PC 2"}
    assert all(s.min == -2.5 and s.max == 2.5 for s in _sliders(box))
    _check(box, [1.0, -1.0], lambda: dec.calls)


def test_latent_explorer_four_coordinates():
    dec = Counting()
    box = gw.latent_explorer(dec, 4, lim=2.5, names=["a", "b", "c", "d"], title="GAN")
    assert len(_sliders(box)) == 4
    _check(box, [0.5] * 4, lambda: dec.calls)


def test_interpolation_explorer_slider():
    dec = Counting()
    box = gw.interpolation_explorer(dec, torch.zeros(3), torch.ones(3), title="interp")
    (t,) = _sliders(box)
    assert (t.min, t.max, t.value) == (0, 1, 0.5)
    _check(box, [0.9], lambda: dec.calls)


def test_token_editor_sliders():
    tok = TinyTokenizer()
    box = vqw.token_editor(tok, torch.rand(1, 1, 28, 28), cell=(3, 3))
    assert sorted(s.description for s in _sliders(box)) == ["code", "col", "row"]
    _check(box, [1, 2, 5], lambda: tok.decodes)


def test_no_kernel_no_sliders(monkeypatch):
    monkeypatch.setattr(gw, "has_ipywidgets", lambda: False)
    assert gw.latent_explorer(Counting(), 2) is None
    assert gw.latent_explorer(Counting(), 2, interactive=False) is None


def test_ipywidgets_version_is_supported():
    from importlib.metadata import version

    assert MAJOR in (7, 8), f"ipywidgets {ipywidgets.__version__}: the explorers are tested on 7.7 and 8.x"
    assert version("ipywidgets") == ipywidgets.__version__
