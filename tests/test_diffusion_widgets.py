"""Chapter 6's denoising explorer (genviz_utils.diffusion_widgets): the path it draws, its static figure, its
sliders, its errors."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch

import genviz_utils.diffusion_widgets as dw
from genviz_utils.models.diffusion import KLAutoencoder, MLPDenoiser, Schedule

CLASSES = tuple(f"class {i}" for i in range(10))


def _models():
    torch.manual_seed(0)
    return MLPDenoiser(4, 7, hidden=32, depth=1).eval(), KLAutoencoder(4, width=8, disc_width=8).eval()


def test_the_path_has_one_image_per_step_and_the_sample_last_and_is_seeded():
    model, ae = _models()
    sched = Schedule(100)
    times, xs, x0s = dw.denoising_path(model, ae.decode, sched, 2.0, label=3, w=2.0, seed=1, steps=5)
    assert times == [99, 74, 50, 25, 0]
    assert xs.shape == (6, 1, 28, 28) and x0s.shape == (5, 1, 28, 28)
    again = dw.denoising_path(model, ae.decode, sched, 2.0, label=3, w=2.0, seed=1, steps=5)
    assert torch.equal(again[1], xs)
    other = dw.denoising_path(model, ae.decode, sched, 2.0, label=3, w=2.0, seed=2, steps=5)
    assert not torch.equal(other[1], xs)
    with pytest.raises(ValueError, match="at least 1"):
        dw.denoising_path(model, ae.decode, sched, 2.0, label=3, w=2.0, seed=1, steps=0)


def test_the_explorer_draws_a_static_figure_and_rejects_a_bad_class(monkeypatch):
    model, ae = _models()
    seen = []
    monkeypatch.setattr(plt, "show", lambda: seen.append(plt.gcf()))
    assert dw.denoising_explorer(model, ae.decode, Schedule(50), 1.0, CLASSES, steps=4, interactive=False) is None
    (fig,) = seen
    assert len(fig.axes) == 2 and "class 0, w = 2" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="label must be in 0..9"):
        dw.denoising_explorer(model, ae.decode, Schedule(50), 1.0, CLASSES, label=10, interactive=False)


def test_the_sliders_redraw(monkeypatch):
    pytest.importorskip("ipywidgets")
    monkeypatch.setattr(dw, "has_ipywidgets", lambda: True)      # as inside a kernel
    drawn = []
    monkeypatch.setattr(plt, "show", lambda: drawn.append(plt.gcf().axes[0].get_title()))
    model, ae = _models()
    box = dw.denoising_explorer(model, ae.decode, Schedule(50), 1.0, CLASSES, steps=3)
    label, w = box.children[0].children
    seed, steps = box.children[1].children
    label.value, w.value, steps.value = 7, 4.0, 2
    assert drawn[-1].startswith("class 7, w = 4, seed 0")
