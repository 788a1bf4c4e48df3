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
4. :func:`vqgan_step` -- one training step: the generator's objective (passed in) and its optimizer step, then,
   once the critic is on, the critic's hinge step. Chapter 5's fine-tuning and the stand-in of
   :mod:`genviz_utils.model_zoo` both train with it.
5. :class:`VQGAN` -- a :class:`~genviz_utils.models.vq.VQVAE` (encoder, quantizer, decoder) plus a PatchGAN
   :class:`~genviz_utils.models.gan.Discriminator`; a tokenizer like the VQ-VAE (``tokenize``,
   ``decode_tokens``, ``num_codes``). Its constructor arguments are in ``config``, which every checkpoint of
   :func:`genviz_utils.training.train` stores, so :func:`genviz_utils.models.registry.load_model` rebuilds it.

Shapes: images (B, 1, 28, 28) in [0, 1]; the discriminator sees them mapped to [-1, 1] and returns one logit
per patch, (B, 7, 7); token maps (B, 7, 7) int64 in [0, K).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..runtime import apply_batched
from .ae import check_images
from .gan import Discriminator, d_hinge_loss, g_hinge_loss
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


def generator_objective(x: torch.Tensor, x_hat: torch.Tensor, vq_loss: torch.Tensor,
                        fake_logits: torch.Tensor | None, last_layer: torch.Tensor, net: nn.Module | None, *,
                        perceptual_weight: float = 1.0, disc_weight: float = 1.0,
                        disc_on: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss of encoder, codebook and decoder for one batch, and its parts (detached 0-d tensors).

    L = L_rec + disc_on * disc_weight * lambda * L_GAN + vq_loss, with
    L_rec = mean |x - x_hat| + perceptual_weight * mean perceptual_distance(net, x, x_hat) (no perceptual term
    when ``net`` is None), L_GAN = -mean D(x_hat) over all patches (``fake_logits``, e.g. (B, 7, 7)), lambda
    = :func:`adaptive_weight` at ``last_layer``, ``vq_loss`` = codebook + beta * commitment from the quantizer.
    While ``disc_on`` is False (the warm-up) lambda is not computed, the GAN term is absent and ``fake_logits``
    may be None.
    """
    if disc_on and fake_logits is None:
        raise ValueError("fake_logits is None but disc_on is True: pass model.critic(x_hat) once the critic is on.")
    l1 = (x - x_hat).abs().mean()
    perc = perceptual_distance(net, x, x_hat).mean() if net is not None else x.new_zeros(())
    rec = l1 + perceptual_weight * perc
    gan = g_hinge_loss(fake_logits) if disc_on else x.new_zeros(())
    lam = adaptive_weight(rec, gan, last_layer) if disc_on else x.new_zeros(())
    total = rec + (disc_weight * lam * gan if disc_on else 0.0) + vq_loss
    parts = {"l1": l1.detach(), "perceptual": perc.detach(), "rec": rec.detach(), "g_gan": gan.detach(),
             "lambda": lam}
    return total, parts


# ----------------------------------------------------------------------------------------------------------
# 4. One training step

# (x, x_hat, vq_loss, fake_logits or None, last_layer, disc_on) -> (loss, logs): the generator's side of a step
GeneratorLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, "torch.Tensor | None", torch.Tensor, bool],
                         tuple[torch.Tensor, dict[str, torch.Tensor]]]


def vqgan_step(model: VQGAN, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer, x: torch.Tensor,
               generator_loss: GeneratorLoss, disc_on: bool) -> dict[str, torch.Tensor]:
    """One VQ-GAN update on real images x (B, 1, 28, 28) in [0, 1]; returns the logs by name (0-d tensors).

    1. Autoencoder: ``x_hat, _, stats = model(x)``; the critic's patch logits of ``x_hat`` (only when
       ``disc_on``, else None); ``loss, logs = generator_loss(x, x_hat, stats["loss"], fake_logits,
       model.last_layer, disc_on)``; one step of ``opt_g`` (the optimizer of ``model.vq.parameters()``).
    2. Critic, only when ``disc_on``: the hinge loss of :func:`~genviz_utils.models.gan.d_hinge_loss` on real
       images and on the detached reconstructions; one step of ``opt_d``.

    ``generator_loss`` is :func:`generator_objective` with its network bound, a notebook's own version of it, or
    a loss without a critic (it may ignore ``fake_logits``). The logs are ``generator_loss``'s, plus ``usage``
    and, with the critic on, ``loss_d``, ``D(x)`` and ``D(x_hat)`` (mean logits).
    """
    check_images(x)
    x_hat, _, stats = model(x)
    fake = model.critic(x_hat) if disc_on else None
    loss, logs = generator_loss(x, x_hat, stats["loss"], fake, model.last_layer, disc_on)
    opt_g.zero_grad(set_to_none=True)
    loss.backward()
    opt_g.step()
    logs["usage"] = stats["usage"]
    if disc_on:                              # the critic's step, on the same (detached) reconstructions
        real_logits, fake_logits = model.critic(x), model.critic(x_hat.detach())
        loss_d = d_hinge_loss(real_logits, fake_logits)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        logs |= {"loss_d": loss_d, "D(x)": real_logits.mean(), "D(x_hat)": fake_logits.mean()}
    return logs


# ----------------------------------------------------------------------------------------------------------
# 5. The model


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
