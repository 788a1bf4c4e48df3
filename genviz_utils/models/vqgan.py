"""VQ-GAN (Esser et al. 2021) on top of the VQ-VAE of chapter 3: reference pieces for chapter 5.

Read top to bottom:

1. :func:`perceptual_distance` -- an LPIPS-style distance in the activations of a frozen network, whichever
   one is passed (chapter 5 passes its *perceptual network*, a Fashion-MNIST classifier of
   :mod:`genviz_utils.features` trained with random shifts and seed 1, not the metric network that grades the
   models; LPIPS/VGG weights cannot be downloaded everywhere the course runs).
2. :func:`adaptive_weight` -- lambda = ||grad_{G_L} L_rec|| / (||grad_{G_L} L_GAN|| + delta), taken at the
   weights of the decoder's last layer G_L.
3. :func:`generator_objective` -- L_rec (L1 + perceptual) + lambda * L_GAN (hinge generator loss, after the
   warm-up) + the VQ codebook/commitment terms.
4. :class:`VQGAN` -- a :class:`~genviz_utils.models.vq.VQVAE` (encoder, quantizer, decoder) plus a PatchGAN
   :class:`~genviz_utils.models.gan.Discriminator`; a tokenizer like the VQ-VAE (``tokenize``,
   ``decode_tokens``, ``num_codes``). Its constructor arguments are in ``config``, which every checkpoint of
   :func:`genviz_utils.training.train` stores, so :func:`genviz_utils.models.registry.load_model` rebuilds it.

Shapes: images (B, 1, 28, 28) in [0, 1]; the discriminator sees them mapped to [-1, 1] and returns one logit
per patch, (B, 7, 7); token maps (B, 7, 7) int64 in [0, K).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..runtime import apply_batched
from .gan import Discriminator, g_hinge_loss
from .vq import VQVAE

PERCEPTUAL_LAYERS = ("conv1", "conv2", "conv3")

# ----------------------------------------------------------------------------------------------------------
# 1. Perceptual distance


def unit_normalize(feat: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Scale the channel vector at every position to unit length: (B, C, H, W) -> (B, C, H, W).

    An all-zero vector (e.g. a ReLU map on flat background) stays (almost) zero instead of becoming 0/0.
    """
    return feat / (feat.pow(2).sum(1, keepdim=True).sqrt() + eps)


def perceptual_distance(net: nn.Module, x: torch.Tensor, x_hat: torch.Tensor,
                        layers: Sequence[str] = PERCEPTUAL_LAYERS) -> torch.Tensor:
    """LPIPS-style distance per image: (B, 1, 28, 28), (B, 1, 28, 28) in [0, 1] -> (B,).

    For each layer l of ``net.features`` (activations (B, C_l, H_l, W_l)): unit-normalise the channel vector
    at every position, take the squared difference summed over channels, average over positions; then sum
    over layers. LPIPS (Zhang et al. 2018) additionally learns one weight per channel from human judgements;
    we weight all channels equally. The gradient flows to both images (``net`` itself should be frozen).
    """
    if x.shape != x_hat.shape:
        raise ValueError(f"x {tuple(x.shape)} and x_hat {tuple(x_hat.shape)} must have the same shape.")
    fx, fy = net.features(x, list(layers)), net.features(x_hat, list(layers))
    total = x.new_zeros(x.shape[0])
    for a, b in zip(fx, fy, strict=True):
        total = total + (unit_normalize(a) - unit_normalize(b)).pow(2).sum(1).mean((1, 2))
    return total


# ----------------------------------------------------------------------------------------------------------
# 2. The adaptive weight


def adaptive_weight(rec_loss: torch.Tensor, gan_loss: torch.Tensor, last_layer: torch.Tensor,
                    delta: float = 1e-4, max_weight: float = 1e4) -> torch.Tensor:
    """lambda = ||d rec_loss / d last_layer|| / (||d gan_loss / d last_layer|| + delta), clamped to
    [0, max_weight] and detached (a 0-d tensor).

    ``last_layer`` is the weight tensor of the decoder's last layer G_L (any shape), not the decoder's output:
    both losses must depend on it through the graph. The graphs are kept (``retain_graph``) so the caller can
    still backpropagate ``rec_loss + lambda * gan_loss``. The values of ``delta`` and the clamp are those of the
    taming-transformers code.
    """
    if not last_layer.requires_grad:
        raise ValueError("last_layer must be a weight that requires grad (e.g. model.last_layer).")
    (g_rec,) = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)
    (g_gan,) = torch.autograd.grad(gan_loss, last_layer, retain_graph=True)
    weight = g_rec.norm() / (g_gan.norm() + delta)
    return weight.clamp(0.0, max_weight).detach()


