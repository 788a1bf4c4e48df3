"""Checkers for chapter 1 (autoencoders)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from . import ExerciseFailed, Passed, call, expect_close, expect_tensor, passed


def check_per_image_error(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Passed:
    """``fn(x, x_hat)`` with (B, 1, 28, 28) inputs must return the (B,) squared errors ||x_i - x_hat_i||^2."""
    g = torch.Generator().manual_seed(0)
    x, x_hat = torch.rand(6, 1, 28, 28, generator=g), torch.rand(6, 1, 28, 28, generator=g)
    target = ((x - x_hat) ** 2).flatten(1).sum(1)
    out = call(fn, x, x_hat, name="per_image_error")
    if isinstance(out, torch.Tensor) and out.ndim == 0:
        raise ExerciseFailed("per_image_error returned one number: reduce over the pixels only, keep the batch axis.")
    out = expect_tensor(out, (6,), "per_image_error")
    if torch.allclose(out, target / 784, rtol=1e-4):
        raise ExerciseFailed("your values are 784 times too small: sum over the pixels, do not average.")
    if torch.allclose(out, target.sqrt(), rtol=1e-4):
        raise ExerciseFailed("you returned the norm ||x - x_hat||; the exercise asks for its square.")
    expect_close(out, target, "per_image_error", "Square the differences, then sum over channel, height and width.")
    return passed("per_image_error")


def _reference_angles(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    qa, _ = torch.linalg.qr(A)
    qb, _ = torch.linalg.qr(B)
    return torch.rad2deg(torch.arccos(torch.linalg.svdvals(qa.T @ qb).clamp(-1, 1))).sort().values


def check_principal_angles(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Passed:
    """``fn(A, B)`` with (d, k) inputs must return the k principal angles in degrees, ascending."""
    g = torch.Generator().manual_seed(0)
    d, k = 12, 3
    A = torch.randn(d, k, generator=g, dtype=torch.float64)
    # Same span, different (non-orthonormal) basis: all angles must be 0.
    same = call(fn, A, A @ torch.randn(k, k, generator=g, dtype=torch.float64), name="principal_angles")
    same = expect_tensor(same, (k,), "principal_angles")
    if same.abs().max() > 1e-3:
        raise ExerciseFailed(
            "two bases of the same subspace should give angles of 0, but you got up to "
            f"{same.abs().max():.3g}. Orthonormalise each matrix (torch.linalg.qr) before the SVD."
        )
    B = torch.randn(d, k, generator=g, dtype=torch.float64)
    out = expect_tensor(call(fn, A, B, name="principal_angles"), (k,), "principal_angles")
    ref = _reference_angles(A, B)
    if torch.allclose(out.sort().values, torch.deg2rad(ref), atol=1e-4):
        raise ExerciseFailed("your angles are in radians; convert them with torch.rad2deg.")
    if torch.allclose(out.sort().values, ref, atol=1e-3) and not torch.allclose(out, ref, atol=1e-3):
        raise ExerciseFailed("the values are right but not sorted ascending; add .sort().values.")
    hint = "Orthonormalise both bases (torch.linalg.qr), then take arccos of the singular values of Qa^T Qb."
    expect_close(out, ref, "principal_angles", hint, atol=1e-3)
    return passed("principal_angles")


def check_pca_reconstruct(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> Passed:
    """``fn(x, k)`` with x (N, D) must return the rank-k PCA reconstruction of x, shape (N, D)."""
    g = torch.Generator().manual_seed(0)
    n, dim, k = 200, 10, 3
    x = torch.randn(n, dim, generator=g, dtype=torch.float64) @ torch.randn(dim, dim, generator=g, dtype=torch.float64)
    x = x + 5.0  # a large mean: forgetting to centre shows at once
    out = expect_tensor(call(fn, x, k, name="pca_reconstruct"), (n, dim), "pca_reconstruct")
    mean = x.mean(0)
    _, _, vt = torch.linalg.svd(x - mean, full_matrices=False)
    ref = mean + (x - mean) @ vt[:k].T @ vt[:k]
    _, _, vt_raw = torch.linalg.svd(x, full_matrices=False)
    uncentred = x @ vt_raw[:k].T @ vt_raw[:k]
    if torch.allclose(out.double(), uncentred, atol=1e-6):
        raise ExerciseFailed("you did not centre the data: subtract the mean before the SVD and add it back after.")
    if torch.allclose(out.double(), (x - mean) @ vt[:k].T @ vt[:k], atol=1e-6):
        raise ExerciseFailed("you centred the data but forgot to add the mean back to the reconstruction.")
    err_out = ((x - out.double()) ** 2).sum(1).mean()
    err_ref = ((x - ref) ** 2).sum(1).mean()
    if err_out > err_ref * 1.001:
        raise ExerciseFailed(
            f"your reconstruction error {err_out:.4g} is above PCA's {err_ref:.4g}: use the top-k right singular "
            "vectors (rows of Vt) of the centred data, i.e. the directions of largest variance."
        )
    expect_close(out.double(), ref, "pca_reconstruct", atol=1e-6)
    return passed("pca_reconstruct", f"k={k}")
