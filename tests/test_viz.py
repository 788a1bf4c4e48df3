"""Figures (viz), headless explorers (widgets) and model diagrams."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from genviz_utils.diagrams import COLORS, Box, draw_pipeline
from genviz_utils.models.ae import ConvAutoencoder
from genviz_utils.training import History
from genviz_utils.viz import (
    as_image_batch,
    decode_grid,
    make_grid,
    plot_history,
    plot_latent_scatter,
    show_grid,
    show_manifold,
    show_reconstructions,
)
from genviz_utils.widgets import interpolation_explorer, latent_explorer

EXPECTED = r"\(N, 1, H, W\), \(N, 3, H, W\) or \(N, H, W\)"


# --- viz -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(4, 784), (4, 2, 28, 28), (2, 4, 1, 28, 28), (28,)])
def test_show_grid_bad_shapes_say_the_expected_shape(shape):
    with pytest.raises(ValueError, match=EXPECTED) as err:
        show_grid(torch.rand(*shape))
    assert str(tuple(shape)) in str(err.value)


def test_flat_batch_error_names_the_fix():
    with pytest.raises(ValueError, match=r"view\(-1, 1, 28, 28\)"):
        show_grid(torch.rand(4, 784))


def test_as_image_batch_normalises():
    x = as_image_batch(np.zeros((3, 28, 28), dtype=np.uint8))
    assert x.shape == (3, 1, 28, 28) and x.dtype == torch.float32
    assert as_image_batch(torch.rand(2, 3, 8, 8, requires_grad=True)).requires_grad is False


def test_make_grid_layout_and_padding():
    imgs = torch.zeros(10, 1, 28, 28)
    g = make_grid(imgs, nrow=5, pad=1, pad_value=1.0)
    assert g.shape == (2 * 29 + 1, 5 * 29 + 1)
    assert g[0].min() == 1 and g[1:29, 1:29].max() == 0  # padding around, image inside
    assert make_grid(torch.rand(3, 28, 28), nrow=8).shape == (30, 3 * 29 + 1)  # fewer images than nrow
    assert make_grid(torch.rand(2, 3, 8, 8), nrow=2).shape == (10, 19, 3)  # RGB keeps its channels
    assert make_grid(torch.full((1, 1, 4, 4), 7.0), pad=0).max() == 1  # clamped to [0, 1]
    assert np.allclose(make_grid(torch.full((1, 1, 4, 4), 0.25), pad=0), 0.25)


def test_show_grid_draws_on_given_axes():
    fig, ax = plt.subplots()
    out = show_grid(np.random.rand(6, 1, 28, 28), nrow=3, title="t", ax=ax)
    assert out is ax and ax.get_title() == "t" and len(ax.images) == 1
    assert ax.images[0].get_array().shape == (2 * 29 + 1, 3 * 29 + 1)


def test_show_reconstructions():
    fig = show_reconstructions(torch.rand(12, 1, 28, 28), torch.rand(12, 28, 28), n=5, title="r")
    assert isinstance(fig, plt.Figure) and len(fig.axes) == 2
    assert [ax.get_ylabel() for ax in fig.axes] == ["original", "reconstruction"]
    assert fig.axes[0].images[0].get_array().shape == (30, 5 * 29 + 1)


def test_show_reconstructions_bad_shapes():
    with pytest.raises(ValueError, match="originals must have shape " + EXPECTED):
        show_reconstructions(torch.rand(4, 784), torch.rand(4, 1, 28, 28))
    with pytest.raises(ValueError, match="reconstructions must have shape " + EXPECTED):
        show_reconstructions(torch.rand(4, 1, 28, 28), torch.rand(4, 784))
    with pytest.raises(ValueError, match=r"\(4, 1, 28, 28\) and reconstructions \(4, 1, 14, 14\).*same shape"):
        show_reconstructions(torch.rand(4, 1, 28, 28), torch.rand(4, 1, 14, 14))


@pytest.mark.parametrize("shape", [(10, 3), (10,), (10, 2, 1)])
def test_plot_latent_scatter_bad_shapes(shape):
    with pytest.raises(ValueError, match=r"z must have shape \(N, 2\)") as err:
        plot_latent_scatter(torch.rand(*shape), torch.zeros(10), ["a"])
    assert str(tuple(shape)) in str(err.value)


def test_plot_latent_scatter_one_group_per_class():
    z, y = torch.randn(30, 2), torch.arange(30) % 3
    ax = plot_latent_scatter(z, y, ["a", "b", "c"], title="codes")
    assert len(ax.collections) == 3 and [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]
    assert sum(len(c.get_offsets()) for c in ax.collections) == 30


def test_plot_history_smooth_and_keys():
    h = History()
    for s in range(10):
        h.log(s, {"loss": 1.0 / (s + 1), "kl": float(s)})
    ax = plot_history(h, keys=["kl"], smooth=3, logy=True, title="x")
    (line,) = ax.lines
    assert list(line.get_xdata()) == list(range(2, 10)) and np.allclose(line.get_ydata(), np.arange(1, 9))
    assert ax.get_yscale() == "log"
    assert len(plot_history(h).lines) == 2


def test_decode_grid_orientation():
    def decode(z):  # pixel (0, 0) holds z1, pixel (0, 1) holds z2
        out = torch.zeros(len(z), 1, 3, 3)
        out[:, 0, 0, 0], out[:, 0, 0, 1] = z[:, 0], z[:, 1]
        return out

    imgs = decode_grid(decode, [0.0, 0.5, 1.0], [0.0, 1.0])
    assert imgs.shape == (6, 1, 3, 3)
    # row-major, top row = largest z2 (same orientation as a scatter plot)
    assert imgs[:, 0, 0, 0].tolist() == [0.0, 0.5, 1.0, 0.0, 0.5, 1.0]
    assert imgs[:, 0, 0, 1].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]


def test_show_manifold():
    ax = show_manifold(ConvAutoencoder(2, width=4).decode, (-1, 1, -2, 2), n=4)
    assert ax.images[0].get_array().shape == (4 * 28, 4 * 28) and ax.images[0].get_extent() == [-1, 1, -2, 2]


# --- widgets (headless) ----------------------------------------------------------------------------------

def test_latent_explorer_headless_draws_the_static_sweep():
    decode = ConvAutoencoder(3, width=4).decode
    before = set(plt.get_fignums())
    assert latent_explorer(decode, 3, names=["a", "b", "c"], static_steps=5, interactive=False) is None
    (num,) = set(plt.get_fignums()) - before
    fig = plt.figure(num)
    assert len(fig.axes) == 3 and [ax.get_ylabel() for ax in fig.axes] == ["a", "b", "c"]
    assert fig.axes[0].images[0].get_array().shape == (30, 5 * 29 + 1)


def test_latent_explorer_caps_rows_and_needs_a_kernel_for_sliders():
    decode = ConvAutoencoder(10, width=4).decode
    before = set(plt.get_fignums())
    assert latent_explorer(decode, 10, interactive=True) is None  # no IPython kernel here
    (num,) = set(plt.get_fignums()) - before
    assert len(plt.figure(num).axes) == 8


def test_latent_explorer_bad_inputs():
    with pytest.raises(ValueError, match="dim must be >= 1"):
        latent_explorer(lambda z: z, 0, interactive=False)
    with pytest.raises(ValueError, match="decoded images must have shape"):
        latent_explorer(lambda z: z, 2, interactive=False)  # "decoder" returns (B, 2)


def test_interpolation_explorer_headless():
    decode = ConvAutoencoder(3, width=4).decode
    before = set(plt.get_fignums())
    assert interpolation_explorer(decode, torch.zeros(1, 3), torch.ones(3), steps=6, interactive=False) is None
    (num,) = set(plt.get_fignums()) - before
    (ax,) = plt.figure(num).axes
    assert ax.images[0].get_array().shape == (30, 6 * 29 + 1) and "interpolation" in ax.get_title()


def test_interpolation_explorer_endpoints_are_decoded():
    seen = []

    def decode(z):
        seen.append(z.clone())
        return torch.zeros(len(z), 1, 28, 28)

    interpolation_explorer(decode, torch.zeros(2), torch.tensor([2.0, 4.0]), steps=3, interactive=False)
    assert torch.allclose(seen[0], torch.tensor([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]]))


def test_interpolation_explorer_shape_mismatch():
    with pytest.raises(ValueError, match=r"z_a \(3,\) and z_b \(2,\).*same shape"):
        interpolation_explorer(lambda z: z, torch.zeros(3), torch.zeros(2), interactive=False)


# --- diagrams --------------------------------------------------------------------------------------------

def test_draw_pipeline_returns_a_figure():
    blocks = [Box("x", "data"), Box("encoder", "net", "shrink"), Box("z", "latent", sub="2-D"),
              Box("decoder", "net", "grow"), Box("loss", "unknown-kind")]
    fig = draw_pipeline(blocks, title="AE", notes=[(0, 3, "MSE")])
    assert isinstance(fig, plt.Figure)
    (ax,) = fig.axes
    assert ax.get_title() == "AE"
    assert len(ax.patches) == 5 + 4 + 2  # blocks, arrows between them, two arrows of the note
    texts = [t.get_text() for t in ax.texts]
    assert {"x", "encoder", "2-D", "MSE"} <= set(texts)
    face = plt.matplotlib.colors.to_hex(ax.patches[0].get_facecolor())
    assert face == COLORS["data"]


def test_draw_pipeline_without_notes_is_shorter():
    a = draw_pipeline([Box("x"), Box("y")])
    b = draw_pipeline([Box("x"), Box("y")], notes=[(0, 1, "n")])
    assert a.get_size_inches()[1] < b.get_size_inches()[1]


def test_glue_teaser_inlines_the_png(monkeypatch):
    import myst_nb

    from genviz_utils.teaser import glue_teaser

    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda key, value, display: glued.update({key: (value, display)}))
    assert glue_teaser("teaser_x", torch.rand(16, 1, 28, 28), "a title")
    html, display = glued["teaser_x"]
    assert display is False and 'src="data:image/png;base64,' in html.data and 'alt="a title"' in html.data
    with pytest.raises(ValueError):                       # bad shape: the grid helper names the expected one
        glue_teaser("teaser_y", torch.rand(16, 28, 28, 3), "bad")


def test_latent_grid_counts_and_empty_cells():
    from genviz_utils.viz import in_empty_cell, latent_grid_counts

    box = (0.0, 2.0, 0.0, 1.0)
    z = torch.tensor([[0.1, 0.1], [0.2, 0.2], [1.9, 0.9], [5.0, 0.5]])        # the last one lies outside the box
    counts = latent_grid_counts(z, box, bins=2)
    assert counts.tolist() == [[2.0, 0.0], [0.0, 1.0]]                           # [cell along z1, cell along z2]
    probe = torch.tensor([[0.5, 0.4], [1.5, 0.4], [2.0, 1.0], [0.0, 0.9]])      # box corners belong to edge cells
    assert in_empty_cell(probe, counts, box).tolist() == [False, True, False, True]
    with pytest.raises(ValueError, match="outside the box"):
        in_empty_cell(z, counts, box)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        latent_grid_counts(torch.zeros(3, 4), box)
