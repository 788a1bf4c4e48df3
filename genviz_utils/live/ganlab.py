"""GAN Lab's core for chapter 4's ring of eight Gaussians, running in the reader's browser.

:func:`live_gan_lab` is the page element: two small MLPs (``ganlab.js``: hand-written backprop and Adam) train on
the ring while the reader watches the generator's samples over a heat map of the discriminator ``D(x)``, switches
the generator's loss, turns PacGAN packing on and off and reads the modes covered, counted as
:func:`genviz_utils.models.gan.count_modes` counts them. No weights travel with it: only code and a small config.

:func:`train_ring_gan` is the same training in PyTorch (the chapter's ``train_toy`` with the networks' width and
the batch as arguments); the tests compare its coverage with the browser's over several seeds.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models.gan import count_modes, d_loss, g_loss_nonsaturating, g_loss_saturating, ring_centers, sample_ring
from ..runtime import seed_everything
from .page import element

__all__ = ["BOOK_BATCH", "BOOK_WIDTH", "LOSSES", "live_gan_lab", "ring_mlp", "train_ring_gan"]

Z_DIM, PACK = 16, 4                      # noise size and PacGAN's pack, as in chapter 4
BOOK_WIDTH, BOOK_BATCH = 128, 256        # the chapter's networks and batch
LIVE_WIDTH, LIVE_BATCH = 64, 64          # the browser's: about 14x less work per step (see live_gan_lab)
LR, BETAS, EPS = 1e-3, (0.5, 0.999), 1e-8
LOSSES = {"nonsaturating": g_loss_nonsaturating, "saturating": g_loss_saturating}


def ring_mlp(n_in: int, n_out: int, width: int = BOOK_WIDTH, slope: float = 0.0) -> nn.Sequential:
    """Chapter 4's ``mlp``: (B, n_in) -> (B, n_out) through two hidden layers of ``width``; ReLU (``slope=0``,
    the generator) or LeakyReLU(``slope``) (the discriminator)."""
    def act() -> nn.Module:
        return nn.LeakyReLU(slope) if slope else nn.ReLU()
    return nn.Sequential(nn.Linear(n_in, width), act(), nn.Linear(width, width), act(), nn.Linear(width, n_out))


def train_ring_gan(steps: int, *, pack: int = 1, seed: int = 0, width: int = LIVE_WIDTH, batch: int = LIVE_BATCH,
                   loss: str = "nonsaturating", every: int = 50) -> list[tuple[int, int, float]]:
    """The ring GAN that the browser trains, in PyTorch: chapter 4's ``train_toy`` (same networks, Adam, losses,
    ring and mode counter) with ``width`` and ``batch`` free. At ``width=128, batch=256`` it is the chapter's run.

    Each step: D on ``batch`` packs of ``pack`` real and of ``pack`` fake samples (a pack is ``pack`` samples
    concatenated, (batch, 2 * pack)), then G with ``loss`` on D's logits of the same fakes. Returns records
    ``[(step, modes covered, high-quality fraction)]`` every ``every`` steps, measured on a fixed batch of 1000 noise
    vectors as the chapter measures them.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}.")
    if pack < 1 or steps < 0 or every < 1:
        raise ValueError(f"need pack >= 1, steps >= 0 and every >= 1, got {pack}, {steps}, {every}.")
    seed_everything(seed)
    G, D = ring_mlp(Z_DIM, 2, width), ring_mlp(2 * pack, 1, width, slope=0.2)
    opt_g, opt_d = (torch.optim.Adam(m.parameters(), LR, betas=BETAS, eps=EPS) for m in (G, D))
    rng, centers = torch.Generator().manual_seed(seed), ring_centers()
    z_fixed = torch.randn(1000, Z_DIM, generator=torch.Generator().manual_seed(99))
    records = []
    for s in range(steps + 1):
        if s % every == 0:
            with torch.no_grad():
                records.append((s, *count_modes(G(z_fixed), centers)))
        if s == steps:
            break
        real, fake = sample_ring(batch * pack, generator=rng), G(torch.randn(batch * pack, Z_DIM))
        ld = d_loss(D(real.view(batch, -1))[:, 0], D(fake.detach().view(batch, -1))[:, 0])
        opt_d.zero_grad()
        ld.backward()
        opt_d.step()
        lg = LOSSES[loss](D(fake.view(batch, -1))[:, 0])
        opt_g.zero_grad()
        lg.backward()
        opt_g.step()
    return records


TITLE = "GAN Lab on the ring: training runs in your browser"


def live_gan_lab(*, width: int = LIVE_WIDTH, batch: int = LIVE_BATCH, seed: int = 0, loss: str = "nonsaturating",
                 pack: bool = False, max_steps: int = 10_000, title: str = TITLE):
    """The live GAN Lab element (``IPython.display.HTML``): press play and watch G and D train on the ring.

    ``width`` and ``batch`` default to a smaller GAN than chapter 4's (64 and 64 instead of 128 and 256: a JS step
    at the chapter's sizes takes about 14 times as long), so that the browser finds the ring within about half a
    minute; the element says so whenever they differ from the chapter's. ``loss`` ("nonsaturating" or
    "saturating") and ``pack`` (PacGAN's packs of 4) are the starting choices, which the reader can switch (each
    switch restarts training); training pauses itself after ``max_steps`` steps.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}.")
    if width < 1 or batch < 1 or max_steps < 1:
        raise ValueError(f"width, batch and max_steps must be positive, got {width}, {batch}, {max_steps}.")
    cfg = {"z_dim": Z_DIM, "width": width, "batch": batch, "pack_size": PACK, "pack": bool(pack), "loss": loss,
           "seed": int(seed), "lr": LR, "betas": list(BETAS), "eps": EPS, "slope": 0.2, "max_steps": max_steps,
           "n_modes": 8, "radius": 2.0, "std": 0.05, "min_fraction": 0.02, "n_eval": 1000, "lim": 3.0}
    arrow = " &rarr; "
    sizes = (f"G {arrow.join(map(str, (Z_DIM, width, width, 2)))}, D 2&middot;pack{arrow}{width}{arrow}{width}"
             f"{arrow}1, batch {batch}; Adam, learning rate {LR:g}, betas {BETAS}")
    if (width, batch) != (BOOK_WIDTH, BOOK_BATCH):
        which = "a smaller GAN than" if width <= BOOK_WIDTH and batch <= BOOK_BATCH else "other sizes than"
        sizes = (f"{which} the chapter's (widths {width} instead of {BOOK_WIDTH}, batch {batch} instead of "
                 f"{BOOK_BATCH}): {sizes}")
    return element("ganlab.html", cfg, title=title, scripts=("engine.js", "ganlab.js"), sizes=sizes)
