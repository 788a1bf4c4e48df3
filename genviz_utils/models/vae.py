"""The convolutional VAE of chapter 2 and the pieces later chapters reuse: Gaussian KLs, the negative ELBO,
and the importance-weighted bound (IWAE). All log-likelihoods are in nats, per image (summed over pixels).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime import apply_batched
from .ae import ConvDecoder, ConvEncoder, check_images

# Chapter 2's Adam learning rate. Measured by chapter 7's protocol (``python tools/tune.py vae base lr4e3``; 1,800
# steps of 128 binarised images, 2 CPU cores): FD-FMNIST-CNN 68.3 -> 60.1 and -IWAE-512 239.7 -> 238.3 nats against
# 2e-3, in about the same seconds.
VAE_LR = 4e-3


class ConvVAE(nn.Module):
    """q_phi(z|x) = N(mu(x), diag sigma^2(x)) and p_theta(x|z) = Bernoulli(sigmoid(logits(z))).

    ``encode``: (B, 1, 28, 28) -> mu, logvar, each (B, latent_dim).
    ``decoder_logits`` (a module): (B, latent_dim) -> Bernoulli **logits** (B, 1, 28, 28), for the likelihood.
    ``decode``: (B, latent_dim) -> Bernoulli **means** (probabilities) in [0, 1], for pictures; the same
    convention as chapter 1's ``ConvAutoencoder.decode``.
    ``config`` holds the constructor arguments; :func:`genviz_utils.training.train` stores it in every checkpoint, so
    :func:`genviz_utils.models.registry.load_model` rebuilds the model.
    """

    def __init__(self, latent_dim: int = 16, width: int = 32):
        super().__init__()
        self.latent_dim, self.width = latent_dim, width
        self.config = dict(latent_dim=latent_dim, width=width)
        self.encoder = ConvEncoder(2 * latent_dim, width)
        self.decoder_logits = ConvDecoder(latent_dim, width)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, 1, 28, 28) -> (mu, logvar) of q(z|x), each (B, latent_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents z (B, latent_dim) -> Bernoulli means (B, 1, 28, 28) in [0, 1]."""
        return torch.sigmoid(self.decoder_logits(z))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One reparameterised pass: returns (logits (B,1,28,28), mu (B,D), logvar (B,D))."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)   # sigma = exp(logvar / 2), not the variance
        return self.decoder_logits(z), mu, logvar


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per example: (B, D) -> (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def diag_gaussian_kl(
    mu1: torch.Tensor, logvar1: torch.Tensor, mu2: torch.Tensor, logvar2: torch.Tensor
) -> torch.Tensor:
    """KL(N(mu1, diag e^logvar1) || N(mu2, diag e^logvar2)), summed over the last axis."""
    return 0.5 * (logvar2 - logvar1 + (logvar1.exp() + (mu1 - mu2).pow(2)) / logvar2.exp() - 1.0).sum(dim=-1)


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x|z) of binary images under Bernoulli(sigmoid(logits)): (B, 1, 28, 28) -> (B,)."""
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(dim=1)


def neg_elbo(model: ConvVAE, x: torch.Tensor, beta: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One-sample estimate of -ELBO = -E_q log p(x|z) + beta * KL(q || p(z)), per example.
    Returns (loss (B,), reconstruction term (B,), KL (B,))."""
    check_images(x)
    logits, mu, logvar = model(x)
    rec = -bernoulli_log_likelihood(logits, x)
    kl = gaussian_kl(mu, logvar)
    return rec + beta * kl, rec, kl


def _log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) / logvar.exp()).sum(dim=-1)


@torch.no_grad()
def iwae_bound(model: ConvVAE, x: torch.Tensor, k: int, batch: int = 4096) -> torch.Tensor:
    """L_k = log (1/k) sum_i p(x, z_i) / q(z_i|x), z_i ~ q(z|x): a lower bound on log p(x) that rises with k
    (L_1 is the ELBO). x: (B, 1, 28, 28) binary -> (B,) nats.

    Memory-safe: the decoder never sees more than ``batch`` images at once (images and samples are chunked)."""
    check_images(x)
    if k < 1:
        raise ValueError(f"k must be a positive number of importance samples, got {k}.")
    if x.shape[0] > batch:
        return apply_batched(lambda xb: iwae_bound(model, xb, k, batch), x, batch)
    mu, logvar = model.encode(x)
    per_pass = max(1, batch // x.shape[0])                                      # samples per decoder pass
    log_w = []
    for start in range(0, k, per_pass):
        n = min(per_pass, k - start)
        eps = torch.randn(n, *mu.shape, device=x.device)
        z = mu + torch.exp(0.5 * logvar) * eps                                  # (n, B, D)
        logits = model.decoder_logits(z.flatten(0, 1))                          # (n*B, 1, 28, 28)
        log_px_z = bernoulli_log_likelihood(logits, x.repeat(n, 1, 1, 1)).view(n, -1)
        log_pz = _log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
        log_qz = _log_normal(z, mu, logvar)
        log_w.append(log_px_z + log_pz - log_qz)                               # (n, B)
    return torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k)


def nats_to_bits_per_dim(nats: float, dims: int = 784) -> float:
    return nats / (dims * math.log(2))

