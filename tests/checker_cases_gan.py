"""Chapter 4's checkers: reference solutions and plausible wrong ones (see tests/checker_cases.py)."""

import torch
import torch.nn.functional as F
from checker_cases import Case, Wrong

from genviz_utils.exercises.gan import (
    check_count_modes,
    check_nonsaturating_loss,
    check_optimal_discriminator,
    check_power_iteration,
)


def _modes(s, c, radius=0.15, squared=False, kept=False, strict=False, fraction=0.02, out="count", p=2.0):
    dist, nearest = torch.cdist(s, c, p=p).min(dim=1)
    keep = (dist ** 2 if squared else dist) < radius
    counts = torch.bincount(nearest[keep], minlength=len(c))
    if out == "per centre":
        return counts
    bar = fraction * (int(keep.sum()) if kept else len(s))
    covered = int((counts > bar).sum() if strict else (counts >= bar).sum())
    return covered / len(c) if out == "fraction" else covered


CASES = [
    Case(check_optimal_discriminator, (lambda p, q: p / (p + q),), [
        Wrong("probability of fake", (lambda p, q: q / (p + q),), "probability that x is REAL"),
        Wrong("likelihood ratio", (lambda p, q: p / q,), "divide by p_data \\+ p_g, not by p_g"),
        Wrong("the equilibrium value everywhere", (lambda p, q: torch.full_like(p, 0.5),), "only where p_g = p_data"),
        Wrong("the logit", (lambda p, q: torch.log(p / q),), "logit"),
        Wrong("mixture in the denominator", (lambda p, q: p / (2 * (p + q)),), "differs from the reference"),
    ], also_right=[(lambda p, q: torch.sigmoid(torch.log(p) - torch.log(q)).nan_to_num(0.0),)]),
    Case(check_nonsaturating_loss, (lambda lg: F.softplus(-lg).mean(),), [
        Wrong("the saturating loss", (lambda lg: -F.softplus(lg).mean(),), "the saturating loss"),
        Wrong("log of sigmoid", (lambda lg: -torch.log(torch.sigmoid(lg)).mean(),), "inf/nan"),
        Wrong("log of sigmoid in float64", (lambda lg: -torch.log(torch.sigmoid(lg.double())).mean().float(),),
              "further out"),
        Wrong("sign error", (lambda lg: F.softplus(lg).mean(),), "sign error"),
        Wrong("sum over the batch", (lambda lg: F.softplus(-lg).sum(),), "summed over the batch"),
        Wrong("no reduction", (lambda lg: F.softplus(-lg),), "one loss per sample"),
    ], also_right=[(lambda lg: F.binary_cross_entropy_with_logits(lg, torch.ones_like(lg)),)]),
    Case(check_count_modes, (_modes,), [
        Wrong("2% of the kept samples", (lambda s, c: _modes(s, c, kept=True),), "KEPT samples"),
        Wrong("no distance filter", (lambda s, c: _modes(s, c, radius=float("inf")),), "every sample"),
        Wrong("one std as the radius", (lambda s, c: _modes(s, c, radius=0.05),), "one std"),
        Wrong("two std as the radius", (lambda s, c: _modes(s, c, radius=0.1),), "two std"),
        Wrong("six std as the radius", (lambda s, c: _modes(s, c, radius=0.3),), "six std"),
        Wrong("a radius a little too small", (lambda s, c: _modes(s, c, radius=0.12),), "0.13 from its centre"),
        Wrong("a radius a little too large", (lambda s, c: _modes(s, c, radius=0.18),), "0.155 from its centre"),
        Wrong("L1 distance", (lambda s, c: _modes(s, c, p=1.0),), "L1 \\(Manhattan\\)"),
        Wrong("L-infinity distance", (lambda s, c: _modes(s, c, p=float("inf")),), "L-infinity"),
        Wrong("squared distance against 0.15", (lambda s, c: _modes(s, c, squared=True),), "SQUARED"),
        Wrong("> instead of >=", (lambda s, c: _modes(s, c, strict=True),), "'at least' is >="),
        Wrong("1% instead of 2%", (lambda s, c: _modes(s, c, fraction=0.01),), "bar is 1% of"),
        Wrong("3% instead of 2%", (lambda s, c: _modes(s, c, fraction=0.03),), "bar is 3% of"),
        Wrong("5% instead of 2%", (lambda s, c: _modes(s, c, fraction=0.05),), "bar is 5% of"),
        Wrong("20% instead of 2%", (lambda s, c: _modes(s, c, fraction=0.2),), "bar is 20% of"),
        Wrong("the per-centre counts", (lambda s, c: _modes(s, c, out="per centre"),), "one count per centre"),
        Wrong("the fraction of centres", (lambda s, c: _modes(s, c, out="fraction"),), "not a fraction"),
        Wrong("all centres", (lambda s, c: len(c),), "you counted 8 modes, expected 3"),
    ], also_right=[(lambda s, c: torch.tensor(_modes(s, c)),)]),
]


def _power(W, n, normalise=True, square_only=False, out="sigma", fixed_steps=None):
    v = torch.randn(W.shape[1], dtype=W.dtype)
    v = v / v.norm()
    for _ in range(n if fixed_steps is None else fixed_steps):
        if square_only:
            v = W @ v
            v = v / v.norm() if normalise else v
            continue
        u = W @ v
        u = u / u.norm() if normalise else u
        v = W.T @ u
        v = v / v.norm() if normalise else v
    if out == "fro":
        return torch.linalg.matrix_norm(W)
    return (W @ v).norm() ** 2 if out == "squared" else (W @ v).norm()


CASES.append(Case(check_power_iteration, (_power,), [
    Wrong("no normalisation of the vector", (lambda W, n: _power(W, n, normalise=False),), "without normalising"),
    Wrong("returns |W v|^2", (lambda W, n: _power(W, n, out="squared"),), "sigma\\^2"),
    Wrong("the Frobenius norm", (lambda W, n: _power(W, n, out="fro"),), "Frobenius"),
    Wrong("W instead of W^T W (square W only)", (lambda W, n: _power(W, n, square_only=True),), "square W"),
    Wrong("a fixed single step", (lambda W, n: _power(W, n, fixed_steps=1),), "ignores n_iters"),
], also_right=[(lambda W, n: _power(W.double(), n).float(),),
               (lambda W, n: float(_power(W, n)),)]))
