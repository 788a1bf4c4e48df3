"""Figures: image grids, reconstructions, loss curves, latent maps."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .training import History


def as_image_batch(images: torch.Tensor | np.ndarray, name: str = "images") -> torch.Tensor:
    """Check and normalise a batch to (N, C, H, W) float on the CPU; accepts (N, H, W) too."""
    x = torch.as_tensor(images).detach().float().cpu()
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(
            f"{name} must have shape (N, 1, H, W), (N, 3, H, W) or (N, H, W); got {tuple(x.shape)}. "
            "For a single image use x[None]; for a flat (N, 784) batch use x.view(-1, 1, 28, 28)."
        )
    return x


def make_grid(images: torch.Tensor, nrow: int = 8, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """Tile (N, C, H, W) images into one (rows*H, nrow*W[, 3]) array in [0, 1]."""
    x = as_image_batch(images).clamp(0, 1)
    n, c, h, w = x.shape
    ncol = min(nrow, n)
    nrows = -(-n // ncol)
    grid = torch.full((c, nrows * (h + pad) + pad, ncol * (w + pad) + pad), pad_value)
    for i in range(n):
        r, col = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, top:top + h, left:left + w] = x[i]
    arr = grid.permute(1, 2, 0).numpy()
    return arr[..., 0] if c == 1 else arr


def show_grid(images: torch.Tensor, nrow: int = 8, title: str | None = None, ax: plt.Axes | None = None,
              scale: float = 0.6) -> plt.Axes:
    """Show a batch (N, C, H, W) as one tiled image."""
    arr = make_grid(images, nrow)
    if ax is None:
        h, w = arr.shape[:2]
        _, ax = plt.subplots(figsize=(scale * w / 28 + 0.2, scale * h / 28 + (0.4 if title else 0.1)))
    ax.imshow(arr, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def show_reconstructions(
    originals: torch.Tensor,
    reconstructions: torch.Tensor,
    n: int = 10,
    title: str | None = None,
    labels: Sequence[str] = ("original", "reconstruction"),
) -> plt.Figure:
    """Two rows: originals above, their reconstructions below. Both (N, C, H, W)."""
    a, b = as_image_batch(originals, "originals")[:n], as_image_batch(reconstructions, "reconstructions")[:n]
    if a.shape != b.shape:
        raise ValueError(f"originals {tuple(a.shape)} and reconstructions {tuple(b.shape)} must have the same shape.")
    fig, axes = plt.subplots(2, 1, figsize=(0.7 * len(a) + 1.2, 1.9))
    for ax, imgs, lab in zip(axes, (a, b), labels, strict=True):
        show_grid(imgs, nrow=len(imgs), ax=ax)
        ax.set_axis_on()
        ax.set_xticks([])
        ax.set_yticks([])
        for s in ax.spines.values():
            s.set_visible(False)
        ax.set_ylabel(lab, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_history(history: History, keys: Sequence[str] | None = None, ax: plt.Axes | None = None,
                 logy: bool = False, title: str | None = None, smooth: int = 1) -> plt.Axes:
    """Loss curves from a :class:`History` (optionally a running mean over ``smooth`` points)."""
    keys = list(keys or history.values)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    for k in keys:
        v = np.asarray(history[k], dtype=float)
        if smooth > 1 and len(v) >= smooth:
            v = np.convolve(v, np.ones(smooth) / smooth, mode="valid")
        ax.plot(history.steps[len(history.steps) - len(v):], v, label=k)
    ax.set_xlabel("step")
    if logy:
        ax.set_yscale("log")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return ax


def plot_latent_scatter(z: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str],
                        ax: plt.Axes | None = None, title: str | None = None, s: float = 3) -> plt.Axes:
    """2-D codes (N, 2) coloured by class."""
    z = torch.as_tensor(z).detach().cpu()
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(
            f"z must have shape (N, 2) for a 2-D scatter; got {tuple(z.shape)}. Project it first (e.g. PCA)."
        )
    labels = torch.as_tensor(labels).cpu()
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.5))
    cmap = plt.get_cmap("tab10")
    for c, name in enumerate(class_names):
        m = labels == c
        ax.scatter(z[m, 0], z[m, 1], s=s, color=cmap(c % 10), label=name, alpha=0.7, linewidths=0)
    ax.legend(markerscale=4, fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1, 0.5))
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return ax


@torch.no_grad()
def decode_grid(decode: Callable[[torch.Tensor], torch.Tensor], z1: Sequence[float], z2: Sequence[float],
                device: torch.device | str = "cpu") -> torch.Tensor:
    """Decode every point of the grid ``z1 x z2`` (2-D latent). Returns (len(z2)*len(z1), C, H, W), row-major,
    top row = largest z2 (so the picture has the same orientation as a scatter plot)."""
    zz = torch.tensor([[a, b] for b in reversed(list(z2)) for a in z1], dtype=torch.float32, device=device)
    return decode(zz).cpu()


def show_manifold(decode: Callable[[torch.Tensor], torch.Tensor], lim: tuple[float, float, float, float],
                  n: int = 15, device: torch.device | str = "cpu", ax: plt.Axes | None = None,
                  title: str | None = None) -> plt.Axes:
    """Decoded latent manifold over the box ``lim = (z1_min, z1_max, z2_min, z2_max)``."""
    z1 = np.linspace(lim[0], lim[1], n)
    z2 = np.linspace(lim[2], lim[3], n)
    imgs = decode_grid(decode, z1, z2, device)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(make_grid(imgs, nrow=n, pad=0), cmap="gray", vmin=0, vmax=1,
              extent=(lim[0], lim[1], lim[2], lim[3]), aspect="auto")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return ax


def _check_codes_2d(z: torch.Tensor, name: str = "z") -> None:
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"{name} must be 2-D codes of shape (N, 2), got {tuple(z.shape)}; "
                         "the latent grid is for models with a two-number code.")


def latent_grid_counts(z: torch.Tensor, box: tuple[float, float, float, float], bins: int = 40) -> np.ndarray:
    """How many codes fall into each cell of a ``bins x bins`` grid over ``box = (z1_min, z1_max, z2_min, z2_max)``.

    z: (N, 2) on the CPU -> (bins, bins) counts, entry [i, j] for cell i along z1 and j along z2 (the layout of
    ``np.histogram2d``; transpose it for ``imshow``). Codes outside the box are not counted. Chapters 1 and 2 use it
    to find the grid's empty cells, the holes in the code space.
    """
    _check_codes_2d(z)
    edges = [np.linspace(box[0], box[1], bins + 1), np.linspace(box[2], box[3], bins + 1)]
    return np.histogram2d(z[:, 0].numpy(), z[:, 1].numpy(), bins=edges)[0]


def in_empty_cell(z: torch.Tensor, counts: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """For codes z (N, 2) inside ``box``: does each fall into a cell of the grid whose count is 0?

    counts: (bins, bins) from :func:`latent_grid_counts` over the same box -> (N,) bool. A code outside the box has
    no cell: select the codes inside first (``((z >= lo) & (z <= hi)).all(dim=1)``); one within half a cell of the
    box (a rounding error) counts in the nearest edge cell.
    """
    _check_codes_2d(z)
    bins = counts.shape[0]
    if counts.shape != (bins, bins):
        raise ValueError(f"counts must be a square grid from latent_grid_counts, got shape {counts.shape}.")
    lo = torch.tensor([box[0], box[2]], dtype=torch.float64)
    hi = torch.tensor([box[1], box[3]], dtype=torch.float64)
    slack = (hi - lo) / bins / 2          # rounding may put a code a hair outside; half a cell is a caller's error
    if not ((z.double() >= lo - slack) & (z.double() <= hi + slack)).all():
        raise ValueError("some codes lie outside the box, where the grid has no cell: keep only the codes inside it, "
                         "e.g. z[((z >= lo) & (z <= hi)).all(dim=1)].")
    edges = [np.linspace(box[0], box[1], bins + 1), np.linspace(box[2], box[3], bins + 1)]
    cx = np.clip(np.digitize(z[:, 0].numpy(), edges[0]) - 1, 0, bins - 1)
    cy = np.clip(np.digitize(z[:, 1].numpy(), edges[1]) - 1, 0, bins - 1)
    return counts[cx, cy] == 0
