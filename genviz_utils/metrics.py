"""Metrics that compare generative models (chapter 7).

Read top to bottom:

1. :func:`frechet_distance` between two Gaussians, and :func:`fd_from_features` / :func:`fd` that fit them to
   features of real and generated images ("FD-FMNIST-CNN": the Frechet distance in the features of our own
   Fashion-MNIST classifier, see :mod:`genviz_utils.features`; not comparable with Inception FIDs).
2. :func:`kid`: the Kernel Inception Distance (Binkowski et al. 2018), an unbiased kernel MMD^2 in the same
   features, :func:`bootstrap_interval`: a percentile bootstrap interval for any of these statistics, and
   :func:`half_sample_interval`: one from random halves, for the k-NN statistics that a bootstrap's copies bias.
3. :func:`precision_recall`: k-NN manifold precision and recall (Kynkaanniemi et al. 2019).
4. :func:`mse` and :func:`psnr` for reconstructions.

Codebook usage lives in :mod:`genviz_utils.models.vq` and the IWAE bound in :mod:`genviz_utils.models.vae`;
they are re-exported here so that one import gives every metric of the comparison chapter.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .features import FEATURE_NAME, embed, feature_extractor
from .models.vae import iwae_bound, nats_to_bits_per_dim
from .models.vq import codebook_usage, perplexity
from .runtime import apply_batched

__all__ = ["FEATURE_NAME", "frechet_distance", "gaussian_stats", "fd_from_features", "fd", "kid", "mmd2",
           "poly_kernel", "bootstrap_interval", "percentile_interval", "half_sample_interval",
           "knn_radii", "precision_recall", "mse", "psnr", "codebook_usage", "perplexity", "iwae_bound",
           "nats_to_bits_per_dim"]

# ----------------------------------------------------------------------------------------------------------
# 1. Frechet distance


def _sqrtm_psd(a: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition (negative round-off
    eigenvalues clipped to 0). a: (D, D) -> (D, D)."""
    vals, vecs = torch.linalg.eigh((a + a.T) / 2)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def frechet_distance(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> float:
    """Squared Frechet (2-Wasserstein) distance between N(mu1, cov1) and N(mu2, cov2):

        ||mu1 - mu2||^2 + tr(cov1) + tr(cov2) - 2 tr((cov1 cov2)^(1/2)).

    mu: (D,), cov: (D, D). The product cov1 cov2 is not symmetric, so we use the identity
    tr((cov1 cov2)^(1/2)) = tr((s cov2 s)^(1/2)) with s = cov1^(1/2): every square root is then of a symmetric
    PSD matrix, computed by eigendecomposition in float64 (no complex round-off as with scipy's sqrtm).
    """
    mu1, mu2, cov1, cov2 = (t.detach().double().cpu() for t in (mu1, mu2, cov1, cov2))
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (mu1.numel(), mu1.numel()):
        raise ValueError(f"expected mu (D,) and cov (D, D) for both Gaussians, got {tuple(mu1.shape)}, "
                         f"{tuple(cov1.shape)}, {tuple(mu2.shape)}, {tuple(cov2.shape)}.")
    s = _sqrtm_psd(cov1)
    cross = torch.linalg.eigvalsh(s @ cov2 @ s).clamp_min(0).sqrt().sum()
    value = (mu1 - mu2).pow(2).sum() + torch.trace(cov1) + torch.trace(cov2) - 2 * cross
    return float(value.clamp_min(0))


def gaussian_stats(feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D), in float64."""
    feats = feats.detach().double()
    n, d = feats.shape
    if n <= d:
        raise ValueError(f"{n} samples cannot estimate a {d}x{d} covariance (it would be singular): use more "
                         f"samples than feature dimensions (N > {d}), ideally many more.")
    return feats.mean(0), torch.cov(feats.T)


def fd_from_features(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N1, D) and (N2, D)."""
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))


