"""Model diagrams drawn with matplotlib, so every chapter opens with a figure of its model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Polygon

COLORS = {"data": "#dbe9f6", "net": "#fde2c8", "latent": "#d9f2d0", "loss": "#f6d5d5", "op": "#eeeeee"}


@dataclass
class Box:
    """One box of a diagram. ``kind`` picks the colour and shape: ``data``, ``net`` (encoder/decoder,
    drawn as a trapezoid that ``shrink``s or grows), ``latent``, ``loss`` or ``op``."""

    label: str
    kind: str = "op"
    shape: str = "box"        # "box", "shrink" (wide -> narrow) or "grow" (narrow -> wide)
    sub: str = ""             # a second, smaller line under the label


def draw_pipeline(boxes: Sequence[Box], title: str = "", width: float = 1.6, gap: float = 0.55,
                  notes: Sequence[tuple[int, int, str]] = (), figsize: tuple[float, float] | None = None) -> plt.Figure:
    """Draw ``boxes`` left to right, joined by arrows. ``notes`` are extra curved arrows
    ``(from_index, to_index, label)`` drawn below the row (e.g. a loss comparing input and output)."""
    n = len(boxes)
    total = n * width + (n - 1) * gap
    fig, ax = plt.subplots(figsize=figsize or (max(6.0, 1.25 * total), 2.6 if notes else 1.9))
    h = 1.0
    for i, b in enumerate(boxes):
        x0 = i * (width + gap)
        color = COLORS.get(b.kind, COLORS["op"])
        if b.shape in ("shrink", "grow"):
            a, c = (h, 0.45 * h) if b.shape == "shrink" else (0.45 * h, h)
            pts = [(x0, -a / 2), (x0 + width, -c / 2), (x0 + width, c / 2), (x0, a / 2)]
            ax.add_patch(Polygon(pts, closed=True, fc=color, ec="#444", lw=1.2))
        else:
            ax.add_patch(FancyBboxPatch((x0, -0.35 * h), width, 0.7 * h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                        fc=color, ec="#444", lw=1.2))
        ax.text(x0 + width / 2, 0.08 if b.sub else 0, b.label, ha="center", va="center", fontsize=10)
        if b.sub:
            ax.text(x0 + width / 2, -0.17, b.sub, ha="center", va="center", fontsize=8, color="#333")
        if i < n - 1:
            ax.add_patch(FancyArrowPatch((x0 + width + 0.03, 0), (x0 + width + gap - 0.03, 0),
                                         arrowstyle="-|>", mutation_scale=12, color="#333"))
    for i, j, label in notes:
        xi = i * (width + gap) + width / 2
        xj = j * (width + gap) + width / 2
        ax.plot([xi, xi, xj, xj], [-0.42, -0.75, -0.75, -0.42], color="#a33", ls="--", lw=1.2)
        for x in (xi, xj):
            ax.add_patch(FancyArrowPatch((x, -0.6), (x, -0.38), arrowstyle="-|>", mutation_scale=10, color="#a33"))
        ax.text((xi + xj) / 2, -0.92, label, ha="center", va="center", fontsize=9, color="#a33")
    ax.set_xlim(-0.1, total + 0.1)
    ax.set_ylim(-1.15 if notes else -0.6, 0.65)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return fig
