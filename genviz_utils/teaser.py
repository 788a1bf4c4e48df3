"""Teasers: a small image grid per chapter that the book's landing page shows (``book/intro.md``)."""

from __future__ import annotations

import base64
import io

import matplotlib.pyplot as plt
import torch

from .viz import show_grid


def glue_teaser(key: str, images: torch.Tensor, title: str, nrow: int = 8) -> bool:
    """Glue ``images`` (N, 1, 28, 28) in [0, 1] as a grid under ``key`` for another page to paste with
    ``{glue} key`` and ``:doc:``. Returns False (and does nothing) where myst-nb is missing, e.g. on Colab.

    The grid is glued as HTML with the PNG inline: a figure glued with ``display=False`` is never written to the
    site's images, so another page pasting it would show a broken image.
    """
    try:
        from myst_nb import glue
    except ImportError:
        return False
    from IPython.display import HTML

    fig, ax = plt.subplots(figsize=(4, 2))
    show_grid(images.detach().cpu(), nrow=nrow, ax=ax)      # no title: the card on the landing page has one
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=150, bbox_inches="tight", pad_inches=0.03)
    plt.close(fig)
    src = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    glue(key, HTML(f'<img src="{src}" alt="{title}" style="width: 100%; height: auto">'), display=False)
    return True