def fd(real_images: torch.Tensor, fake_images: torch.Tensor, net: torch.nn.Module | None = None) -> float:
    """FD-FMNIST-CNN between two image sets (N, 1, 28, 28) in [0, 1]; ``net`` defaults to the cached classifier.

    Biased upwards for small N (the covariance estimates are noisy): compare models only at equal N.
    """
    net = net if net is not None else feature_extractor(real_images.device)
    return fd_from_features(embed(net, real_images), embed(net, fake_images))


# ----------------------------------------------------------------------------------------------------------
# 2. Kernel Inception Distance, and bootstrap intervals


def _check_feature_sets(real: torch.Tensor, fake: torch.Tensor) -> None:
    """Raise a ValueError that names the fix unless ``real`` (N, D) and ``fake`` (M, D) are two feature sets."""
    if real.ndim != 2 or fake.ndim != 2:
        raise ValueError(f"expected features (N, D) and (M, D), got {tuple(real.shape)} and {tuple(fake.shape)}: "
                         "embed images first, e.g. embed(net, images), or flatten with x.flatten(1).")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"the feature sets have {real.shape[1]} and {fake.shape[1]} dimensions: embed both with "
                         "the same network and layer.")


def poly_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The cubic polynomial kernel of KID, k(x, y) = (x.y / D + 1)^3: (n, D), (m, D) -> (n, m)."""
    return (a @ b.T / a.shape[1] + 1) ** 3


def mmd2(x: torch.Tensor, y: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Estimate of MMD^2 between two samples of the same size m, x and y (m, D) -> scalar, unbiased (KID's):

        [sum_{i != j} k(x_i, x_j) + sum_{i != j} k(y_i, y_j)] / (m (m - 1)) - 2 sum_{i, j} k(x_i, y_j) / m^2.

    Dropping the diagonals k(x_i, x_i) makes it unbiased, so it can be slightly negative when the laws are equal.
    ``unbiased=False`` keeps them (the V-statistic: every within sum over all m^2 pairs), which is positive on
    average even for equal laws, by (1/m)(mean diagonal - mean off-diagonal) of each set's kernel matrix.
    """
    m = len(x)
    k_xx, k_yy, k_xy = poly_kernel(x, x), poly_kernel(y, y), poly_kernel(x, y)
    if unbiased:
        within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    else:
        within = (k_xx.sum() + k_yy.sum()) / m ** 2
    return within - 2 * k_xy.sum() / m ** 2


def kid(real: torch.Tensor, fake: torch.Tensor, n_subsets: int = 100, subset_size: int = 1000,
        generator: torch.Generator | None = None) -> tuple[float, float]:
    """Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs") between features ``real`` (N, D)
    and ``fake`` (M, D): the unbiased MMD^2 with the kernel k(x, y) = (x.y / D + 1)^3, on ``n_subsets`` pairs of
    random subsets of ``subset_size`` rows drawn without replacement from each set (capped at min(N, M)).

    Returns (mean, std) over the subsets, the std with ddof 0 as torchmetrics' ``KernelInceptionDistance``; the std
    is the spread of one subset's estimate, not the standard error of the mean. Unlike the Frechet distance, KID
    fits no covariance: it is unbiased at any N (no "compare only at equal N") and needs no N > D. ``generator``
    (a CPU ``torch.Generator``) makes the subsets reproducible; None uses the global RNG. Computed in float64.
    In the features of our classifier it is a KID-FMNIST-CNN, as the FD: not comparable with Inception KIDs.
    """
    _check_feature_sets(real, fake)
    if n_subsets < 1:
        raise ValueError(f"n_subsets must be at least 1, got {n_subsets}.")
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError(f"KID needs subsets of at least 2 rows (the unbiased estimate divides by m (m - 1)); got "
                         f"subset_size={subset_size} with {len(real)} and {len(fake)} rows: pass more samples.")
    real, fake = real.detach().double(), fake.detach().double()
    scores = []
    for _ in range(n_subsets):
        # the indices are drawn on the CPU (where the generator lives), then index the sets on their own device
        i = torch.randperm(len(real), generator=generator)[:size].to(real.device)
        j = torch.randperm(len(fake), generator=generator)[:size].to(fake.device)
        scores.append(mmd2(real[i], fake[j]))
    values = torch.stack(scores)
    return float(values.mean()), float(values.std(correction=0))


