"""Checkers for chapter 4 (GANs)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..models.gan import count_modes, ring_centers
from . import ExerciseFailed, Passed, call, expect_close, expect_number, expect_tensor, passed


def check_optimal_discriminator(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Passed:
    """``fn(p_data, p_g)`` (densities at the same points, shape (N,)) must return D*(x), shape (N,)."""
    p_data = torch.tensor([0.4, 0.1, 0.0, 2.0, 0.25])
    p_g = torch.tensor([0.1, 0.1, 0.3, 0.0, 0.75])
    out = expect_tensor(call(fn, p_data, p_g, name="optimal_discriminator"), (5,), "optimal_discriminator")
    ref = p_data / (p_data + p_g)
    both = (p_data > 0) & (p_g > 0)   # where the log-ratio is finite

    def same(other: torch.Tensor, mask: torch.Tensor | None = None) -> bool:
        mask = torch.ones(5, dtype=torch.bool) if mask is None else mask
        return bool(torch.isfinite(out[mask]).all()) and torch.allclose(out[mask], other[mask], atol=1e-4)

    if same(1 - ref):
        raise ExerciseFailed("you returned p_g / (p_data + p_g): D is the probability that x is REAL.")
    if same(torch.full((5,), 0.5)):
        raise ExerciseFailed("D* = 1/2 only where p_g = p_data (at the equilibrium); elsewhere it is "
                             "p_data / (p_data + p_g).")
    if same(torch.log(p_data / p_g), both):
        raise ExerciseFailed("you returned the logit log(p_data / p_g); D* is its sigmoid, the probability "
                             "p_data / (p_data + p_g).")
    if same(p_data / p_g, both) or not torch.isfinite(out).all():
        raise ExerciseFailed("D*(x) must be a probability in [0, 1]: divide by p_data + p_g, not by p_g.")
    expect_close(out, ref, "optimal_discriminator", "D*(x) = p_data(x) / (p_data(x) + p_g(x)).")
    return passed("optimal_discriminator")


def check_nonsaturating_loss(fn: Callable[[torch.Tensor], torch.Tensor]) -> Passed:
    """``fn(fake_logits)`` (B,) must return the mean of -log D(G(z)) with D = sigmoid(logits), computed stably."""
    # sigmoid(-120) underflows in float32 and sigmoid(-1000) in float64 too, so log(sigmoid(.)) fails in either
    logits = torch.tensor([-1000.0, -120.0, -5.0, 0.0, 2.0, 40.0])
    out = call(fn, logits, name="nonsaturating_loss")
    if isinstance(out, torch.Tensor) and out.shape == logits.shape:
        raise ExerciseFailed("you returned one loss per sample; return their mean over the batch (a 0-d tensor).")
    if not isinstance(out, torch.Tensor) or out.ndim != 0:
        raise ExerciseFailed("return a single number (a 0-d tensor): the mean over the batch.")
    ref = F.softplus(-logits).mean()
    if torch.isclose(out, -F.softplus(logits).mean(), atol=1e-4):
        raise ExerciseFailed("that is log(1 - D(G(z))), the saturating loss. The non-saturating one is -log D(G(z)).")
    if not torch.isfinite(out):
        without_1000 = call(fn, logits[1:], name="nonsaturating_loss")
        if isinstance(without_1000, torch.Tensor) and bool(torch.isfinite(without_1000).all()):
            raise ExerciseFailed("your loss is finite at the logit -120 but inf/nan at -1000: log(sigmoid(.)) in "
                                 "float64 only moves the underflow further out. Compute log D as -softplus(-logit) "
                                 "(or use F.binary_cross_entropy_with_logits).")
        raise ExerciseFailed("your loss is inf/nan for confident logits (-120): sigmoid underflows to 0 in float32, "
                             "so compute log D as -softplus(-logit), or use F.binary_cross_entropy_with_logits, "
                             "instead of log(sigmoid(.)).")
    if torch.isclose(out, F.softplus(logits).mean(), atol=1e-4):
        raise ExerciseFailed("sign error: -log D = softplus(-logit), not softplus(logit).")
    if torch.isclose(out, F.softplus(-logits).sum(), atol=1e-3):
        raise ExerciseFailed("you summed over the batch; take the mean, so the loss does not grow with the batch size.")
    expect_close(out, ref, "nonsaturating_loss", "Use F.softplus(-logits).mean().", atol=1e-4)
    return passed("nonsaturating_loss")


# Wrong readings of "count the centres that kept at least 2% of all N samples within 3 std = 0.15", each with the
# message that names it; the checker recognises one when the reader's counts equal its counts on every test set.
def _count(samples: torch.Tensor, centers: torch.Tensor, radius: float = 0.15, squared: bool = False,
           kept_denominator: bool = False, strict: bool = False, fraction: float = 0.02, p: float = 2.0) -> int:
    dist, nearest = torch.cdist(samples, centers, p=p).min(dim=1)
    keep = (dist ** 2 if squared else dist) < radius
    counts = torch.bincount(nearest[keep], minlength=len(centers))
    bar = fraction * (int(keep.sum()) if kept_denominator else len(samples))
    return int((counts > bar).sum() if strict else (counts >= bar).sum())


def _wrong_bar(fraction: float) -> str:
    return f"your bar is {100 * fraction:g}% of the samples; the exercise asks for 2% (0.02 * len(samples))."


_MISTAKES: list[tuple[dict, str]] = [
    (dict(kept_denominator=True), "you took 2% of the KEPT samples as the bar; the exercise asks for 2% of all N "
                                  "samples, the far ones included (len(samples), not the number kept)."),
    (dict(radius=float("inf")), "you counted every sample at its nearest centre; keep only the samples closer than "
                                "3 * 0.05 = 0.15 to it."),
    (dict(radius=0.05), "you kept only the samples within 0.05 (one std) of their centre; the radius is 3 std = 0.15."),
    (dict(radius=0.1), "you kept only the samples within 0.1 (two std) of their centre; the radius is 3 std = 0.15."),
    (dict(radius=0.3), "you kept the samples within 0.3 (six std) of their centre; the radius is 3 std = 3 * 0.05 "
                       "= 0.15."),
    (dict(squared=True), "you compared SQUARED distances with 0.15; compare the distance itself (or its square with "
                         "0.15 ** 2)."),
    (dict(p=1.0), "you measured the L1 (Manhattan) distance |dx| + |dy|; use the Euclidean distance (torch.cdist's "
                  "default, p=2)."),
    (dict(p=float("inf")), "you measured the largest coordinate difference max(|dx|, |dy|) (L-infinity); use the "
                           "Euclidean distance (torch.cdist's default, p=2)."),
    (dict(strict=True), "a centre with exactly 2% of the samples is covered: 'at least' is >=, not >."),
    (dict(fraction=0.01), _wrong_bar(0.01)),
    (dict(fraction=0.03), _wrong_bar(0.03)),
    (dict(fraction=0.05), _wrong_bar(0.05)),
    (dict(fraction=0.2), _wrong_bar(0.2)),
]


def _test_sets() -> dict[str, torch.Tensor]:
    """Sample sets on which the reference and each wrong reading in _MISTAKES give different counts."""
    c = ring_centers(8)
    rng = torch.Generator().manual_seed(0)
    outward = c / c.norm(dim=1, keepdim=True)   # unit vectors pointing away from the ring's centre
    along = torch.stack([-outward[:, 1], outward[:, 0]], dim=1)   # unit vectors along the ring

    def at(mode: int, n: int, offset: float = 0.0, sideways: float = 0.0) -> torch.Tensor:
        return (c[mode] + offset * outward[mode] + sideways * along[mode]).repeat(n, 1)

    sets = {
        "all 8 modes": c[torch.arange(800) % 8] + 0.05 * torch.randn(800, 2, generator=rng),
        "3 modes": c[torch.arange(600) % 3] + 0.05 * torch.randn(600, 2, generator=rng),
        # 1000 samples, 500 of them far from every centre (at the origin): 15 kept samples are 3% of the kept ones
        # but only 1.5% of all
        "half the samples far from the ring": torch.cat([torch.zeros(500, 2), at(0, 160), at(1, 160), at(2, 160),
                                                        at(3, 15), at(4, 5)]),
        # modes at 1.5%, exactly 2%, 2.5%, 4% and 10% of 1000 samples: they tell a bar of 1, 2, 3, 5 or 20% and
        # > from >= apart
        "modes at 1.5, 2, 2.5, 4 and 10%": torch.cat([at(0, 15), at(1, 20), at(2, 25), at(3, 40), at(4, 100),
                                                       at(5, 800)]),
        "points between modes": 0.01 * torch.randn(500, 2, generator=rng),
    }
    # a mode off its centre by d (radially): kept for d < 0.15 only, so radii other than ~0.15 get it wrong
    for d in (0.09, 0.11, 0.13, 0.145, 0.155, 0.17, 0.28, 0.35, 0.6):
        sets[f"a mode {d:g} from its centre ({d / 0.05:g} std)"] = torch.cat([at(0, 500), at(1, 500, d)])
    # off-axis: distance 0.141 (kept) but L1 0.2; distance 0.17 (not kept) but L-infinity 0.12
    sets["a mode (0.1, 0.1) off its centre"] = torch.cat([at(0, 500), at(1, 500, 0.1, 0.1)])
    sets["a mode (0.12, 0.12) off its centre"] = torch.cat([at(0, 500), at(1, 500, 0.12, 0.12)])
    return sets


def check_count_modes(fn: Callable[[torch.Tensor, torch.Tensor], int]) -> Passed:
    """``fn(samples, centers)`` must count the centres that keep at least 2% of ALL samples, where a sample is kept
    at its nearest centre when it lies within 3 std (3 * 0.05) of it."""
    centers = ring_centers(8)
    got: dict[str, int] = {}
    for name, samples in _test_sets().items():
        out = call(fn, samples, centers, name="count_modes")
        if isinstance(out, torch.Tensor) and out.numel() == len(centers):
            raise ExerciseFailed("you returned one count per centre; return how many centres are covered (one int).")
        if isinstance(out, torch.Tensor) and out.numel() != 1:
            raise ExerciseFailed(f"return one number, not a tensor of shape {tuple(out.shape)}.")
        value = float(out)
        if value != int(value):
            raise ExerciseFailed(f"you returned {value:g}; return the NUMBER of covered centres (an int), not a "
                                 "fraction.")
        got[name] = int(value)
    expected = {name: count_modes(s, centers)[0] for name, s in _test_sets().items()}
    if got == expected:
        return passed("count_modes")
    for kwargs, message in _MISTAKES:
        if got == {name: _count(s, centers, **kwargs) for name, s in _test_sets().items()}:
            raise ExerciseFailed(message)
    name = next(n for n in expected if got[n] != expected[n])
    raise ExerciseFailed(f"for '{name}' you counted {got[name]} modes, expected {expected[name]}. Assign each sample "
                         "to its nearest centre, keep it only if closer than 3 * 0.05, and count the centres that "
                         "kept at least 2% of all samples.")


def _matrix(singular_values: list[float], rows: int, seed: int) -> torch.Tensor:
    """A (rows, len(singular_values)) float32 matrix with exactly these singular values (random singular vectors)."""
    rng = torch.Generator().manual_seed(seed)
    cols = len(singular_values)
    u, _ = torch.linalg.qr(torch.randn(rows, cols, generator=rng, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(cols, cols, generator=rng, dtype=torch.float64))
    return (u * torch.tensor(singular_values, dtype=torch.float64)) @ v.T


def _estimate(fn: Callable[[torch.Tensor, int], torch.Tensor | float], W: torch.Tensor, n_iters: int) -> float:
    """Call the reader's power iteration with a fixed random state (so two calls start from the same vector)."""
    torch.manual_seed(0)
    return expect_number(call(fn, W, n_iters, name="power_iteration"), "power_iteration",
                         "return one number, the estimate of the largest singular value (e.g. (W @ v).norm()).")


