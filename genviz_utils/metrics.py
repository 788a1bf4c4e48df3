"""Metrics that compare generative models (chapter 6).

Read top to bottom:

1. :func:`frechet_distance` between two Gaussians, and :func:`fd_from_features` / :func:`fd` that fit them to
   features of real and generated images ("FD-FMNIST-CNN": the Frechet distance in the features of our own
   Fashion-MNIST classifier, see :mod:`genviz_utils.features`; not comparable with Inception FIDs).
2. :func:`precision_recall`: k-NN manifold precision and recall (Kynkaanniemi et al. 2019).
3. :func:`mse` and :func:`psnr` for reconstructions.

Codebook usage lives in :mod:`genviz_utils.models.vq` and the IWAE bound in :mod:`genviz_utils.models.vae`;
they are re-exported here so that one import gives every metric of the comparison chapter.
"""

from __future__ import annotations

import math

import torch

from .features import FEATURE_NAME, embed, feature_extractor
from .models.vae import iwae_bound, nats_to_bits_per_dim
from .models.vq import codebook_usage, perplexity
from .runtime import apply_batched

__all__ = ["FEATURE_NAME", "frechet_distance", "gaussian_stats", "fd_from_features", "fd", "knn_radii",
           "precision_recall", "mse", "psnr", "codebook_usage", "perplexity", "iwae_bound", "nats_to_bits_per_dim"]

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
# 2. Precision and recall of samples (k-NN manifolds)


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
# 3. Reconstruction


def mse(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """Mean squared error per pixel between two image batches of the same shape, values in [0, 1]."""
    if x.shape != x_hat.shape:
        raise ValueError(f"shapes differ: {tuple(x.shape)} vs {tuple(x_hat.shape)}.")
    return float((x.double() - x_hat.double()).pow(2).mean())


def psnr(x: torch.Tensor, x_hat: torch.Tensor, max_value: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, 10 log10(max^2 / MSE), from the MSE over the whole batch."""
    err = mse(x, x_hat)
    return math.inf if err == 0 else 10 * math.log10(max_value ** 2 / err)