def bootstrap_interval(stat: Callable[[torch.Tensor, torch.Tensor], float], real: torch.Tensor, fake: torch.Tensor,
                       n_boot: int = 200, level: float = 0.95, generator: torch.Generator | None = None
                       ) -> tuple[float, float]:
    """Percentile bootstrap interval (low, high) of ``stat(real, fake)``, e.g. ``fd_from_features`` or ``kid``'s
    mean (for precision and recall use :func:`half_sample_interval`, see the caveat): ``stat`` is evaluated
    ``n_boot`` times on sets (N, D) and (M, D) whose rows are resampled with replacement, each set independently,
    and the interval spans the (1 - level) / 2 and (1 + level) / 2 quantiles.

    What it measures: the uncertainty that comes from having finitely many real and generated samples, for one
    trained model. It says nothing about how the statistic varies over training seeds (train again for that).
    Caveat: resampling with replacement duplicates points (a resample holds only about 63% of the distinct rows,
    the rest are copies). A k-NN statistic then finds copies as neighbours at distance 0, which shrinks the radii
    and biases precision and recall (the interval can sit off the value on the original sets); for the FD the
    duplicates lower the effective number of samples, and the FD, biased upwards at finite N, comes out slightly
    higher. Read such an interval as a rough width, not as exact coverage.
    """
    _check_feature_sets(real, fake)
    if n_boot < 2:
        raise ValueError(f"n_boot must be at least 2 resamples (hundreds for a 95% interval), got {n_boot}.")
    if not 0 < level < 1:
        raise ValueError(f"level is a probability in (0, 1), e.g. 0.95, got {level}.")
    values = []
    for _ in range(n_boot):
        i = torch.randint(len(real), (len(real),), generator=generator).to(real.device)
        j = torch.randint(len(fake), (len(fake),), generator=generator).to(fake.device)
        values.append(float(stat(real[i], fake[j])))
    return percentile_interval(torch.tensor(values, dtype=torch.float64), level)


def percentile_interval(values: torch.Tensor, level: float = 0.95) -> tuple[float, float]:
    """The (1 - level) / 2 and (1 + level) / 2 quantiles of bootstrap ``values`` (R,): a percentile interval
    (low, high), by linear interpolation between order statistics (numpy.percentile's default)."""
    q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)
    low, high = torch.quantile(values.double(), q)
    return float(low), float(high)


