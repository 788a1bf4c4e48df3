"""Checkers for chapter 7 (comparing the models): Frechet distance, k-NN precision, PSNR, the bias of the Frechet
distance, the distance in another judge's features.

Each checker compares the reader's answer with the reference and, before the generic "expected ..." message,
with the value that each common mistake would give, so that the message can name the mistake.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..metrics import frechet_distance, precision_recall, psnr
from . import ExerciseFailed, Passed, call, expect_number, passed


def _first_match(out: float, mistakes: list[tuple[float, str]], rel_tol: float = 1e-4,
                 abs_tol: float = 1e-9) -> str | None:
    """The message of the first mistake whose value equals ``out``."""
    for value, message in mistakes:
        if math.isfinite(value) and math.isclose(out, value, rel_tol=rel_tol, abs_tol=abs_tol):
            return message
    return None


def _sqrtm_psd(a: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(a)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def _trace_sqrt_eig(a: torch.Tensor) -> float:
    """sum of the square roots of the eigenvalues of a (symmetric) PSD matrix."""
    return float(torch.linalg.eigvalsh(a).clamp_min(0).sqrt().sum())


def check_frechet_distance(fn: Callable[..., object]) -> Passed:
    """``fn(mu1, cov1, mu2, cov2)`` (float64 tensors (D,), (D, D)) must return the squared Frechet distance."""
    rng = torch.Generator().manual_seed(0)
    d = 6
    A, B = torch.randn(d, d, generator=rng, dtype=torch.float64), torch.randn(d, d, generator=rng, dtype=torch.float64)
    c1, c2 = A @ A.T + 0.1 * torch.eye(d, dtype=torch.float64), B @ B.T + 0.1 * torch.eye(d, dtype=torch.float64)
    mu1 = torch.randn(d, generator=rng, dtype=torch.float64)
    mu2 = 3 + torch.randn(d, generator=rng, dtype=torch.float64)
    name = "frechet_distance"
    hint = "return one number, the squared distance W2^2 (a Python float or a one-element tensor)."
    out = expect_number(call(fn, mu1, c1, mu2, c2, name=name), name, hint)
    if math.isnan(out):
        raise ExerciseFailed(f"{name} returned NaN. An elementwise square root of a matrix with negative entries "
                             "does that: the formula needs the matrix square root (eigendecomposition).")
    ref = frechet_distance(mu1, c1, mu2, c2)
    d2, dn = float((mu1 - mu2).pow(2).sum()), float((mu1 - mu2).norm())
    traces = float(c1.trace() + c2.trace())
    cross = traces + d2 - ref                                       # 2 tr((cov1 cov2)^(1/2))
    s1, s2 = _sqrtm_psd(c1), _sqrtm_psd(c2)
    mistakes = [
        (d2 + traces - 2 * float(torch.trace(c1 @ c2)),
         "your cross term is -2 tr(cov1 cov2): it needs the matrix square root, -2 tr((cov1 cov2)^(1/2))."),
        (d2 + traces - 2 * float((c1 @ c2).diagonal().clamp_min(0).sqrt().sum()),
         "torch.sqrt of cov1 @ cov2 takes the square root of each entry, not the matrix square root: use the "
         "eigenvalues of s cov2 s, with s = cov1^(1/2)."),
        (d2 + traces - 2 * float(torch.trace(s1 @ s2)),
         "you used tr(cov1^(1/2) cov2^(1/2)), which equals tr((cov1 cov2)^(1/2)) only when the two matrices "
         "commute: take the square roots of the eigenvalues of s cov2 s, with s = cov1^(1/2)."),
        (d2 + traces - 2 * _trace_sqrt_eig(c1 @ c2 @ c1),
         "you took the eigenvalues of cov1 cov2 cov1: the sandwich needs the square root s = cov1^(1/2), "
         "i.e. s cov2 s."),
        (ref - d2 + dn, "the mean term must be the squared distance ||mu1 - mu2||^2, not the distance."),
        (ref - d2, "the mean term ||mu1 - mu2||^2 is missing: the formula compares the centres as well as the "
                   "spreads."),
        (ref + cross / 2, "the cross term is -2 tr((cov1 cov2)^(1/2)): the factor 2 is missing."),
        (d2 + traces + cross, "the cross term is subtracted: ... - 2 tr((cov1 cov2)^(1/2)), not + 2 tr(...)."),
        (math.sqrt(ref), "you returned the distance d; the exercise (like FID) asks for its square d^2: drop "
                         "the final square root."),
    ]
    if (message := _first_match(out, mistakes)) is not None:
        raise ExerciseFailed(message)
    same = expect_number(call(fn, mu1, c1, mu1.clone(), c1.clone(), name=name), name, hint)
    if abs(same) > 1e-5:
        raise ExerciseFailed(f"a Gaussian's distance to itself should be 0, got {same:.4g}. Check the cross term "
                             "-2 tr((cov1 cov2)^(1/2)): for cov1 = cov2 = C it equals -2 tr(C).")
    if not math.isclose(out, ref, rel_tol=1e-4, abs_tol=1e-6):
        raise ExerciseFailed(f"got {out:.6g}, expected {ref:.6g}. The formula is ||mu1 - mu2||^2 + tr(cov1) + "
                             "tr(cov2) - 2 tr((cov1 cov2)^(1/2)); compute the last trace as the sum of square roots "
                             "of the eigenvalues of s cov2 s, with s = cov1^(1/2).")
    return passed(name)


def _radii(real: torch.Tensor, k: int, skip_self: bool = True) -> torch.Tensor:
    return torch.cdist(real, real).kthvalue(k + 1 if skip_self else k, dim=1).values


def _precision_mistakes(real: torch.Tensor, fake: torch.Tensor, k: int) -> list[tuple[float, str]]:
    """What the common mistakes give on (real, fake), with their messages."""
    radii, dist = _radii(real, k), torch.cdist(fake, real)                 # (N,), (M, N)
    inside = dist <= radii[None, :]
    nearest = dist.argmin(1)
    _, recall = precision_recall(real, fake, k)
    return [   # the strict < first: it differs from <= only on the lattice, where another mistake can tie with it
        (float((dist < radii[None, :]).any(1).double().mean()),
         "a fake exactly on a ball's boundary counts as inside: compare the distance with the radius by <=, not <."),
        (float(inside.double().mean()),
         "you averaged over all (fake, real) pairs: first ask, for each fake, whether it is inside ANY real ball "
         "(.any over the real points), then average over the fakes."),
        (float(inside.any(1).sum()), "you returned a count: precision is the fraction of fakes inside the real "
                                     "manifold, so divide by the number of fakes M."),
        (recall, "you computed the recall (reals inside the fake manifold); precision asks how many fakes fall "
                 "inside the real manifold."),
        (float((dist <= _radii(real, k, skip_self=False)[None, :]).any(1).double().mean()),
         "your radii count each real point as its own nearest neighbour (distance 0): use the (k+1)-th smallest "
         "distance in the row, i.e. skip the point itself."),
        (float(inside.all(1).double().mean()),
         "a fake counts when it is inside SOME real ball (any over the real points), not inside all of them."),
        (float(inside.any(0).double().mean()),
         "you averaged over the real points (the balls that contain a fake): precision is a mean over the fakes, "
         "any over the real points."),
        (float((dist.gather(1, nearest[:, None]).squeeze(1) <= radii[nearest]).double().mean()),
         "you tested only the ball of each fake's nearest real point: a fake counts if it is inside any real "
         "point's ball, and a farther point can have a larger ball."),
    ]


def check_precision(fn: Callable[..., object]) -> Passed:
    """``fn(real, fake, k=3)`` with features (N, D), (M, D) must return the k-NN precision of ``fake``."""
    rng = torch.Generator().manual_seed(0)
    real = torch.randn(300, 4, generator=rng, dtype=torch.float64)
    # fakes: half near the data, half far away; the true precision is about 0.5, the recall much lower
    fake = torch.cat([0.5 * torch.randn(100, 4, generator=rng, dtype=torch.float64),
                      6 + torch.randn(100, 4, generator=rng, dtype=torch.float64)])
    # a lattice where some fakes lie exactly on a ball's boundary (distances are small integers, exact in float64)
    lattice = torch.arange(10, dtype=torch.float64)[:, None]
    on_edge = torch.tensor([[12.0], [-3.0], [4.5], [13.0], [20.0]], dtype=torch.float64)
    name = "precision"
    results = []
    # the third call asks for k = 5: an answer that ignores its k (k = 3 hard-coded) gives the k = 3 value there
    for r, f, k in ((real, fake, 3), (lattice, on_edge, 3), (real, fake, 5)):
        out = expect_number(call(fn, r, f, k, name=name), name, "return one number, the fraction of fakes inside the "
                            "real manifold (e.g. float(inside.any(dim=1).double().mean())).")
        results.append(out)
        ref, _ = precision_recall(r, f, k)
        if math.isclose(out, ref, abs_tol=1e-9):
            continue
        mistakes = _precision_mistakes(r, f, k)
        if k != 3:
            mistakes.append((precision_recall(r, f, 3)[0],
                             f"with k={k} you returned the precision for k=3: use the argument k for the radii "
                             "(the (k+1)-th smallest distance), not a fixed 3."))
        mistakes = [(v, m) for v, m in mistakes if not math.isclose(v, ref, abs_tol=1e-9)]
        if (message := _first_match(out, mistakes, rel_tol=0.0)) is not None:
            raise ExerciseFailed(message)
        if not 0 <= out <= 1:
            raise ExerciseFailed(f"a precision is a fraction in [0, 1], got {out:.4g}.")
        raise ExerciseFailed(f"got {out:.4f}, expected {ref:.4f} (k={k}). A fake counts if its distance to SOME "
                             "real point is at most that real point's k-NN radius (the distance to its k-th "
                             "nearest other real point).")
    return passed(name, f"{results[0]:.3f} on the random features, {results[1]:.1f} on the lattice, "
                        f"{results[2]:.3f} with k=5")


def check_psnr(fn: Callable[..., object]) -> Passed:
    """``fn(x, x_hat)`` with images in [0, 1] must return 10 log10(1 / MSE) in dB, the MSE over all pixels of the
    batch (not the mean of per-image PSNRs)."""
    rng = torch.Generator().manual_seed(0)
    # pixels in [0.1, 0.8] and reconstructions in [0, 0.9], not clamped: neither reaches the peak 1, so an answer
    # that takes the peak from the images (x.max(), or the max over both) gives a different number
    x = 0.1 + 0.7 * torch.rand(4, 1, 28, 28, generator=rng)
    # the four images are reconstructed with different errors, so that the conventions give different numbers
    scale = torch.tensor([0.02, 0.05, 0.08, 0.1]).view(4, 1, 1, 1)
    x_hat = x + scale * (2 * torch.rand(x.shape, generator=rng) - 1)
    name = "psnr"
    out = expect_number(call(fn, x, x_hat, name=name), name, "return one number, the PSNR of the MSE over all pixels "
                        "of the batch (not one PSNR per image).")
    ref = psnr(x, x_hat)
    err = ((x.double() - x_hat.double()) ** 2)
    per_image = 10 * torch.log10(1 / err.flatten(1).mean(1))
    mistakes = [
        (2 * ref, "twice too large: PSNR is 10 log10(max^2 / MSE) (or 20 log10(max / RMSE)), not "
                  "20 log10(1 / MSE)."),
        (ref / 2, "half the PSNR: 10 log10(1 / RMSE) uses the root of the MSE; either 10 log10(1 / MSE) or "
                  "20 log10(1 / RMSE)."),
        (ref * math.log(10), "you used the natural logarithm: decibels use log10."),
        (ref - 10 * math.log10(x[0].numel()), "the MSE must be a mean over pixels, not a sum (over each image)."),
        (ref - 10 * math.log10(x.numel()), "the MSE must be a mean over pixels, not a sum (over the batch)."),
        (float(per_image.mean()), "you averaged the PSNRs of the single images; the exercise asks for the PSNR of "
                                  "the MSE over the whole batch (the convention of this chapter's table)."),
        (ref + 20 * math.log10(255), "the pixels are in [0, 1], so the peak value is 1, not 255."),
        (ref + 20 * math.log10(float(x.max())), "you took the peak from the image (x.max()): the peak is the "
                                                "largest value the pixel range allows, 1 for [0, 1], whatever "
                                                "this image's brightest pixel is."),
        (ref + 20 * math.log10(max(float(x.max()), float(x_hat.max()))),
         "you took the peak as the largest pixel of x and x_hat: the peak is fixed by the pixel range (1 for "
         "[0, 1]), not read from the images."),
        (10 * math.log10(1 / float((x - x_hat).abs().mean())), "that is the mean absolute error: PSNR uses the "
                                                               "mean of the squared differences."),
    ]
    if (message := _first_match(out, mistakes)) is not None:
        raise ExerciseFailed(message)
    if not math.isclose(out, ref, rel_tol=1e-4):
        raise ExerciseFailed(f"got {out:.4f} dB, expected {ref:.4f} dB: 10 * log10(1 / mean((x - x_hat)**2)).")
    return passed(name, f"{out:.2f} dB")


def fd_bias(n: int, d: int) -> float:
    """The expected Frechet distance of two independent samples of n points of N(0, I_d), to leading order in 1/n:
    the means differ by 2d/n in squared norm, and with C = I + E, Var(E_ij) = (1 + [i = j])/n, the covariance term
    is about ||C1 - C2||^2 / 4, whose mean is (d^2 + d)/(2n): together d (d + 5) / (2n)."""
    return d * (d + 5) / (2 * n)


def check_fd_bias(fn: Callable[..., object]) -> Passed:
    """``fn(n, d)`` must return the expected Frechet distance of two independent samples of n points of the
    d-dimensional standard normal, to leading order in 1/n (:func:`fd_bias`; n - 1 for n is accepted)."""
    name = "fd_bias"
    for n, d in ((200, 8), (2_000, 64), (500, 16)):
        out = expect_number(call(fn, n, d, name=name), name, "return one number, the expected distance.")
        ref = fd_bias(n, d)
        mistakes = [
            (d * d / (2 * n), "you kept only the d^2 part: the two means add 2d/n, and the diagonal of each "
                              "covariance varies twice as much as an off-diagonal entry (Var = 2/n), which adds "
                              "d/(2n)."),
            (2 * d / n, "that is only the means' term, E|m1 - m2|^2 = 2d/n: the covariances' term "
                        "(d^2 + d)/(2n) is missing, and it dominates for large d."),
            (d * (d + 1) / (2 * n), "that is only the covariances' term: the two sample means differ too, by "
                                    "2d/n in squared norm."),
            (d * (d + 5) / (4 * n), "that is one sample against the exact Gaussian: with two samples both "
                                    "estimates err independently, and their errors add (twice the variance)."),
            (2 * d * (d + 2) / n, "the 1/4 is missing: near the identity, tr(C1 + C2 - 2 (C1^1/2 C2 C1^1/2)^1/2) "
                                  "is about ||C1 - C2||^2 / 4 (as (sqrt(a) - sqrt(b))^2 is about (a - b)^2 / (4a))."),
            (d * (d + 5) / 2, "the distance shrinks like 1/n: divide by the sample size."),
            (d * (d + 5) / (2 * n * n), "the bias shrinks like 1/n, not 1/n^2."),
        ]
        if (message := _first_match(out, mistakes, rel_tol=1e-2)) is not None:
            raise ExerciseFailed(f"for n = {n}, d = {d}: {message}")
        if not math.isclose(out, ref, rel_tol=1e-2):
            raise ExerciseFailed(f"for n = {n}, d = {d} got {out:.4g}, expected {ref:.4g}: the means' term 2d/n "
                                 "plus the covariances' term, a quarter of E||C1 - C2||^2.")
    return passed(name, f"{fd_bias(2_000, 64):.3f} for n = 2,000 and d = 64")   # the solution simulates it


def check_judge_fd(fn: Callable[..., object]) -> Passed:
    """``fn(net, real, fake)`` (a feature network such as chapter 7's judges; images (N, 1, 28, 28)) must return the
    Frechet distance of the two sets in ``net``'s ``fc`` features, the layer of chapter 7's distances."""
    from ..features import PR_LAYER, FMNISTClassifier, embed
    from ..metrics import fd_from_features

    rng = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    net, other = FMNISTClassifier().eval(), FMNISTClassifier().eval()     # two untrained judges
    with torch.no_grad():                  # an untrained net's fc features are tiny: scale them up, so that
        for judge in (net, other):         # the distances of right and wrong answers are far apart
            judge.fc[1].weight.mul_(30)
    real = torch.rand(1_100, 1, 28, 28, generator=rng)      # more than conv3's 1,024 numbers
    fake = 0.3 * torch.rand(1_100, 1, 28, 28, generator=rng)       # darker images
    name = "judge_fd"
    out = expect_number(call(fn, net, real, fake, name=name), name, "return one number, the Frechet distance.")
    ref = fd_from_features(embed(net, real), embed(net, fake))
    mistakes = [
        (fd_from_features(embed(net, real, PR_LAYER), embed(net, fake, PR_LAYER)),
         "those are the conv3 features of precision and recall: the distances use the 64 fc features."),
        (math.sqrt(ref), "that is the distance itself: the chapter reports its square, W_2^2."),
        (fd_from_features(real.flatten(1), fake.flatten(1)), "that is the distance between the pixels: embed both "
                                                               "sets with net first."),
    ]
    if (message := _first_match(out, mistakes, rel_tol=1e-4)) is not None:
        raise ExerciseFailed(message)
    if not math.isclose(out, ref, rel_tol=1e-4):
        raise ExerciseFailed(f"got {out:.4g}, expected {ref:.4g}: fd_from_features(embed(net, real), "
                             "embed(net, fake)).")
    with_other = expect_number(call(fn, other, real, fake, name=name), name, "return one number.")
    if math.isclose(with_other, out, rel_tol=1e-6):
        raise ExerciseFailed("the same distance for another judge: your function ignores net (a network of its "
                             "own, or a global one?); embed with the judge passed in.")
    return passed(name, f"{out:.3f} for two sets in an untrained network's features")
