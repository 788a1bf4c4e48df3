"""Chapter 6's kernel explorer: watch a latent denoise under DDIM, with its class, guidance scale, seed and number of
steps on sliders. Like every explorer of :mod:`genviz_utils.widgets` it first draws a static figure, and leaves its
sliders out where no kernel answers them (``GENVIZ_FOR_WEBSITE``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import torch

from .models.diffusion import EpsModel, Schedule, ddim_sample
from .viz import make_grid
from .widgets import has_ipywidgets


@torch.no_grad()
def denoising_path(model: EpsModel, decode: Callable[[torch.Tensor], torch.Tensor], sched: Schedule,
                   scale: float, *, label: int, w: float, seed: int, steps: int, clip: float | None = 3.0,
                   shape: tuple[int, ...] = (4, 7, 7), device: torch.device | str = "cpu"
                   ) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """One DDIM run of ``steps`` steps for class ``label``: the steps t, and the decoded x_t and x0_hat of each
    step, each (steps, 1, 28, 28) (latents divided by ``scale`` before ``decode``), plus the final sample last in
    the x_t images (so (steps + 1, 1, 28, 28))."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}.")
    path: list = []
    final = ddim_sample(model, (1, *shape), sched, steps, y=torch.tensor([label]), w=w, device=device,
                        generator=torch.Generator().manual_seed(seed), trajectory=path, clip=clip)
    xs = torch.cat([p[1] for p in path] + [final.cpu()]).to(device)
    x0s = torch.cat([p[2] for p in path]).to(device)
    return [p[0] for p in path], decode(xs / scale).cpu(), decode(x0s / scale).cpu()


def _draw(ax_top, ax_bottom, times: Sequence[int], xs: torch.Tensor, x0s: torch.Tensor, title: str) -> None:
    ax_top.imshow(make_grid(xs, nrow=len(xs)), cmap="gray", vmin=0, vmax=1)
    ax_top.set_title(f"{title}: the latent $z_t$ decoded, t = {times[0]} ... 0, then the sample", fontsize=9)
    ax_bottom.imshow(make_grid(x0s, nrow=len(xs)), cmap="gray", vmin=0, vmax=1)
    ax_bottom.set_title("the denoiser's guess of the clean latent, $\\hat z_0$, decoded", fontsize=9)
    for ax in (ax_top, ax_bottom):
        ax.set_axis_off()


def denoising_explorer(model: EpsModel, decode: Callable[[torch.Tensor], torch.Tensor], sched: Schedule,
                       scale: float, class_names: Sequence[str], *, label: int = 0, w: float = 2.0, seed: int = 0,
                       steps: int = 10, device: torch.device | str = "cpu", interactive: bool = True):
    """A static figure of one denoising run, then (with a kernel) sliders for class, guidance scale w, seed and
    steps that redraw it. ``model`` is eps_theta(x_t, t, y) on scaled latents; ``decode`` takes unscaled ones."""
    if not 0 <= label < len(class_names):
        raise ValueError(f"label must be in 0..{len(class_names) - 1}, got {label}.")

    def figure(label: int, w: float, seed: int, steps: int) -> None:
        times, xs, x0s = denoising_path(model, decode, sched, scale, label=label, w=w, seed=seed, steps=steps,
                                        device=device)
        fig, axes = plt.subplots(2, 1, figsize=(min(0.75 * (steps + 1) + 0.5, 14), 2.4))
        _draw(axes[0], axes[1], times, xs, x0s, f"{class_names[label]}, w = {w:g}, seed {seed}")
        plt.show()

    figure(label, w, seed, steps)
    if not (interactive and has_ipywidgets()):
        return None
    import ipywidgets as widgets

    controls = {
        "label": widgets.Dropdown(options=[(n, i) for i, n in enumerate(class_names)], value=label,
                                  description="class"),
        "w": widgets.FloatSlider(value=w, min=0.0, max=6.0, step=0.5, description="guidance w"),
        "seed": widgets.IntSlider(value=seed, min=0, max=50, description="seed"),
        "steps": widgets.IntSlider(value=steps, min=1, max=25, description="DDIM steps"),
    }
    out = widgets.Output()

    def redraw(_=None) -> None:
        with out:
            out.clear_output(wait=True)
            figure(**{k: c.value for k, c in controls.items()})

    for c in controls.values():
        c.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox(list(controls.values())[:2]), widgets.HBox(list(controls.values())[2:]), out])
