"""Chapter 7's checkers: reference solutions and plausible wrong ones (see tests/checker_cases.py)."""

import math

import numpy as np
import scipy.linalg
import torch
from checker_cases import Case, Wrong

from genviz_utils.exercises.metrics import (
    check_fd_bias,
    check_frechet_distance,
    check_judge_fd,
    check_precision,
    check_psnr,
)
from genviz_utils.features import PR_LAYER, FMNISTClassifier, embed
from genviz_utils.metrics import fd_from_features


def _sqrtm(a):
    vals, vecs = torch.linalg.eigh(a)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def _fd(m1, c1, m2, c2, cross=None, mean=None):
    """The squared Frechet distance, with the cross term tr((c1 c2)^(1/2)) and the mean term replaceable."""
    s = _sqrtm(c1)
    cross = torch.linalg.eigvalsh(s @ c2 @ s).clamp_min(0).sqrt().sum() if cross is None else cross
    mean = (m1 - m2).pow(2).sum() if mean is None else mean
    return float(mean + c1.trace() + c2.trace() - 2 * cross)


def _fd_scipy(m1, c1, m2, c2):
    cross = np.trace(scipy.linalg.sqrtm(c1.numpy() @ c2.numpy()).real)
    return float((m1 - m2).pow(2).sum()) + float(c1.trace() + c2.trace()) - 2 * cross


def _radii(real, k, skip=1):
    return torch.cdist(real, real).kthvalue(k + skip, dim=1).values


def _precision(real, fake, k=3):
    return float((torch.cdist(fake, real) <= _radii(real, k)[None, :]).any(1).double().mean())


def _recall(real, fake, k=3):
    return _precision(fake, real, k)


def _nearest_ball_only(real, fake, k=3):
    d = torch.cdist(fake, real)
    j = d.argmin(1)
    return float((d.min(1).values <= _radii(real, k)[j]).double().mean())


def _sq(x, y):
    """Squared errors, one row of pixels per image: (B, 784)."""
    return ((x - y) ** 2).flatten(1)


def _mse(x, y):
    return float(_sq(x, y).mean())


def _psnr(x, y):
    return 10 * math.log10(1 / _mse(x, y))


def _per_image_psnr(x, y):
    return 10 * torch.log10(1 / _sq(x, y).mean(1))


_FIXED = {}


def _fd_fixed_net(net, real, fake):
    """Right the first time it is called; after that, always the first judge's distance (ignores later nets)."""
    judge = _FIXED.setdefault("net", net)
    return fd_from_features(embed(judge, real), embed(judge, fake))


def _fd_fresh_net(real, fake):
    fresh = FMNISTClassifier().eval()          # not the judge: freshly initialised weights
    return fd_from_features(embed(fresh, real), embed(fresh, fake))


