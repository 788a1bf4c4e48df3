"""Figures and explorers for discrete token maps (VQ-VAE chapter, reused by VQ-GAN).

A "tokenizer" here is any object with ``tokenize(images (B, 1, 28, 28)) -> tokens (B, H, W)`` and
``decode_tokens(tokens (B, H, W)) -> images (B, 1, 28, 28)`` and an attribute ``num_codes``
(e.g. :class:`genviz_utils.models.vq.VQVAE`). Like :mod:`genviz_utils.widgets`, every explorer first draws a
static figure (the website has no kernel), then the ipywidgets controls. :func:`prior_explorer` samples token maps
from a prior (anything with ``sample(n, temperature=, top_k=, generator=)`` and ``num_codes``, e.g.
:class:`genviz_utils.models.vq.TokenPrior`) at several temperatures and top-k settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle

from .viz import as_image_batch, make_grid, show_grid
from .widgets import has_ipywidgets


class Tokenizer(Protocol):
    num_codes: int

    def tokenize(self, x: torch.Tensor) -> torch.Tensor: ...

    def decode_tokens(self, tokens: torch.Tensor) -> torch.Tensor: ...


class Prior(Protocol):
    num_codes: int

    def sample(self, n: int, temperature: float = 1.0, top_k: int | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor: ...


def _draw_tokens(ax: plt.Axes, tokens: torch.Tensor, num_codes: int, numbers: bool = True,
                 highlight: tuple[int, int] | None = None) -> None:
    """Draw one (H, W) token map as coloured cells with the code numbers written in them."""
    t = tokens.detach().cpu().numpy()
    ax.imshow(t, cmap="viridis", vmin=0, vmax=num_codes - 1, interpolation="nearest")
    if numbers:
        for (r, c), k in np.ndenumerate(t):
            ax.text(c, r, str(k), ha="center", va="center", fontsize=6,
                    color="white" if k < 0.6 * num_codes else "black")
    if highlight is not None:
        r, c = highlight
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec="red", lw=2))
    ax.set_xticks([])
    ax.set_yticks([])


@torch.no_grad()
def show_token_maps(model: Tokenizer, images: torch.Tensor, n: int = 6,
                    title: str | None = None) -> plt.Figure:
    """Three rows for ``n`` images (N, 1, 28, 28): the image, its token map, the decoded tokens."""
    x = images[:n]
    tokens = model.tokenize(x)
    recon = as_image_batch(model.decode_tokens(tokens))
    fig, axes = plt.subplots(3, len(x), figsize=(1.45 * len(x), 4.6), squeeze=False)
    for i in range(len(x)):
        axes[0, i].imshow(as_image_batch(x)[i, 0], cmap="gray", vmin=0, vmax=1)
        _draw_tokens(axes[1, i], tokens[i], model.num_codes)
        axes[2, i].imshow(recon[i, 0], cmap="gray", vmin=0, vmax=1)
        for r in (0, 2):
            axes[r, i].set_axis_off()
    for r, label in enumerate(("image", "tokens", "decoded")):
        axes[r, 0].set_axis_on()
        axes[r, 0].set_xticks([])
        axes[r, 0].set_yticks([])
        axes[r, 0].set_ylabel(label)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


@torch.no_grad()
def codebook_viewer(model: Tokenizer, grid: tuple[int, int] = (7, 7), device: torch.device | str = "cpu",
                    ncol: int = 16, counts: torch.Tensor | None = None,
                    title: str | None = None) -> plt.Figure:
    """Each code decoded alone: a token grid filled with code k, for every k. Static figure.

    ``counts`` (K,), optional: how often each code is used; shown above each tile (unused codes in red).
    Drawn as one mosaic (one image, K labels), which is much faster than K axes.
    """
    k = model.num_codes
    tokens = torch.arange(k, device=device)[:, None, None].expand(k, *grid)
    imgs = as_image_batch(model.decode_tokens(tokens)).clamp(0, 1)[:, 0]   # (K, h, w)
    h, w = imgs.shape[1:]
    gap_x, gap_y = 3, 9                                                   # room for the labels
    nrow = -(-k // ncol)
    mosaic = np.ones((nrow * (h + gap_y), ncol * (w + gap_x)))
    fig, ax = plt.subplots(figsize=(0.75 * ncol, 0.9 * nrow + 0.5))
    for i in range(k):
        r, c = divmod(i, ncol)
        y0, x0 = r * (h + gap_y) + gap_y, c * (w + gap_x)
        mosaic[y0:y0 + h, x0:x0 + w] = imgs[i].numpy()
        label = f"{i}" if counts is None else f"{i}: {int(counts[i])}"
        unused = counts is not None and counts[i] == 0
        ax.text(x0 + w / 2, y0 - 1.5, label, ha="center", va="bottom", fontsize=6,
                color="red" if unused else "black")
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title or "codebook: every code decoded alone (a grid filled with one code)", fontsize=10)
    fig.tight_layout()
    return fig


@torch.no_grad()
def code_patches(model, images: torch.Tensor, codes: list[int] | None = None, n_codes: int = 16,
                 per_code: int = 8, margin: int = 4, title: str | None = None) -> plt.Figure:
    """For each code, the image patches whose encoder outputs lie nearest to it. Static figure.

    ``model`` needs ``encode(images) -> z_e (N, D, H, W)`` and ``quantizer.codebook`` (K, D), as
    :class:`genviz_utils.models.vq.VQVAE` has. ``images``: (N, 1, 28, 28). Each patch is one cell of the
    token grid (a ``stride x stride`` square, outlined in red) with ``margin`` pixels of context around it.
    ``codes`` defaults to ``n_codes`` codes spread over the used ones.
    """
    from .models.vq import nearest_codes

    z_e = model.encode(images)
    n, d, h, w = z_e.shape
    stride = images.shape[-1] // w
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
    codebook = model.quantizer.codebook
    idx = nearest_codes(flat, codebook)
    dist = (flat - codebook[idx]).pow(2).sum(1)
    if codes is None:
        used = torch.unique(idx).cpu()
        codes = used[np.linspace(0, len(used) - 1, min(n_codes, len(used))).round().astype(int)].tolist()
    padded = torch.nn.functional.pad(as_image_batch(images), (margin,) * 4)
    size = stride + 2 * margin
    fig, axes = plt.subplots(len(codes), 1, figsize=(0.7 * per_code + 0.8, 0.75 * len(codes) + 0.5),
                             squeeze=False)
    for ax, k in zip(axes[:, 0], codes, strict=True):
        where = torch.nonzero(idx == k).squeeze(1)
        where = where[dist[where].argsort()][:per_code].cpu()
        row = np.ones((size, per_code * (size + 1)))
        for j, pos in enumerate(where.tolist()):
            i, r, c = pos // (h * w), (pos % (h * w)) // w, pos % w
            patch = padded[i, 0, r * stride:r * stride + size, c * stride:c * stride + size]
            row[:, j * (size + 1):j * (size + 1) + size] = patch.numpy()
            ax.add_patch(Rectangle((j * (size + 1) + margin - 0.5, margin - 0.5), stride, stride, fill=False,
                                   ec="red", lw=0.8))
        ax.imshow(row, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(f"code {k}", rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title or "nearest encoder patches of each code (red: the cell, with context)", fontsize=10)
    fig.tight_layout()
    return fig


@torch.no_grad()
def _edit(model: Tokenizer, tokens: torch.Tensor, cell: tuple[int, int], code: int) -> torch.Tensor:
    t = tokens.clone()
    t[:, cell[0], cell[1]] = code
    return as_image_batch(model.decode_tokens(t))


def token_editor(model: Tokenizer, image: torch.Tensor, *, cell: tuple[int, int] = (3, 3),
                 codes: list[int] | None = None, interactive: bool = True, title: str = "token editor"):
    """Change one cell of an image's token map and see the decoded image change.

    ``image``: (1, 1, 28, 28) on the model's device. Static view: the token map (edited cell in red), the
    decoding of the original tokens, then the decodings with ``cell`` set to each code in ``codes`` (default
    8 codes spread over the codebook) and, below, where the image changed. Then sliders row / col / code.
    Returns the ipywidgets box, or ``None`` without a kernel.
    """
    if image.ndim != 4 or image.shape[0] != 1:
        raise ValueError(f"image must have shape (1, 1, 28, 28); got {tuple(image.shape)}. Use x[i:i+1].")
    with torch.no_grad():
        tokens = model.tokenize(image)                                  # (1, H, W)
        base = as_image_batch(model.decode_tokens(tokens))
    h, w = tokens.shape[1:]
    k = model.num_codes
    codes = codes if codes is not None else np.linspace(0, k - 1, 8).round().astype(int).tolist()
    edits = torch.cat([_edit(model, tokens, cell, c) for c in codes])
    fig = plt.figure(figsize=(1.0 * len(codes) + 3.4, 2.9))
    gs = fig.add_gridspec(2, len(codes) + 2, width_ratios=[1.6, 1.2] + [1] * len(codes))
    ax = fig.add_subplot(gs[:, 0])
    _draw_tokens(ax, tokens[0], k, highlight=cell)
    ax.set_title(f"tokens, cell {cell}", fontsize=8)
    ax = fig.add_subplot(gs[0, 1])
    ax.imshow(base[0, 0], cmap="gray", vmin=0, vmax=1)
    ax.set_title("decoded", fontsize=8)
    ax.set_axis_off()
    for j, c in enumerate(codes):
        ax = fig.add_subplot(gs[0, j + 2])
        ax.imshow(edits[j, 0], cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"code {c}", fontsize=8)
        ax.set_axis_off()
        ax = fig.add_subplot(gs[1, j + 2])
        ax.imshow((edits[j, 0] - base[0, 0]).abs(), cmap="magma", vmin=0, vmax=1)
        ax.set_axis_off()
    fig.text(0.02 + 1.6 / (len(codes) + 2.8), 0.25, "|change| \u2192", fontsize=8)
    fig.suptitle(f"{title} (static view: cell {cell} set to several codes; bottom: where the image changed)",
                 fontsize=9)
    fig.tight_layout()
    plt.show()
    if not (interactive and has_ipywidgets()):
        return None
    return _editor_box(model, tokens, base, cell, h, w, k)


def _editor_box(model, tokens, base, cell, h, w, k):
    import ipywidgets as widgets

    row = widgets.IntSlider(value=cell[0], min=0, max=h - 1, description="row")
    col = widgets.IntSlider(value=cell[1], min=0, max=w - 1, description="col")
    code = widgets.IntSlider(value=int(tokens[0, cell[0], cell[1]]), min=0, max=k - 1, description="code")
    out = widgets.Output()

    def redraw(_=None):
        c = (row.value, col.value)
        edited = tokens.clone()
        edited[0, c[0], c[1]] = code.value
        img = _edit(model, tokens, c, code.value)
        with out:
            out.clear_output(wait=True)
            fig, axes = plt.subplots(1, 3, figsize=(6.6, 2.3))
            _draw_tokens(axes[0], edited[0], k, highlight=c)
            axes[1].imshow(img[0, 0], cmap="gray", vmin=0, vmax=1)
            axes[1].set_title("decoded", fontsize=8)
            axes[2].imshow(make_grid((img - base).abs(), nrow=1, pad=0), cmap="magma", vmin=0, vmax=1)
            axes[2].set_title("|change|", fontsize=8)
            for a in axes[1:]:
                a.set_axis_off()
            plt.show()

    for s in (row, col, code):
        s.observe(redraw, names="value")
    redraw()
    return widgets.HBox([widgets.VBox([row, col, code]), out])


# ----- sampling from a token prior: temperature and top-k -------------------------------------------------------


def _label_row(ax: plt.Axes, label: str, fontsize: int = 8) -> None:
    ax.set_axis_on()
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=fontsize)


def prior_explorer(tokenizer: Tokenizer, prior: Prior, temps: Sequence[float] = (0.5, 0.8, 1.0, 1.5),
                   top_ks: Sequence[int | None] = (1, 4, 16, None), n: int = 12, interactive: bool = True,
                   name: str = "VQ-GAN"):
    """Samples of ``prior`` decoded by ``tokenizer``: a static grid, then sliders (temperature, top-k, seed).

    The static figure has one row of ``n`` images (1, 28, 28) per setting: first every temperature in ``temps``
    with top-k off, then every k in ``top_ks`` (None: off) at temperature 1, each row drawn with the same seed
    (a ``torch.Generator`` seeded 1). With a kernel (``interactive`` and ipywidgets present) it returns the
    widgets box, which draws 16 samples per setting; otherwise ``None``. ``name`` names the tokenizer in the title.
    """
    if n < 1 or not (len(temps) + len(top_ks)):
        raise ValueError(f"need n >= 1 images per row and at least one setting, got n={n}, temps={tuple(temps)}, "
                         f"top_ks={tuple(top_ks)}.")
    if any(t <= 0 for t in temps) or any(k is not None and k < 1 for k in top_ks):
        raise ValueError(f"temperatures must be > 0 and top-k values >= 1 (None: off), got {tuple(temps)} and "
                         f"{tuple(top_ks)}.")
    settings = [(t, None) for t in temps] + [(1.0, k) for k in top_ks]
    fig, axes = plt.subplots(len(settings), 1, figsize=(0.55 * n + 1.6, 0.62 * len(settings) + 0.5),
                             squeeze=False)
    for ax, (t, k) in zip(axes[:, 0], settings, strict=True):
        with torch.no_grad():
            tokens = prior.sample(n, temperature=t, top_k=k, generator=torch.Generator().manual_seed(1))
            imgs = tokenizer.decode_tokens(tokens)
        show_grid(imgs, nrow=n, ax=ax)
        _label_row(ax, f"T={t:g}, top-k={'off' if k is None else k}")
    axes[0, 0].set_title(f"{name} + prior: temperature (top {len(temps)} rows) and top-k (bottom {len(top_ks)} "
                         "rows), same seed per row", fontsize=9)
    fig.tight_layout()
    plt.show()
    if not (interactive and has_ipywidgets()):
        return None
    return _prior_box(tokenizer, prior)


def _prior_box(tokenizer: Tokenizer, prior: Prior):
    import ipywidgets as widgets

    temp = widgets.FloatSlider(value=1.0, min=0.2, max=2.0, step=0.05, description="temperature")
    topk = widgets.IntSlider(value=prior.num_codes, min=1, max=prior.num_codes, description="top-k")
    seed = widgets.IntSlider(value=0, min=0, max=99, description="seed")
    out = widgets.Output()

    def redraw(_=None):
        k = None if topk.value >= prior.num_codes else topk.value
        with torch.no_grad():
            rng = torch.Generator().manual_seed(seed.value)
            imgs = tokenizer.decode_tokens(prior.sample(16, temperature=temp.value, top_k=k, generator=rng))
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(6, 1.7))
            ax.imshow(make_grid(imgs, nrow=8), cmap="gray", vmin=0, vmax=1)
            ax.set_axis_off()
            ax.set_title(f"T = {temp.value:.2f}, top-k = {'off' if k is None else k}", fontsize=9)
            plt.show()

    for s in (temp, topk, seed):
        s.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([temp, topk, seed]), out])
