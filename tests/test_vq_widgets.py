"""The prior explorer of genviz_utils.vq_widgets: a static grid of samples per setting, then sliders."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch

from genviz_utils.models.vq import VQVAE, TokenPrior
from genviz_utils.vq_widgets import prior_explorer


def _pair():
    torch.manual_seed(0)
    return VQVAE(num_codes=8, code_dim=4, width=8).eval(), TokenPrior(8, n_layer=1, n_embd=16, n_head=2).eval()


def test_prior_explorer_draws_one_row_per_setting_from_a_fixed_seed(monkeypatch):
    tokenizer, prior = _pair()
    seen = []
    monkeypatch.setattr(plt, "show", lambda: seen.append(plt.gcf()))
    assert prior_explorer(tokenizer, prior, temps=(0.5, 1.0), top_ks=(1, None), n=3, interactive=False) is None
    (fig,) = seen
    assert len(fig.axes) == 4
    assert [ax.get_ylabel() for ax in fig.axes] == ["T=0.5, top-k=off", "T=1, top-k=off", "T=1, top-k=1",
                                                    "T=1, top-k=off"]
    assert "top 2 rows" in fig.axes[0].get_title() and "bottom 2 rows" in fig.axes[0].get_title()
    # the same seed per row: two calls draw the same images
    images = [ax.images[0].get_array().copy() for ax in fig.axes]
    seen.clear()
    prior_explorer(tokenizer, prior, temps=(0.5, 1.0), top_ks=(1, None), n=3, interactive=False)
    assert all((a == ax.images[0].get_array()).all() for a, ax in zip(images, seen[0].axes, strict=True))


def test_prior_explorer_rejects_bad_settings():
    tokenizer, prior = _pair()
    for kwargs in ({"n": 0}, {"temps": (), "top_ks": ()}, {"temps": (0.0,)}, {"top_ks": (0,)}):
        with pytest.raises(ValueError, match="n >= 1|temperatures must be"):
            prior_explorer(tokenizer, prior, interactive=False, **kwargs)


def test_prior_explorer_sliders_redraw(monkeypatch):
    pytest.importorskip("ipywidgets")
    import genviz_utils.vq_widgets as vw

    monkeypatch.setattr(vw, "has_ipywidgets", lambda: True)      # as inside a kernel
    tokenizer, prior = _pair()
    box = prior_explorer(tokenizer, prior, temps=(1.0,), top_ks=(), n=2)
    temp, topk, seed = box.children[0].children
    assert topk.max == prior.num_codes and topk.value == prior.num_codes       # top-k off at the start
    temp.value, topk.value, seed.value = 0.5, 2, 3                             # each change redraws
