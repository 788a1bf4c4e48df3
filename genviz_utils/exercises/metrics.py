"""Checkers for chapter 6 (comparing the models): Frechet distance, k-NN precision, PSNR."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..metrics import frechet_distance, precision_recall, psnr
from . import ExerciseFailed, Passed, call, passed


def _number(value: object, name: str) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ExerciseFailed(f"{name} should return one number, got a tensor of shape {tuple(value.shape)}.")
        value = value.item()
    if not isinstance(value, int | float):
        raise ExerciseFailed(f"{name} should return a number, got {type(value).__name__}.")
    if math.isnan(value):
        raise ExerciseFailed(f"{name} returned NaN. An elementwise square root of a matrix with negative entries "
                             "does that: the formula needs the matrix square root (eigendecomposition).")
    return float(value)


def check_frechet_distance(fn: Callable[..., object]) -> Passed:
    """``fn(mu1, cov1, mu2, cov2)`` (float64 tensors (D,), (D, D)) must return the squared Frechet distance."""
    g = torch.Generator().manual_seed(0)
    d = 6
    A, B = torch.randn(d, d, generator=g, dtype=torch.float64), torch.randn(d, d, generator=g, dtype=torch.float64)
    c1, c2 = A @ A.T + 0.1 * torch.eye(d, dtype=torch.float64), B @ B.T + 0.1 * torch.eye(d, dtype=torch.float64)
    mu1, mu2 = torch.randn(d, generator=g, dtype=torch.float64), 3 + torch.randn(d, generator=g, dtype=torch.float64)
    name = "frechet_distance"
    out = _number(call(fn, mu1, c1, mu2, c2, name=name), name)
    ref = frechet_distance(mu1, c1, mu2, c2)
    d2, dn = float((mu1 - mu2).pow(2).sum()), float((mu1 - mu2).norm())
    no_sqrt = d2 + float(torch.trace(c1 + c2 - 2 * c1 @ c2))
    if math.isclose(out, no_sqrt, rel_tol=1e-4):
        raise ExerciseFailed("your cross term is -2 tr(cov1 cov2): it needs the matrix square root, "
                             "-2 tr((cov1 cov2)^(1/2)).")
    if math.isclose(out, ref - d2 + dn, rel_tol=1e-4):
        raise ExerciseFailed("the mean term must be the squared distance ||mu1 - mu2||^2, not the distance.")
    same = _number(call(fn, mu1, c1, mu1.clone(), c1.clone(), name=name), name)
    if abs(same) > 1e-5:
        raise ExerciseFailed(f"a Gaussian's distance to itself should be 0, got {same:.4g}. Check the cross term "
                             "-2 tr((cov1 cov2)^(1/2)): for cov1 = cov2 = C it equals -2 tr(C).")
    if not math.isclose(out, ref, rel_tol=1e-4, abs_tol=1e-6):
        raise ExerciseFailed(f"got {out:.6g}, expected {ref:.6g}. The formula is ||mu1 - mu2||^2 + tr(cov1) + "
                             "tr(cov2) - 2 tr((cov1 cov2)^(1/2)); compute the last trace as the sum of square roots "
                             "of the eigenvalues of s cov2 s, with s = cov1^(1/2).")
    return passed(name)


def check_precision(fn: Callable[..., object]) -> Passed:
    """``fn(real, fake, k=3)`` with features (N, D), (M, D) must return the k-NN precision of ``fake``."""
    g = torch.Generator().manual_seed(0)
    real = torch.randn(300, 4, generator=g, dtype=torch.float64)
    # fakes: half near the data, half far away; the true precision is about 0.5, the recall much lower
    fake = torch.cat([0.5 * torch.randn(100, 4, generator=g, dtype=torch.float64),
                      6 + torch.randn(100, 4, generator=g, dtype=torch.float64)])
    name = "precision"
    out = _number(call(fn, real, fake, 3, name=name), name)
    ref_p, ref_r = precision_recall(real, fake, 3)
    if not 0 <= out <= 1:
        raise ExerciseFailed(f"a precision is a fraction in [0, 1], got {out:.4g}.")
    if math.isclose(out, ref_r, abs_tol=1e-9) and not math.isclose(ref_p, ref_r):
        raise ExerciseFailed("you computed the recall (reals inside the fake manifold); precision asks how many "
                             "fakes fall inside the real manifold.")
    self_radius = torch.cdist(real, real).kthvalue(3, dim=1).values
    wrong = float((torch.cdist(fake, real) <= self_radius).any(1).double().mean())
    if math.isclose(out, wrong, abs_tol=1e-9) and not math.isclose(wrong, ref_p):
        raise ExerciseFailed("your radii count each real point as its own nearest neighbour (distance 0): use the "
                             "(k+1)-th smallest distance in the row, i.e. skip the point itself.")
    if not math.isclose(out, ref_p, abs_tol=1e-9):
        raise ExerciseFailed(f"got {out:.4f}, expected {ref_p:.4f}. A fake counts if its distance to SOME real "
                             "point is at most that real point's k-NN radius (<=, not <).")
    return passed(name, f"{out:.3f}")


def check_psnr(fn: Callable[..., object]) -> Passed:
    """``fn(x, x_hat)`` with images in [0, 1] must return 10 log10(1 / MSE) in dB (MSE over all pixels)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 28, 28, generator=g)
    x_hat = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    name = "psnr"
    out = _number(call(fn, x, x_hat, name=name), name)
    ref = psnr(x, x_hat)
    if math.isclose(out, 2 * ref, rel_tol=1e-4):
        raise ExerciseFailed("twice too large: PSNR is 10 log10(max^2 / MSE) (or 20 log10(max / RMSE)), not "
                             "20 log10(1 / MSE).")
    if math.isclose(out, ref - 10 * math.log10(x[0].numel()), rel_tol=1e-4) or \
            math.isclose(out, ref - 10 * math.log10(x.numel()), rel_tol=1e-4):
        raise ExerciseFailed("the MSE must be a mean over pixels, not a sum.")
    if not math.isclose(out, ref, rel_tol=1e-4):
        raise ExerciseFailed(f"got {out:.4f} dB, expected {ref:.4f} dB: 10 * log10(1 / mean((x - x_hat)**2)).")
    return passed(name, f"{out:.2f} dB")
