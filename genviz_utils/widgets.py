"""Explorers for a live kernel (Jupyter, Colab) that always leave a static figure behind.

On the website there is no kernel, so sliders cannot decode anything: every explorer therefore first
draws a static figure of what the sliders would show, then the sliders (which work wherever a kernel
runs). When the notebooks are executed for the website (``make book`` and the test site set
``GENVIZ_FOR_WEBSITE=1``) the sliders are left out, so that the site has no dead sliders: the live twins of
:mod:`genviz_utils.live`, which compute in the reader's browser, take their place.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .viz import as_image_batch, make_grid


def has_ipywidgets() -> bool:
    """Whether sliders can work here: ipywidgets is installed, we run inside an IPython kernel, and the notebook is
    not being executed for the website (``GENVIZ_FOR_WEBSITE`` unset), where no kernel will answer them."""
    if os.environ.get("GENVIZ_FOR_WEBSITE"):
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


def _decode_one(decode: Callable[[torch.Tensor], torch.Tensor], z: Sequence[float], device) -> np.ndarray:
    with torch.no_grad():
        img = as_image_batch(decode(torch.tensor([list(z)], dtype=torch.float32, device=device)), "decoded image")
    return make_grid(img, nrow=1, pad=0)


def _show_in(out, img: np.ndarray) -> None:
    """Replace what the ipywidgets ``Output`` ``out`` shows by the grey image ``img`` (H, W) in [0, 1]."""
    with out:
        out.clear_output(wait=True)
        fig, ax = plt.subplots(figsize=(2.2, 2.2))
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        ax.set_axis_off()
        plt.show()


def latent_explorer(
    decode: Callable[[torch.Tensor], torch.Tensor],
    dim: int,
    *,
    lim: float = 3.0,
    names: Sequence[str] | None = None,
    device: torch.device | str = "cpu",
    static_steps: int = 7,
    interactive: bool = True,
    title: str = "latent explorer",
):
    """Sliders for each of the ``dim`` latent coordinates and the decoded image.

    ``decode`` maps (B, dim) latents to (B, C, H, W) images in [0, 1].
    Static fallback: for each coordinate, a row of images sweeping it over ``[-lim, lim]`` with the
    others at 0 (at most 8 rows). Returns the ipywidgets box, or ``None`` without a kernel.
    """
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}.")
    names = list(names or [f"z{i + 1}" for i in range(dim)])
    rows = min(dim, 8)
    sweep = np.linspace(-lim, lim, static_steps)
    fig, axes = plt.subplots(rows, 1, figsize=(0.8 * static_steps + 1, 0.85 * rows + 0.5), squeeze=False)
    for r in range(rows):
        zs = np.zeros((static_steps, dim), dtype=np.float32)
        zs[:, r] = sweep
        with torch.no_grad():
            imgs = as_image_batch(decode(torch.from_numpy(zs).to(device)), "decoded images")
        ax = axes[r, 0]
        ax.imshow(make_grid(imgs, nrow=static_steps), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(names[r], rotation=0, ha="right", va="center")
    axes[0, 0].set_title(f"{title} (static view: each row sweeps one coordinate from {-lim:g} to {lim:g})", fontsize=9)
    fig.tight_layout()
    plt.show()
    if not (interactive and has_ipywidgets()):
        return None
    return _slider_box(decode, names, lim, device)


def _slider_box(decode, names, lim, device):
    import ipywidgets as widgets

    sliders = [widgets.FloatSlider(value=0.0, min=-lim, max=lim, step=lim / 50, description=n, continuous_update=True)
               for n in names]
    out = widgets.Output()

    def redraw(_=None):
        _show_in(out, _decode_one(decode, [s.value for s in sliders], device))

    for s in sliders:
        s.observe(redraw, names="value")
    redraw()
    return widgets.HBox([widgets.VBox(sliders), out])


def interpolation_explorer(
    decode: Callable[[torch.Tensor], torch.Tensor],
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    *,
    steps: int = 9,
    device: torch.device | str = "cpu",
    title: str = "interpolation",
    interactive: bool = True,
):
    """Linear interpolation ``(1-t) z_a + t z_b``; static strip of ``steps`` images plus a ``t`` slider."""
    z_a, z_b = torch.as_tensor(z_a).float().flatten(), torch.as_tensor(z_b).float().flatten()
    if z_a.shape != z_b.shape:
        raise ValueError(f"z_a {tuple(z_a.shape)} and z_b {tuple(z_b.shape)} must have the same shape.")
    ts = torch.linspace(0, 1, steps)[:, None]
    with torch.no_grad():
        imgs = as_image_batch(decode(((1 - ts) * z_a + ts * z_b).to(device)))
    fig, ax = plt.subplots(figsize=(0.8 * steps + 0.5, 1.3))
    ax.imshow(make_grid(imgs, nrow=steps), cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    ax.set_title(f"{title} (static view: t = 0 ... 1)", fontsize=9)
    plt.show()
    if not (interactive and has_ipywidgets()):
        return None
    import ipywidgets as widgets

    t = widgets.FloatSlider(value=0.5, min=0, max=1, step=0.01, description="t")
    out = widgets.Output()

    def redraw(_=None):
        z = (1 - t.value) * z_a + t.value * z_b
        _show_in(out, _decode_one(decode, z.tolist(), device))

    t.observe(redraw, names="value")
    redraw()
    return widgets.VBox([t, out])
