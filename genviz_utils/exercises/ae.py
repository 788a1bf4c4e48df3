"""Checkers for chapter 1 (autoencoders).

Each checker first compares the answer with the typical wrong versions a reader writes (computed on the same inputs),
so that a mistake gets a message naming it, and only then with the reference.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from . import ExerciseFailed, Passed, call, expect_close, expect_tensor, passed


def _same(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-6, rtol: float = 1e-4) -> bool:
    a, b = a.detach().double(), b.detach().double()
    return a.shape == b.shape and bool(torch.isfinite(b).all()) and torch.allclose(a, b, rtol=rtol, atol=atol)


def check_per_image_error(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Passed:
    """``fn(x, x_hat)`` with (B, 1, 28, 28) inputs must return the (B,) squared errors ||x_i - x_hat_i||^2."""
    rng = torch.Generator().manual_seed(0)
    x, x_hat = torch.rand(6, 1, 28, 28, generator=rng), torch.rand(6, 1, 28, 28, generator=rng)
    diff = (x - x_hat).flatten(1)
    target = (diff ** 2).sum(1)
    out = call(fn, x, x_hat, name="per_image_error")
    if isinstance(out, torch.Tensor) and out.ndim == 0:
        raise ExerciseFailed("per_image_error returned one number: reduce over the pixels only, keep the batch axis.")
    out = expect_tensor(out, (6,), "per_image_error")
    mistakes = [
        (target / 784, "your values are 784 times too small: sum over the pixels, do not average."),
        (target.sqrt(), "you returned the norm ||x - x_hat||; the exercise asks for its square."),
        ((target / 784).sqrt(), "you returned the root mean square error per image; the exercise asks for the sum "
                                "of the squared differences, without the mean and the square root."),
        (diff.abs().sum(1), "you summed the absolute differences |x - x_hat| (an L1 error): square the differences "
                            "instead."),
        (target / 2, "your values are half the squared error: drop the factor 1/2."),
    ]
    for wrong, message in mistakes:
        if _same(out, wrong):
            raise ExerciseFailed(message)
    expect_close(out, target, "per_image_error", "Square the differences, then sum over channel, height and width.")
    return passed("per_image_error")


def _qr(M: torch.Tensor) -> torch.Tensor:
    return torch.linalg.qr(M)[0]


def _unit(M: torch.Tensor) -> torch.Tensor:
    return M / M.norm(dim=0)


def _angles_of(cosines: torch.Tensor) -> torch.Tensor:
    return torch.rad2deg(torch.arccos(cosines.clamp(-1, 1))).sort().values


def _reference_angles(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    return _angles_of(torch.linalg.svdvals(_qr(A).T @ _qr(B)))


def check_principal_angles(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Passed:
    """``fn(A, B)`` with (d, k) inputs must return the k principal angles in degrees, ascending."""
    rng = torch.Generator().manual_seed(0)
    d, k = 12, 3
    # Columns of different lengths, not orthogonal: a formula that skips (or half-does) the orthonormalisation
    # gives different numbers from the reference (scaled so that the un-orthonormalised cosines stay below 1).
    scale = torch.tensor([0.15, 0.3, 0.2], dtype=torch.float64)
    A = torch.randn(d, k, generator=rng, dtype=torch.float64) * scale
    B = torch.randn(d, k, generator=rng, dtype=torch.float64) * scale.flip(0)
    out = expect_tensor(call(fn, A, B, name="principal_angles"), (k,), "principal_angles")
    if not torch.isfinite(out).all():
        raise ExerciseFailed("some angles are NaN: arccos got a cosine outside [-1, 1]. The singular values of "
                             "Qa^T Qb are cosines only when both bases are orthonormal (torch.linalg.qr); then "
                             "clamp them to [-1, 1] against rounding.")
    ref = _reference_angles(A, B)
    ranked = out.detach().double().sort().values
    mistakes = [
        (_angles_of(torch.linalg.svdvals(A.T @ B)),
         "you took the SVD of A^T B itself: its singular values are cosines only for orthonormal bases. "
         "Orthonormalise each matrix (torch.linalg.qr) first."),
        (_angles_of(torch.linalg.svdvals(_qr(A).T @ B)), "you orthonormalised only A: orthonormalise B too."),
        (_angles_of(torch.linalg.svdvals(A.T @ _qr(B))), "you orthonormalised only B: orthonormalise A too."),
        (_angles_of(torch.linalg.svdvals(_unit(A).T @ _unit(B))),
         "unit-length columns are not enough: the columns must also be orthogonal to each other. Orthonormalise "
         "with torch.linalg.qr instead of dividing by the norms."),
        (torch.linalg.svdvals(_qr(A).T @ _qr(B)).sort().values,
         "you returned the cosines (the singular values of Qa^T Qb): take torch.arccos and convert to degrees."),
        (torch.deg2rad(ref), "your angles are in radians; convert them with torch.rad2deg."),
    ]
    for wrong, message in mistakes:
        if _same(ranked, wrong.sort().values, atol=1e-4):
            raise ExerciseFailed(message)
    if _same(ranked, ref, atol=1e-3) and not _same(out, ref, atol=1e-3):
        raise ExerciseFailed("the values are right but not sorted ascending; add .sort().values.")
    # Two bases of the same subspace: all angles must be 0 whatever the bases. Twenty of them, since whether rounding
    # pushes a cosine above 1 depends on the pair and on the machine's arithmetic (about half the pairs do).
    same = torch.stack([expect_tensor(call(fn, A, A @ torch.randn(k, k, generator=rng, dtype=torch.float64),
                                           name="principal_angles"), (k,), "principal_angles")
                        for _ in range(20)])
    if not torch.isfinite(same).all():
        raise ExerciseFailed(
            "for two bases of the same subspace you returned NaN: rounding makes some cosines slightly larger "
            "than 1, and arccos of those is NaN. Clamp the cosines to [-1, 1] (.clamp(-1, 1)) before torch.arccos."
        )
    # 0.1 degree: arccos near 1 loses half the digits, so a correct float32 answer gives about 0.02 degrees here.
    if not (same.abs().max() <= 0.1):
        raise ExerciseFailed(
            "two bases of the same subspace should give angles of 0, but you got up to "
            f"{same.abs().max():.3g}. The angles depend only on the spans: orthonormalise each matrix "
            "(torch.linalg.qr) before the SVD."
        )
    hint = "Orthonormalise both bases (torch.linalg.qr), then take arccos of the singular values of Qa^T Qb."
    expect_close(out, ref, "principal_angles", hint, atol=1e-3)
    return passed("principal_angles")


def check_pca_reconstruct(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> Passed:
    """``fn(x, k)`` with x (N, D) must return the rank-k PCA reconstruction of x, shape (N, D)."""
    rng = torch.Generator().manual_seed(0)
    n, dim, k = 200, 10, 3
    x = (torch.randn(n, dim, generator=rng, dtype=torch.float64)
         @ torch.randn(dim, dim, generator=rng, dtype=torch.float64))
    x = x + 5.0 + torch.arange(dim, dtype=torch.float64)  # a large mean, different per column
    out = expect_tensor(call(fn, x, k, name="pca_reconstruct"), (n, dim), "pca_reconstruct")
    if not torch.isfinite(out).all():
        raise ExerciseFailed("pca_reconstruct returned NaN or inf values.")
    out = out.detach().double()

    def project(centre: torch.Tensor, V: torch.Tensor, add_back: bool = True) -> torch.Tensor:
        r = (x - centre) @ V @ V.T
        return r + centre if add_back else r

    mean = x.mean(0)
    vt = torch.linalg.svd(x - mean, full_matrices=False)[2]
    ref = project(mean, vt[:k].T)
    vt_raw = torch.linalg.svd(x, full_matrices=False)[2]
    grand = x.mean()
    vt_grand = torch.linalg.svd(x - grand, full_matrices=False)[2]
    mistakes = [
        (x @ vt_raw[:k].T @ vt_raw[:k],
         "you did not centre the data: subtract the mean before the SVD and add it back after."),
        (project(mean, vt[:k].T, add_back=False),
         "you centred the data but forgot to add the mean back to the reconstruction."),
        (project(grand, vt_grand[:k].T),
         "you subtracted one number, the mean of all entries: subtract the mean of each column, x.mean(0)."),
        (project(mean, vt[-k:].T),
         "you projected onto the k directions of smallest variance: torch.linalg.svd sorts them largest first "
         "(take Vt[:k]), torch.linalg.eigh smallest first (take its last k eigenvectors)."),
        (project(mean, vt[1: k + 1].T),
         "you skipped the first principal direction (Vt[1:k + 1], an off-by-one): keep the first k, Vt[:k]."),
        (project(mean, vt[: k - 1].T),
         "you kept only k - 1 directions: keep exactly k, Vt[:k]."),
        (project(mean, vt[:, :k]),
         "you used the first k columns of Vt: the principal directions are its rows, so V = Vt[:k].T."),
    ]
    for wrong, message in mistakes:
        if _same(out, wrong):
            raise ExerciseFailed(message)
    err_out = ((x - out) ** 2).sum(1).mean()
    err_ref = ((x - ref) ** 2).sum(1).mean()
    # A projection of the centred data onto some other k directions (e.g. torch.pca_lowrank's approximate ones).
    v_out = torch.linalg.svd(out - mean, full_matrices=False)[2][:k].T
    if err_out > err_ref * 1.001 and _same(out, project(mean, v_out)):
        raise ExerciseFailed(
            f"your reconstruction projects the centred data onto k directions, but not the top k: its error "
            f"{err_out:.4g} is above PCA's {err_ref:.4g}. torch.pca_lowrank is randomized and only approximate "
            "(with q = k and its default niter = 2): use torch.linalg.svd and keep the rows Vt[:k]."
        )
    if err_out > err_ref * 1.001:
        raise ExerciseFailed(
            f"your reconstruction error {err_out:.4g} is above PCA's {err_ref:.4g}: use the top-k right singular "
            "vectors (rows of Vt) of the centred data, i.e. the directions of largest variance."
        )
    if err_out < err_ref * 0.999:
        raise ExerciseFailed(
            f"your reconstruction error {err_out:.4g} is below what any rank-{k} reconstruction can reach "
            f"({err_ref:.4g}): keep exactly k directions."
        )
    # 1e-4: a float32 solution is off by about 1e-5 on these values (up to about 50); every mistake above by far more
    expect_close(out, ref, "pca_reconstruct", atol=1e-4)
    return passed("pca_reconstruct", f"k={k}")


def _gaussian_pixels(batch: int, sigma: torch.Tensor, rng: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Data whose exact denoiser and noisy score are known: every pixel x ~ N(m, s^2) independently, x_noisy =
    x + sigma * eps. Then E[x | x_noisy] = m + s^2 / (s^2 + sigma^2) (x_noisy - m) and the score of the noisy
    data is -(x_noisy - m) / (s^2 + sigma^2). ``sigma`` broadcasts against (B, 1, 28, 28).
    Returns (denoised, x_noisy, true score)."""
    s2 = 0.04
    m = torch.rand(1, 1, 28, 28, generator=rng, dtype=torch.float64)
    x = m + s2 ** 0.5 * torch.randn(batch, 1, 28, 28, generator=rng, dtype=torch.float64)
    x_noisy = x + sigma * torch.randn(batch, 1, 28, 28, generator=rng, dtype=torch.float64)
    denoised = m + s2 / (s2 + sigma ** 2) * (x_noisy - m)
    return denoised, x_noisy, -(x_noisy - m) / (s2 + sigma ** 2)


