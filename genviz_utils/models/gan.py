"""GAN pieces of chapter 4, reused by the VQ-GAN chapter.

1. Losses written on the discriminator's logits (saturating, non-saturating, hinge).
2. A DCGAN sized for a CPU: :class:`Generator`, :class:`Discriminator` (optionally spectral-normed, optionally a
   PatchGAN that returns one logit per patch), built from :func:`conv_block`; one training step,
   :func:`dcgan_step`. Each keeps its constructor arguments in ``config``, which every checkpoint of
   :func:`genviz_utils.training.train` stores, so :func:`genviz_utils.models.registry.load_model` rebuilds it.
3. The 2-D toy: a ring of Gaussians, its sampler, the mode counter and the measures of coverage that chapter 4
   prints (largest mode share, fraction on the ring, an even ring without modes), plus the statistics of its
   coverage records over the second half of training (mean and standard error, gaps in standard errors).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# ----- losses, all written on the discriminator's logits l = log D / (1 - D) -----------------------------------


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-[log D(x) + log(1 - D(G(z)))], averaged: the discriminator's side of V(D, G)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_loss_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """log(1 - D(G(z))): the generator's side of V(D, G) as written (minimised). Saturates when D wins."""
    return -F.softplus(fake_logits).mean()


def g_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(z)): same fixed point, strong gradients when D confidently rejects the fakes."""
    return F.softplus(-fake_logits).mean()


def d_hinge_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the discriminator (used by VQ-GAN): relu(1 - D(x)) + relu(1 + D(G(z)))."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def g_hinge_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's side of the hinge game: -D(G(z)) on the raw logits."""
    return -fake_logits.mean()


# ----- a DCGAN for 28x28 images that trains on a CPU -------------------------------------------------------------


def conv_block(cin: int, cout: int, spectral: bool = False, norm: bool = False) -> nn.Sequential:
    """Stride-2 4x4 convolution (halves H and W), optional BatchNorm, LeakyReLU(0.2).
    ``spectral=True`` wraps the convolution in spectral normalisation. (B, cin, H, W) -> (B, cout, H/2, W/2)."""
    conv = nn.Conv2d(cin, cout, 4, stride=2, padding=1, bias=not norm)
    layers = [nn.utils.spectral_norm(conv) if spectral else conv]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    return nn.Sequential(*layers, nn.LeakyReLU(0.2))


class Generator(nn.Module):
    """z (B, z_dim) -> images (B, 1, 28, 28) in [-1, 1] (tanh); 7x7 -> 14x14 -> 28x28."""

    def __init__(self, z_dim: int = 64, width: int = 32):
        super().__init__()
        self.z_dim, self.width = z_dim, width
        self.config = dict(z_dim=z_dim, width=width)
        self.fc = nn.Sequential(                                         # z (B, z_dim)
            nn.Linear(z_dim, 2 * width * 49), nn.BatchNorm1d(2 * width * 49), nn.ReLU(),   # (B, 2w * 7 * 7)
        )                                                                # viewed as (B, 2w, 7, 7) in forward
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),  # (B, w, 14, 14)
            nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1),          # (B, 1, 28, 28)
            nn.Tanh(),                                                     # in [-1, 1]
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"expected noise of shape (B, {self.z_dim}), got {tuple(z.shape)}.")
        return self.net(self.fc(z).view(-1, 2 * self.width, 7, 7))