def half_sample_interval(stat: Callable[[torch.Tensor, torch.Tensor], float], real: torch.Tensor,
                         fake: torch.Tensor, n_splits: int = 50, level: float = 0.95,
                         generator: torch.Generator | None = None,
                         bounds: tuple[float, float] | None = None) -> tuple[float, float]:
    """Interval (low, high) of ``stat(real, fake)`` from random halves, for statistics that copies would bias.

    ``stat`` is evaluated on ``n_splits`` pairs of random halves (N // 2 rows of ``real``, M // 2 of ``fake``, drawn
    without replacement, so no point appears twice); the interval is the value on the whole sets plus the
    (1 - level) / 2 and (1 + level) / 2 quantiles of the halves' deviations from their mean (half-sampling). Why it
    works: a mean of N / 2 of N values drawn without replacement varies around the mean of all N with variance
    sigma^2 / (N - 1), the variance of a mean of N fresh draws up to a factor N / (N - 1); so the halves' spread is
    the whole sample's, with no scaling. Centring the deviations removes the statistic's shift with the set size
    (k-NN radii grow when there are fewer points). Use it for precision and recall, where
    :func:`bootstrap_interval`'s copies sit at distance 0 from each other and push the interval off the value.
    ``bounds`` (e.g. (0, 1) for a fraction) clips the interval to the statistic's range.
    """
    _check_feature_sets(real, fake)
    if n_splits < 2:
        raise ValueError(f"n_splits must be at least 2 random halves (dozens for a 95% interval), got {n_splits}.")
    if not 0 < level < 1:
        raise ValueError(f"level is a probability in (0, 1), e.g. 0.95, got {level}.")
    if min(len(real), len(fake)) < 4:
        raise ValueError(f"halves of {len(real)} and {len(fake)} rows are too small: pass at least 4 rows each.")
    value = float(stat(real, fake))
    halves = []
    for _ in range(n_splits):
        i = torch.randperm(len(real), generator=generator)[:len(real) // 2].to(real.device)
        j = torch.randperm(len(fake), generator=generator)[:len(fake) // 2].to(fake.device)
        halves.append(float(stat(real[i], fake[j])))
    deviations = torch.tensor(halves, dtype=torch.float64)
    deviations = deviations - deviations.mean()
    low, high = (value + d for d in percentile_interval(deviations, level))
    if bounds is not None:   # both ends into the range (a value at a bound can get an end just outside it)
        low, high = (min(max(end, bounds[0]), bounds[1]) for end in (low, high))
    return low, high


# ----------------------------------------------------------------------------------------------------------
# 3. Precision and recall of samples (k-NN manifolds)


def _cdist_min_ratio(query: torch.Tensor, ref: torch.Tensor, radii: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """For each query row: is it inside at least one ball B(ref_j, radii_j)? -> (Nq,) bool. The distances are
    computed ``chunk`` query rows at a time, (chunk, Nr) floats."""
    return apply_batched(lambda q: (torch.cdist(q, ref) <= radii[None, :]).any(dim=1), query, chunk)


def knn_radii(feats: torch.Tensor, k: int = 3, chunk: int = 1024) -> torch.Tensor:
    """Distance of every row of ``feats`` (N, D) to its k-th nearest neighbour in the same set (itself excluded)."""
    if not 1 <= k < len(feats):
        raise ValueError(f"k must be in [1, N-1] = [1, {len(feats) - 1}], got {k}.")
    # distances (chunk, N) of a chunk to all rows, its own included (0); the (k + 1)-th smallest skips the point itself
    return apply_batched(lambda f: torch.cdist(f, feats).kthvalue(k + 1, dim=1).values, feats, chunk)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) of features ``fake`` (M, D) against ``real`` (N, D).

    The real manifold is the union of balls around each real feature with radius = distance to its k-th nearest
    real neighbour; precision = fraction of fakes inside it. Recall swaps the roles: the fraction of reals inside
    the fake manifold. Precision says "samples look real", recall says "the data's variety is covered".
    """
    real, fake = real.detach().double(), fake.detach().double()
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"expected features (N, D) and (M, D), got {tuple(real.shape)} and {tuple(fake.shape)}.")
    precision = _cdist_min_ratio(fake, real, knn_radii(real, k)).double().mean()
    recall = _cdist_min_ratio(real, fake, knn_radii(fake, k)).double().mean()
    return float(precision), float(recall)


# ----------------------------------------------------------------------------------------------------------
# 4. Reconstruction


def mse(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """Mean squared error per pixel between two image batches of the same shape, values in [0, 1]."""
    if x.shape != x_hat.shape:
        raise ValueError(f"shapes differ: {tuple(x.shape)} vs {tuple(x_hat.shape)}.")
    return float((x.double() - x_hat.double()).pow(2).mean())


def psnr(x: torch.Tensor, x_hat: torch.Tensor, max_value: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, 10 log10(max^2 / MSE), from the MSE over the whole batch."""
    err = mse(x, x_hat)
    return math.inf if err == 0 else 10 * math.log10(max_value ** 2 / err)