def check_power_iteration(fn: Callable[[torch.Tensor, int], torch.Tensor | float]) -> Passed:
    """``fn(W, n_iters)`` for a matrix W (m, n) must return the power-iteration estimate of sigma_max(W), the spectral
    norm, after ``n_iters`` alternating steps ``u = W v / |W v|``, ``v = W^T u / |W^T u|``."""
    sigmas = [3.0, 2.7, 1.0, 0.5]                   # sigma_2 / sigma_1 = 0.9: one step is visibly short of sigma_1
    tall = _matrix(sigmas, 6, seed=1).float()          # not square: W alone cannot be iterated
    square = _matrix([3.0, 2.7, 1.0, 0.5, 0.2, 0.1], 6, seed=2).float()
    exact = float(torch.linalg.matrix_norm(tall.double(), ord=2))
    try:
        got = _estimate(fn, tall, 300)
    except ExerciseFailed:
        try:
            _estimate(fn, square, 300)
        except ExerciseFailed:
            raise
        raise ExerciseFailed("your iteration works for a square W but fails for a 6x4 one: it multiplies by W alone "
                             "(v = W v). Alternate W and W^T (u = W v, v = W^T u), i.e. iterate W^T W, whose top "
                             "eigenvector is the top right singular vector of any W.") from None
    if not math.isfinite(got) or got == 0.0:
        raise ExerciseFailed(f"after 300 steps your estimate is {got}: without normalising the vector after every "
                             "multiplication it grows (or shrinks) like sigma^(2n) and overflows. Divide u and v by "
                             "their norms at every step.")
    fro = float(torch.linalg.matrix_norm(tall.double()))
    if abs(got - fro) < 1e-3 * fro:
        raise ExerciseFailed("that is the Frobenius norm sqrt(sum of all W_ij^2) = sqrt(sum of sigma_i^2), an upper "
                             "bound; the spectral norm is the largest singular value alone.")
    if abs(got - exact ** 2) < 1e-3 * exact ** 2:
        raise ExerciseFailed("you returned |W v|^2 (or v^T W^T W v) = sigma^2; the spectral norm is sigma = |W v| "
                             "with v of norm 1.")
    if abs(got - exact) > 1e-3 * exact:
        if abs(_estimate(fn, tall, 1) - got) < 1e-6 * exact:
            raise ExerciseFailed(f"your function returns the same estimate ({got:.4f}) for 1 and for 300 steps: it "
                                 "ignores n_iters. Loop n_iters times, so that the estimate converges to sigma_max "
                                 f"= {exact:.4f}.")
        raise ExerciseFailed(f"after 300 steps your estimate is {got:.4f}, but sigma_max(W) = {exact:.4f}. Return "
                             "|W v| for the last unit vector v (or u^T W v).")
    return passed("power_iteration", f"sigma_max = {exact:.4f}, estimated {got:.4f}")