class Discriminator(nn.Module):
    """images (B, C, H, W) in [-1, 1], H and W multiples of 4 -> logits (B,).

    Two stride-2 conv blocks (H -> H/2 -> H/4) and a linear head. With ``patch=True`` the head is a 3x3
    convolution instead and the output is one logit per overlapping patch, (B, H/4, W/4): a PatchGAN, as
    VQ-GAN uses. ``spectral=True`` puts spectral normalisation on every layer; ``norm=True`` adds BatchNorm
    after the second convolution, as in DCGAN (real and fake batches then go through D separately).
    """

    def __init__(self, width: int = 32, spectral: bool = False, patch: bool = False, in_channels: int = 1,
                 image_size: int = 28, norm: bool = False):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 (two stride-2 blocks), got {image_size}.")
        self.width, self.spectral, self.patch = width, spectral, patch
        self.in_channels, self.image_size = in_channels, image_size
        self.config = dict(width=width, spectral=spectral, patch=patch, in_channels=in_channels,
                           image_size=image_size, norm=norm)
        self.features = nn.Sequential(                  # x (B, C, H, W)
            conv_block(in_channels, width, spectral),     # (B, w, H/2, W/2)
            conv_block(width, 2 * width, spectral, norm),  # (B, 2w, H/4, W/4)
        )
        side = image_size // 4
        head = (nn.Conv2d(2 * width, 1, 3, padding=1) if patch         # (B, 1, H/4, W/4): a logit per patch
                else nn.Linear(2 * width * side * side, 1))             # (B, 1) on the flattened features
        self.head = nn.utils.spectral_norm(head) if spectral else head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        want = (self.in_channels, self.image_size, self.image_size)
        if x.ndim != 4 or x.shape[1] != self.in_channels or (not self.patch and tuple(x.shape[1:]) != want):
            raise ValueError(f"expected images of shape (B, {', '.join(map(str, want))}), got {tuple(x.shape)}.")
        h = self.features(x)
        return self.head(h)[:, 0] if self.patch else self.head(h.flatten(1))[:, 0]


# Chapter 4's Adam settings, measured by chapter 7's protocol (``python tools/tune.py gan base lr1e3 lr5_g1e3``;
# 4,000 steps of 64 images, one seed): the FD-FMNIST-CNN of 2,000 samples was 48.2 with both at 2e-4 (the DCGAN
# paper's setting), 26.2 with both at 1e-3 and 23.6 with these, in the same 4,000 steps. Most of the gain is the
# larger rates; G at twice D's rate was the best of the pairs tried, within about one interval of both at 1e-3.
DCGAN_LR_G, DCGAN_LR_D, DCGAN_BETAS = 1e-3, 5e-4, (0.5, 0.999)


def dcgan_optimizers(G: nn.Module, D: nn.Module) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for G and for D with chapter 4's settings (``DCGAN_LR_G``, ``DCGAN_LR_D``, ``DCGAN_BETAS``)."""
    return (torch.optim.Adam(G.parameters(), DCGAN_LR_G, betas=DCGAN_BETAS),
            torch.optim.Adam(D.parameters(), DCGAN_LR_D, betas=DCGAN_BETAS))


def dcgan_step(G: Generator, D: Discriminator, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
               x: torch.Tensor, losses: tuple = (d_loss, g_loss_nonsaturating)) -> dict[str, torch.Tensor]:
    """One DCGAN update on real images x (B, 1, 28, 28) in [0, 1]: a discriminator step on real and fake, then a
    generator step, with ``losses`` = (D's loss, G's loss), by default the non-saturating pair (``(d_hinge_loss,
    g_hinge_loss)`` for the hinge game). Returns both losses (0-d tensors)."""
    loss_d_fn, loss_g_fn = losses
    x = x * 2 - 1
    fake = G(torch.randn(x.shape[0], G.z_dim, device=x.device))
    loss_d = loss_d_fn(D(x), D(fake.detach()))
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    loss_g = loss_g_fn(D(fake))
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return {"loss_d": loss_d, "loss_g": loss_g}


# ----- the 2-D toy: a ring of Gaussians ---------------------------------------------------------------------------