# ----------------------------------------------------------------------------------------------------------
# 3. The generator's side of the objective


def generator_objective(x: torch.Tensor, x_hat: torch.Tensor, vq_loss: torch.Tensor, fake_logits: torch.Tensor,
                        last_layer: torch.Tensor, net: nn.Module | None, *, perceptual_weight: float = 1.0,
                        disc_weight: float = 1.0, disc_on: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss of encoder, codebook and decoder for one batch, and its parts (detached 0-d tensors).

    L = L_rec + disc_on * disc_weight * lambda * L_GAN + vq_loss, with
    L_rec = mean |x - x_hat| + perceptual_weight * mean perceptual_distance(net, x, x_hat) (no perceptual term
    when ``net`` is None), L_GAN = -mean D(x_hat) over all patches (``fake_logits``, e.g. (B, 7, 7)), lambda
    = :func:`adaptive_weight` at ``last_layer``, ``vq_loss`` = codebook + beta * commitment from the quantizer.
    While ``disc_on`` is False (the warm-up) lambda is not computed and the GAN term is absent.
    """
    l1 = (x - x_hat).abs().mean()
    perc = perceptual_distance(net, x, x_hat).mean() if net is not None else x.new_zeros(())
    rec = l1 + perceptual_weight * perc
    gan = g_hinge_loss(fake_logits)
    lam = adaptive_weight(rec, gan, last_layer) if disc_on else x.new_zeros(())
    total = rec + (disc_weight * lam * gan if disc_on else 0.0) + vq_loss
    parts = {"l1": l1.detach(), "perceptual": perc.detach(), "rec": rec.detach(), "g_gan": gan.detach(),
             "lambda": lam}
    return total, parts


# ----------------------------------------------------------------------------------------------------------
# 4. The model


class VQGAN(nn.Module):
    """VQ-VAE autoencoder ``vq`` (encoder, quantizer, decoder) + PatchGAN discriminator ``disc``.

    forward(x (B, 1, 28, 28)) -> (x_hat (B, 1, 28, 28) in [0, 1], indices (B, 7, 7), quantizer stats), as for
    :class:`~genviz_utils.models.vq.VQVAE`. :meth:`critic` scores images in [0, 1] patch by patch: (B, 7, 7)
    logits. Optimise ``vq.parameters()`` and ``disc.parameters()`` with two separate optimizers.
    """

    def __init__(self, num_codes: int = 64, code_dim: int = 16, width: int = 32, beta: float = 0.25, *,
                 ema: bool = True, decay: float = 0.99, init: str = "data", restart_dead: bool = True,
                 disc_width: int = 32, spectral: bool = True):
        super().__init__()
        self.vq = VQVAE(num_codes, code_dim, width, beta, ema=ema, decay=decay, init=init,
                        restart_dead=restart_dead)
        self.disc = Discriminator(width=disc_width, spectral=spectral, patch=True)
        self.config = dict(self.vq.config, disc_width=disc_width, spectral=spectral)

    @classmethod
    def from_vqvae(cls, vqvae: VQVAE, disc_width: int = 32, spectral: bool = True) -> VQGAN:
        """A VQ-GAN whose autoencoder starts as a copy of ``vqvae`` (same codebook, same token grid)."""
        model = cls(**vqvae.config, disc_width=disc_width, spectral=spectral)
        model.vq.load_state_dict(vqvae.state_dict())
        return model.to(next(vqvae.parameters()).device)

    @property
    def num_codes(self) -> int:
        return self.vq.num_codes

    @property
    def last_layer(self) -> torch.Tensor:
        """Weight of the decoder's last layer G_L (a ConvTranspose2d, (width, 1, 4, 4)): where lambda is taken."""
        return self.vq.decoder_logits[-1].weight

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        return self.vq(x)

    def critic(self, images: torch.Tensor) -> torch.Tensor:
        """Patch logits (B, 7, 7) for images (B, 1, 28, 28) in [0, 1] (mapped to [-1, 1] for the discriminator)."""
        return self.disc(images * 2 - 1)

    def tokenize(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 1, 28, 28) -> token map (B, 7, 7)."""
        return self.vq.tokenize(x)

    def decode_tokens(self, indices: torch.Tensor) -> torch.Tensor:
        """Token map (B, 7, 7) -> images (B, 1, 28, 28) in [0, 1]."""
        return self.vq.decode_tokens(indices)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Decode the tokens of many images, in batches: (N, 1, 28, 28) -> (N, 1, 28, 28), without touching the
        codebook statistics."""
        return apply_batched(lambda xb: self.decode_tokens(self.tokenize(xb)), x, batch_size)