def check_score_from_denoiser(fn: Callable[[torch.Tensor, torch.Tensor, float | torch.Tensor], torch.Tensor]) -> Passed:
    """``fn(denoised, x_noisy, sigma)`` with (B, 1, 28, 28) images and ``sigma`` a float or a (B,) tensor must
    return Tweedie's score estimate (denoised - x_noisy) / sigma^2, shape (B, 1, 28, 28)."""
    rng = torch.Generator().manual_seed(0)
    # B = 28 on purpose: a (B,) sigma divided into (B, 1, 28, 28) images without a reshape then broadcasts
    # silently along the image width instead of raising.
    batch = 28
    for sigma in (0.3, 0.2 + 0.8 * torch.rand(batch, generator=rng, dtype=torch.float64)):
        per_image = isinstance(sigma, torch.Tensor)
        s = sigma.view(-1, 1, 1, 1) if per_image else torch.tensor(sigma, dtype=torch.float64)
        denoised, x_noisy, true_score = _gaussian_pixels(batch, s, rng)
        out = expect_tensor(call(fn, denoised, x_noisy, sigma, name="score_from_denoiser"), (batch, 1, 28, 28),
                            "score_from_denoiser")
        if not torch.isfinite(out).all():
            raise ExerciseFailed("score_from_denoiser returned NaN or inf values.")
        diff = denoised - x_noisy
        mistakes = [
            (-diff / s ** 2, "your score has the wrong sign: it is (denoised - x_noisy) / sigma^2, pointing from "
                             "the noisy image towards the denoised one, uphill in density."),
            (diff / s, "you divided by sigma: Tweedie's formula divides by the variance sigma^2."),
            (diff, "you returned denoised - x_noisy without dividing by sigma^2."),
            (diff / (2 * s ** 2), "you divided by 2 sigma^2: the factor 1/2 belongs to the Gaussian's exponent, "
                                  "not to the score; divide by sigma^2."),
            (diff * s ** 2, "you multiplied by sigma^2: divide by it."),
            (denoised, "you returned the denoised image itself: the score is (denoised - x_noisy) / sigma^2."),
        ]
        if per_image:
            mistakes += [
                (diff / sigma ** 2, "your (B,) sigma was divided into the images without a reshape, so it broadcast "
                                    "along the image width (column j divided by sigma_j^2): reshape it to "
                                    "(B, 1, 1, 1) with sigma.view(-1, 1, 1, 1)."),
                (diff / sigma[0] ** 2, "you used one noise level (sigma[0]) for every image: image i has its own "
                                       "sigma[i]; reshape sigma to (B, 1, 1, 1)."),
            ]
        for wrong, message in mistakes:
            if _same(out, wrong):
                raise ExerciseFailed(message)
        where = "with one sigma per image" if per_image else "with a float sigma"
        expect_close(out, true_score, "score_from_denoiser",
                     f"({where}) For this data the exact denoiser is known, so the score must be exact: compute "
                     "(denoised - x_noisy) / sigma^2.", atol=1e-6)
    return passed("score_from_denoiser", "float and per-image sigma")