CASES = [
    Case(check_frechet_distance, (_fd,), [
        Wrong("no matrix square root in the cross term",
              (lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, cross=torch.trace(c1 @ c2)),),
              "needs the matrix square root"),
        Wrong("elementwise torch.sqrt of the product",
              (lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, cross=torch.trace((c1 @ c2).sqrt())),), "each entry"),
        Wrong("square roots taken separately",
              (lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, cross=torch.trace(_sqrtm(c1) @ _sqrtm(c2))),),
              "commute"),
        Wrong("cov1 instead of its square root in the sandwich",
              (lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2,
                                          cross=torch.linalg.eigvalsh(c1 @ c2 @ c1).clamp_min(0).sqrt().sum()),),
              "sandwich needs the square root"),
        Wrong("mean distance not squared",
              (lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, mean=(m1 - m2).norm()),), "not the distance"),
        Wrong("mean term forgotten",
              (lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, mean=0.0),), "mean term .* is missing"),
        Wrong("factor 2 of the cross term forgotten",
              (lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2) + float(_fd(m1, c1, m2, c2, cross=0.0)
                                                                   - _fd(m1, c1, m2, c2)) / 2,), "factor 2"),
        Wrong("returned the distance, not its square",
              (lambda m1, c1, m2, c2: math.sqrt(_fd(m1, c1, m2, c2)),), "asks for its square"),
        Wrong("a cross term of the wrong sign",
              (lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, cross=-torch.linalg.eigvalsh(
                  _sqrtm(c1) @ c2 @ _sqrtm(c1)).clamp_min(0).sqrt().sum()),), "is subtracted"),
    ], also_right=[(_fd_scipy,), (lambda m1, c1, m2, c2: _fd(m2, c2, m1, c1),)]),
    Case(check_precision, (_precision,), [
        Wrong("recall instead of precision", (_recall,), "computed the recall"),
        Wrong("the point itself counted as a neighbour",
              (lambda r, f, k=3: float((torch.cdist(f, r) <= _radii(r, k, skip=0)[None, :]).any(1).double().mean()),),
              "own nearest neighbour"),
        Wrong("strict < at the ball's boundary",
              (lambda r, f, k=3: float((torch.cdist(f, r) < _radii(r, k)[None, :]).any(1).double().mean()),),
              "<=, not <"),
        Wrong("all instead of any",
              (lambda r, f, k=3: float((torch.cdist(f, r) <= _radii(r, k)[None, :]).all(1).double().mean()),),
              "not inside all"),
        Wrong("mean over the real points",
              (lambda r, f, k=3: float((torch.cdist(f, r) <= _radii(r, k)[None, :]).any(0).double().mean()),),
              "averaged over the real points"),
        Wrong("mean over all pairs",
              (lambda r, f, k=3: float((torch.cdist(f, r) <= _radii(r, k)[None, :]).double().mean()),),
              "all \\(fake, real\\) pairs"),
        Wrong("a count, not a fraction",
              (lambda r, f, k=3: float((torch.cdist(f, r) <= _radii(r, k)[None, :]).any(1).sum()),),
              "returned a count"),
        Wrong("only the nearest real point's ball", (_nearest_ball_only,), "nearest real point"),
        Wrong("k hard-coded to 3", (lambda r, f, k=3: _precision(r, f, 3),), "not a fixed 3"),
    ], also_right=[(lambda r, f, k=3: float(sum(bool(((r - x).norm(dim=1) <= _radii(r, k)).any()) for x in f))
                    / len(f),)]),
    Case(check_psnr, (_psnr,), [
        Wrong("20 log10 of 1/MSE", (lambda x, y: 2 * _psnr(x, y),), "twice too large"),
        Wrong("10 log10 of 1/RMSE", (lambda x, y: 10 * math.log10(1 / math.sqrt(_mse(x, y))),), "half the PSNR"),
        Wrong("natural logarithm", (lambda x, y: 10 * math.log(1 / _mse(x, y)),), "natural log"),
        Wrong("sum over each image's pixels", (lambda x, y: 10 * math.log10(1 / float(_sq(x, y).sum(1).mean())),),
              "over each image"),
        Wrong("sum over the batch", (lambda x, y: 10 * math.log10(1 / float(_sq(x, y).sum())),), "over the batch"),
        Wrong("mean of per-image PSNRs", (lambda x, y: float(_per_image_psnr(x, y).mean()),),
              "PSNRs of the single images"),
        Wrong("peak 255", (lambda x, y: 10 * math.log10(255 ** 2 / _mse(x, y)),), "not 255"),
        Wrong("peak = max of the image", (lambda x, y: 10 * math.log10(float(x.max()) ** 2 / _mse(x, y)),),
              r"peak from the image \(x.max\(\)\)"),
        Wrong("peak = max of both images",
              (lambda x, y: 10 * math.log10(max(float(x.max()), float(y.max())) ** 2 / _mse(x, y)),),
              "largest pixel of x and x_hat"),
        Wrong("absolute error", (lambda x, y: 10 * math.log10(1 / float((x - y).abs().mean())),), "absolute error"),
        Wrong("per-image PSNRs returned", (_per_image_psnr,), "one number"),
    ], also_right=[(lambda x, y: 20 * math.log10(1 / math.sqrt(_mse(x, y))),)]),
    Case(check_fd_bias, (lambda n, d: d * (d + 5) / (2 * n),), [
        Wrong("only the d^2 part", (lambda n, d: d * d / (2 * n),), "only the d\\^2 part"),
        Wrong("only the means' term", (lambda n, d: 2 * d / n,), "only the means' term"),
        Wrong("only the covariances' term", (lambda n, d: d * (d + 1) / (2 * n),), "only the covariances' term"),
        Wrong("one sample against the exact Gaussian", (lambda n, d: d * (d + 5) / (4 * n),), "one sample"),
        Wrong("the 1/4 of the covariance term forgotten", (lambda n, d: 2 * d * (d + 2) / n,), "the 1/4 is missing"),
        Wrong("not divided by n", (lambda n, d: d * (d + 5) / 2,), "divide by the sample size"),
        Wrong("divided by n twice", (lambda n, d: d * (d + 5) / (2 * n * n),), "not 1/n\\^2"),
        Wrong("d^2 / N", (lambda n, d: d * d / n,), "expected"),
    ], also_right=[(lambda n, d: d * (d + 5) / (2 * (n - 1)),)]),
    Case(check_judge_fd, (lambda net, r, f: fd_from_features(embed(net, r), embed(net, f)),), [
        Wrong("conv3 features", (lambda net, r, f: fd_from_features(embed(net, r, PR_LAYER), embed(net, f, PR_LAYER)),),
              "conv3 features"),
        Wrong("the distance, not its square", (lambda net, r, f: math.sqrt(fd_from_features(embed(net, r),
                                                                                           embed(net, f))),),
              "its square"),
        Wrong("pixels, not features", (lambda net, r, f: fd_from_features(r.flatten(1), f.flatten(1)),),
              "between the pixels"),
        Wrong("a fresh network instead of the judge passed in",
              (lambda net, r, f: _fd_fresh_net(r, f),), "expected"),
        Wrong("the right distance, but always in one network of its own",
              (lambda net, r, f: _fd_fixed_net(net, r, f),), "ignores net"),
    ], also_right=[(lambda net, r, f: fd_from_features(embed(net, f), embed(net, r)),)]),
]