def ring_centers(n_modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """(n_modes, 2) centres evenly spaced on a circle."""
    angles = torch.arange(n_modes) * 2 * math.pi / n_modes
    return radius * torch.stack([angles.cos(), angles.sin()], dim=1)


def sample_ring(n: int, n_modes: int = 8, radius: float = 2.0, std: float = 0.05,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """n points (n, 2) from an equal mixture of Gaussians on a ring."""
    c = ring_centers(n_modes, radius)
    idx = torch.randint(0, n_modes, (n,), generator=generator)
    return c[idx] + std * torch.randn(n, 2, generator=generator)


def count_modes(samples: torch.Tensor, centers: torch.Tensor, std: float = 0.05,
                min_fraction: float = 0.02) -> tuple[int, float]:
    """Modes covered and the fraction of high-quality samples.

    A sample is high quality if it lies within 3 std of its nearest centre; a mode is covered if at least
    ``min_fraction`` of all samples are high-quality samples of that mode. samples (N, 2), centers (M, 2).
    """
    d = torch.cdist(samples.float(), centers.float())
    dist, nearest = d.min(dim=1)
    good = dist < 3 * std
    counts = torch.bincount(nearest[good], minlength=len(centers))
    return int((counts >= min_fraction * len(samples)).sum()), float(good.float().mean())


def largest_mode_share(samples: torch.Tensor, centers: torch.Tensor, std: float = 0.05) -> float:
    """The largest fraction of the high-quality samples that sits at one mode (1/M when spread evenly over M modes).

    samples (N, 2), centers (M, 2); a sample is high quality within 3 std of its nearest centre (as in
    :func:`count_modes`). Without any high-quality sample the share is 0.
    """
    if samples.ndim != 2 or centers.ndim != 2 or samples.shape[1] != centers.shape[1]:
        raise ValueError(f"expected samples (N, d) and centers (M, d) with the same d, got {tuple(samples.shape)} "
                         f"and {tuple(centers.shape)}.")
    dist, nearest = torch.cdist(samples, centers).min(dim=1)
    counts = torch.bincount(nearest[dist < 3 * std], minlength=len(centers))
    return (counts.max() / counts.sum().clamp_min(1)).item()


def on_ring_fraction(samples: torch.Tensor, radius: float = 2.0, std: float = 0.05) -> float:
    """Fraction of the samples (N, 2) within 3 std of the circle of ``radius`` (near a mode or not)."""
    if samples.ndim != 2 or samples.shape[1] != 2:
        raise ValueError(f"expected 2-D points of shape (N, 2), got {tuple(samples.shape)}.")
    return float(((samples.norm(dim=1) - radius).abs() < 3 * std).float().mean())


def sample_even_ring(n: int, radius: float = 2.0, std: float = 0.05,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """n points (n, 2) on a ring without modes: angle uniform, radius ``radius`` + N(0, std^2).

    Draws the n angles first, then the n radii, from ``generator``.
    """
    if n < 1:
        raise ValueError(f"n must be a positive number of points, got {n}.")
    angle = 2 * math.pi * torch.rand(n, generator=generator)
    r = radius + std * torch.randn(n, generator=generator)
    return torch.stack([r * angle.cos(), r * angle.sin()], 1)


# ----- statistics of coverage records [(step, value 1, value 2, ...), ...] taken during training -----------------


def records_up_to(records: list[tuple], steps: int) -> list[tuple]:
    """The records of the first ``steps`` steps (entry 0 is the step): those of the same run stopped there."""
    return [r for r in records if r[0] <= steps]


def second_half(records: list[tuple], k: int) -> tuple[float, float]:
    """Mean of entry k of the records over the second half of training, and its standard error.

    The standard error comes from the spread between records, which are correlated in time, so it is on the
    small side. Needs at least two records in the second half.
    """
    v = np.array([r[k] for r in records[len(records) // 2:]], dtype=float)
    if len(v) < 2:
        raise ValueError(f"need at least 2 records in the second half for a standard error, got {len(v)}; "
                         "record more often (a smaller `every`) or train longer.")
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v)))


def z_gap(records_a: list[tuple], records_b: list[tuple], k: int) -> float:
    """(second-half mean of a - that of b) for entry k, in standard errors of the difference."""
    (ma, sa), (mb, sb) = second_half(records_a, k), second_half(records_b, k)
    return (ma - mb) / math.hypot(sa, sb)


def mean_se(records: list[tuple], k: int) -> str:
    """The second-half mean of entry k and its standard error as a table cell, e.g. "0.125±0.004"."""
    m, s = second_half(records, k)
    return f"{m:.3f}±{s:.3f}"
