"""Checkers for chapter 4 (GANs)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..models.gan import count_modes, ring_centers
from . import ExerciseFailed, Passed, call, expect_close, expect_tensor, passed


def check_optimal_discriminator(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Passed:
    """``fn(p_data, p_g)`` (densities at the same points, shape (N,)) must return D*(x), shape (N,)."""
    p_data = torch.tensor([0.4, 0.1, 0.0, 2.0, 0.25])
    p_g = torch.tensor([0.1, 0.1, 0.3, 0.0, 0.75])
    out = expect_tensor(call(fn, p_data, p_g, name="optimal_discriminator"), (5,), "optimal_discriminator")
    ref = p_data / (p_data + p_g)
    if torch.allclose(out, 1 - ref, atol=1e-6):
        raise ExerciseFailed("you returned p_g / (p_data + p_g): D is the probability that x is REAL.")
    if torch.allclose(out, p_data / p_g.clamp_min(1e-12), atol=1e-3) or not torch.isfinite(out).all():
        raise ExerciseFailed("D*(x) must be a probability in [0, 1]: divide by p_data + p_g, not by p_g.")
    expect_close(out, ref, "optimal_discriminator", "D*(x) = p_data(x) / (p_data(x) + p_g(x)).")
    return passed("optimal_discriminator")


def check_nonsaturating_loss(fn: Callable[[torch.Tensor], torch.Tensor]) -> Passed:
    """``fn(fake_logits)`` (B,) must return the mean of -log D(G(z)) with D = sigmoid(logits), computed stably."""
    logits = torch.tensor([-120.0, -5.0, 0.0, 2.0, 40.0])  # sigmoid(-120) underflows in float32
    out = call(fn, logits, name="nonsaturating_loss")
    if not isinstance(out, torch.Tensor) or out.ndim != 0:
        raise ExerciseFailed("return a single number (a 0-d tensor): the mean over the batch.")
    ref = F.softplus(-logits).mean()
    if torch.isclose(out, -F.softplus(logits).mean(), atol=1e-4):
        raise ExerciseFailed("that is log(1 - D(G(z))), the saturating loss. The non-saturating one is -log D(G(z)).")
    if not torch.isfinite(out):
        raise ExerciseFailed("your loss is inf/nan for confident logits (-120): compute log D as -softplus(-logit), "
                             "or use F.binary_cross_entropy_with_logits, instead of log(sigmoid(.)).")
    if torch.isclose(out, F.softplus(logits).mean(), atol=1e-4):
        raise ExerciseFailed("sign error: -log D = softplus(-logit), not softplus(logit).")
    expect_close(out, ref, "nonsaturating_loss", "Use F.softplus(-logits).mean().", atol=1e-4)
    return passed("nonsaturating_loss")


def check_count_modes(fn: Callable[[torch.Tensor, torch.Tensor], int]) -> Passed:
    """``fn(samples, centers)`` must count the modes that receive at least 2% of the samples within 3 std (0.05)."""
    centers = ring_centers(8)
    g = torch.Generator().manual_seed(0)
    cases = {
        "all 8 modes": centers[torch.arange(800) % 8] + 0.05 * torch.randn(800, 2, generator=g),
        "3 modes": centers[torch.arange(600) % 3] + 0.05 * torch.randn(600, 2, generator=g),
        "one big mode + a trace of another": torch.cat([centers[[0]].repeat(990, 1), centers[[5]].repeat(10, 1)]),
        "points between modes": 1.0 * torch.randn(500, 2, generator=g) * 0.01,
    }
    for name, samples in cases.items():
        expected = count_modes(samples, centers)[0]
        got = call(fn, samples, centers, name="count_modes")
        if int(got) != expected:
            raise ExerciseFailed(f"for {name} you counted {got} modes, expected {expected}. Assign each sample to its "
                                 "nearest centre, keep it only if closer than 3 * 0.05, and count centres with at "
                                 "least 2% of all samples.")
    return passed("count_modes")
