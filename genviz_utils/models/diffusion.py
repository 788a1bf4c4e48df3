"""Diffusion (Ho et al. 2020), DDIM (Song et al. 2021) and latent diffusion (Rombach et al. 2022): reference pieces
for chapter 6.

Read top to bottom:

1. :class:`Schedule` -- the noise schedule beta_t (linear or cosine) and what follows from it: alpha_t = 1 - beta_t,
   alpha_bar_t = prod_{s <= t} alpha_s, the signal-to-noise ratio alpha_bar_t / (1 - alpha_bar_t).
2. :func:`q_sample` -- one draw of x_t ~ q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I);
   :func:`posterior` -- the mean and variance of q(x_{t-1} | x_t, x_0).
3. :func:`eps_loss` -- Ho et al.'s simplified objective ||eps - eps_theta(x_t, t, y)||^2, with labels dropped to the
   "no class" label at rate ``p_uncond`` (what classifier-free guidance needs).
4. :func:`guided_eps`, :func:`ddim_step`, :func:`ddim_sample`, :func:`ddpm_sample` -- the samplers.
5. :class:`Denoiser` -- eps_theta: a small U-Net (or, with one level, a ResNet that keeps the size) with a time and a
   class embedding, for images (B, 1, 28, 28) or latents (B, 4, 7, 7).
6. :class:`KLAutoencoder` -- the latent-diffusion autoencoder: encoder to a Gaussian over a (B, c, 7, 7) latent,
   decoder back to (B, 1, 28, 28), a PatchGAN critic; :func:`klae_step` trains it with chapter 5's objective
   (L1 + perceptual + adaptive-weight hinge GAN) with a KL term in place of the VQ terms.

Time steps t are integers 0..T-1 (the paper's 1..T); index t of every schedule tensor is the paper's t + 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..training import train
from .ae import check_images
from .gan import Discriminator, d_hinge_loss
from .vq import ResBlock
from .vqgan import generator_objective

# ----------------------------------------------------------------------------------------------------------
# 1. The schedule


class Schedule:
    """beta_t for t = 0..T-1, and alpha_t, alpha_bar_t, snr_t from it (all (T,) float64 tensors on the CPU).

    ``kind="linear"``: beta from 1e-4 to 0.02 at T = 1000 (Ho et al.), both ends scaled by 1000/T for other T (as
    improved-diffusion does, so that alpha_bar_T stays near 0); ``kind="cosine"``: alpha_bar_t = f(t)/f(0) with
    f(t) = cos((t/T + s)/(1 + s) * pi/2)^2, s = 0.008, beta clipped at 0.999 (Nichol & Dhariwal 2021).
    """

    def __init__(self, T: int = 1000, kind: str = "cosine"):
        if kind == "linear":
            betas = torch.linspace(1e-4 * 1000 / T, 0.02 * 1000 / T, T, dtype=torch.float64)
        elif kind == "cosine":
            s = 0.008
            steps = torch.arange(T + 1, dtype=torch.float64) / T
            f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
            betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
        else:
            raise ValueError(f"kind must be 'linear' or 'cosine', got {kind!r}.")
        self.T, self.kind = T, kind
        self.betas = betas
        self.alphas = 1 - betas
        self.alpha_bar = torch.cumprod(self.alphas, 0)
        self.snr = self.alpha_bar / (1 - self.alpha_bar)

    def at(self, name: str, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Schedule tensor ``name`` at integer steps t (B,), shaped to broadcast against ``like`` (B, ...)."""
        values = getattr(self, name)[t.cpu()].to(like.device, like.dtype)    # the schedule lives on the CPU
        return values.view(-1, *([1] * (like.ndim - 1)))


# ----------------------------------------------------------------------------------------------------------
# 2. The forward process and its posterior


def q_sample(x0: torch.Tensor, t: torch.Tensor, sched: Schedule, noise: torch.Tensor) -> torch.Tensor:
    """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise: (B, ...), t (B,), noise like x0 -> (B, ...)."""
    a = sched.at("alpha_bar", t, x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


def posterior(x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor, sched: Schedule
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (B, ...) and variance (B, 1, ...) of q(x_{t-1} | x_t, x_0), for t >= 1:

    mean = [sqrt(alpha_bar_{t-1}) beta_t x_0 + sqrt(alpha_t) (1 - alpha_bar_{t-1}) x_t] / (1 - alpha_bar_t),
    var = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t.
    """
    if bool((t < 1).any()):
        raise ValueError("the posterior q(x_{t-1} | x_t, x_0) needs t >= 1 (index 0 is the last step).")
    a_bar, a_bar_prev = sched.at("alpha_bar", t, x0), sched.at("alpha_bar", t - 1, x0)
    beta, alpha = sched.at("betas", t, x0), sched.at("alphas", t, x0)
    mean = (a_bar_prev.sqrt() * beta * x0 + alpha.sqrt() * (1 - a_bar_prev) * xt) / (1 - a_bar)
    return mean, (1 - a_bar_prev) / (1 - a_bar) * beta


# ----------------------------------------------------------------------------------------------------------
# 3. The training objective

EpsModel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]   # (x_t, t, y) -> eps


def drop_labels(y: torch.Tensor, p_uncond: float, null: int, generator: torch.Generator | None = None
                ) -> torch.Tensor:
    """Replace each label by ``null`` ("no class") with probability ``p_uncond``: (B,) -> (B,)."""
    drop = torch.rand(y.shape, generator=generator).to(y.device) < p_uncond     # a CPU generator, any device
    return torch.where(drop, torch.full_like(y, null), y)


def eps_loss(model: EpsModel, x0: torch.Tensor, y: torch.Tensor, sched: Schedule, *, p_uncond: float = 0.0,
             null: int = 10) -> torch.Tensor:
    """Mean over the batch and the dimensions of ||eps - eps_theta(x_t, t, y)||^2, t uniform in 0..T-1 (0-d)."""
    t = torch.randint(0, sched.T, (x0.shape[0],), device=x0.device)
    noise = torch.randn_like(x0)
    y = drop_labels(y, p_uncond, null) if p_uncond > 0 else y
    return F.mse_loss(model(q_sample(x0, t, sched, noise), t, y), noise)


# ----------------------------------------------------------------------------------------------------------
# 4. Samplers


def guided_eps(model: EpsModel, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, w: float, null: int = 10
               ) -> torch.Tensor:
    """Classifier-free guidance: eps_u + w (eps_c - eps_u). w = 1: the conditional model; w = 0: the unconditional
    one (labels ``null``); w > 1 extrapolates away from the unconditional prediction. One batched call."""
    if w == 1.0:
        return model(x, t, y)
    if w == 0.0:
        return model(x, t, torch.full_like(y, null))
    eps = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, torch.full_like(y, null)]))
    eps_c, eps_u = eps.chunk(2)
    return eps_u + w * (eps_c - eps_u)


def predict_x0(xt: torch.Tensor, eps: torch.Tensor, a_bar: torch.Tensor) -> torch.Tensor:
    """x_0 implied by x_t and the predicted noise: (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)."""
    return (xt - (1 - a_bar).sqrt() * eps) / a_bar.sqrt()


def clipped_x0(xt: torch.Tensor, eps: torch.Tensor, a_bar: torch.Tensor, clip: float | None) -> torch.Tensor:
    """:func:`predict_x0`, clamped to [-clip, clip] when ``clip`` is given."""
    x0_hat = predict_x0(xt, eps, a_bar)
    return x0_hat if clip is None else x0_hat.clamp(-clip, clip)


def ddim_step(xt: torch.Tensor, eps: torch.Tensor, a_bar: torch.Tensor, a_bar_prev: torch.Tensor,
              eta: float = 0.0, noise: torch.Tensor | None = None, clip: float | None = None) -> torch.Tensor:
    """One DDIM update from alpha_bar_t to alpha_bar_prev (tensors broadcasting against x_t):

    x_prev = sqrt(a_prev) x0_hat + sqrt(1 - a_prev - sigma^2) eps + sigma z,
    sigma = eta sqrt((1 - a_prev) / (1 - a_t)) sqrt(1 - a_t / a_prev). eta = 0: deterministic.
    """
    x0_hat = clipped_x0(xt, eps, a_bar, clip)
    if clip is not None:         # x0_hat = (x_t - ...) / sqrt(alpha_bar_t) magnifies eps's error where alpha_bar ~ 0
        eps = (xt - a_bar.sqrt() * x0_hat) / (1 - a_bar).sqrt()
    sigma = (eta * ((1 - a_bar_prev) / (1 - a_bar) * (1 - a_bar / a_bar_prev)).sqrt() if eta > 0
             else torch.zeros_like(a_bar))
    out = a_bar_prev.sqrt() * x0_hat + (1 - a_bar_prev - sigma ** 2).clamp(min=0).sqrt() * eps
    if eta > 0:
        out = out + sigma * (noise if noise is not None else torch.randn_like(xt))
    return out


def ddim_times(T: int, steps: int) -> list[int]:
    """``steps`` time steps from T-1 down to 0, evenly spaced: the DDIM sub-sequence."""
    if not 1 <= steps <= T:
        raise ValueError(f"steps must be between 1 and T = {T}, got {steps}.")
    return [int(round(v)) for v in torch.linspace(T - 1, 0, steps).tolist()]


@torch.no_grad()
def ddim_sample(model: EpsModel, shape: tuple[int, ...], sched: Schedule, steps: int = 50, *,
                y: torch.Tensor | None = None, w: float = 1.0, eta: float = 0.0, null: int = 10,
                generator: torch.Generator | None = None, device: torch.device | str = "cpu",
                trajectory: list | None = None, clip: float | None = None) -> torch.Tensor:
    """Sample (B, ...) from x_T ~ N(0, I) with ``steps`` DDIM steps (guidance w for labels y (B,); y None: all
    ``null``). ``clip`` clamps each step's x0_hat (see :func:`ddim_step`). ``trajectory`` (a list), if given,
    receives (t, x_t, x0_hat) at each step, before the update, on the CPU."""
    x = torch.randn(shape, generator=generator, device="cpu").to(device)
    y = torch.full((shape[0],), null, device=device, dtype=torch.long) if y is None else y.to(device)
    times = ddim_times(sched.T, steps)
    for i, t in enumerate(times):
        tt = torch.full((shape[0],), t, device=device, dtype=torch.long)
        a = sched.at("alpha_bar", tt, x)
        # alpha_bar of the next time of the sub-sequence; 1 after the last (x_0 itself, no noise left)
        a_prev = (sched.at("alpha_bar", torch.full_like(tt, times[i + 1]), x) if i + 1 < len(times)
                  else torch.ones_like(a))
        eps = guided_eps(model, x, tt, y, w, null)
        if trajectory is not None:
            trajectory.append((t, x.cpu(), clipped_x0(x, eps, a, clip).cpu()))
        noise = torch.randn(shape, generator=generator).to(device) if eta > 0 else None
        x = ddim_step(x, eps, a, a_prev, eta, noise, clip)
    return x


@torch.no_grad()
def ddpm_sample(model: EpsModel, shape: tuple[int, ...], sched: Schedule, *, y: torch.Tensor | None = None,
                w: float = 1.0, null: int = 10, generator: torch.Generator | None = None,
                device: torch.device | str = "cpu", keep: tuple[int, ...] = ()) -> tuple[torch.Tensor, dict]:
    """Ancestral sampling with all T steps: x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t)
    + sigma_t z with sigma_t^2 the posterior variance (z = 0 at the last step). Returns x_0 (B, ...) and the x_t at
    the steps in ``keep`` (on the CPU), by t."""
    x = torch.randn(shape, generator=generator).to(device)
    y = torch.full((shape[0],), null, device=device, dtype=torch.long) if y is None else y.to(device)
    kept = {}
    for t in range(sched.T - 1, -1, -1):
        if t in keep:
            kept[t] = x.cpu()
        tt = torch.full((shape[0],), t, device=device, dtype=torch.long)
        eps = guided_eps(model, x, tt, y, w, null)
        beta, alpha, a_bar = (sched.at(n, tt, x) for n in ("betas", "alphas", "alpha_bar"))
        x = (x - beta / (1 - a_bar).sqrt() * eps) / alpha.sqrt()
        if t > 0:
            var = (1 - sched.at("alpha_bar", tt - 1, x)) / (1 - a_bar) * beta
            x = x + var.sqrt() * torch.randn(shape, generator=generator).to(device)
    return x, kept


# ----------------------------------------------------------------------------------------------------------
# 5. The denoiser


def check_denoiser_input(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, channels: int, size: int) -> None:
    """Raise a ValueError that names the expected shapes unless x is (B, channels, size, size) and t, y are (B,)."""
    want = (channels, size, size)
    if x.ndim != 4 or tuple(x.shape[1:]) != want:
        raise ValueError(f"expected x_t of shape (B, {', '.join(map(str, want))}), got {tuple(x.shape)}.")
    if t.shape != x.shape[:1] or y.shape != x.shape[:1]:
        raise ValueError(f"t and y need shape (B,) = ({x.shape[0]},), got {tuple(t.shape)}, {tuple(y.shape)}.")


def zero_init(layer: nn.Module) -> nn.Module:
    """Set a layer's weight and bias to 0 (a denoiser's last layer: it starts by predicting eps = 0)."""
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def timestep_freqs(dim: int, max_period: float = 10_000.0, device: torch.device | str = "cpu") -> torch.Tensor:
    """The dim // 2 frequencies of :func:`timestep_embedding`, from 1 down to about 1 / max_period (float32)."""
    half = dim // 2
    return torch.exp(-math.log(max_period) * torch.arange(half, device=device) / half)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer steps: (B,) -> (B, dim) (the transformer's position code, for t)."""
    freqs = timestep_freqs(dim, max_period, t.device)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([args.cos(), args.sin()], 1)
    return F.pad(emb, (0, dim % 2))                     # an odd dim: one zero column


class EmbResBlock(nn.Module):
    """skip(x) + conv(silu(norm(conv(silu(norm(x))) + linear(emb)))), skip a 1x1 convolution when C' != C:
    (B, C, H, W), emb (B, E) -> (B, C', H, W)."""

    def __init__(self, cin: int, cout: int, emb_dim: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm2, self.conv2 = nn.GroupNorm(8, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.emb(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Denoiser(nn.Module):
    """eps_theta(x_t, t, y): (B, C, H, W), t (B,) int, y (B,) int in [0, num_classes] (num_classes: "no class")
    -> predicted noise (B, C, H, W).

    A U-Net: a 3x3 convolution to ``widths[0]``; per level ``blocks`` residual blocks conditioned on the sum of a
    time and a class embedding, then a stride-2 convolution (H -> H/2) before the next level; the way back mirrors
    it with the skip connections concatenated. ``widths=(w,)``: one level, no resampling (for 7x7 latents).
    """

    def __init__(self, channels: int = 4, size: int = 7, widths: tuple[int, ...] = (64,), blocks: int = 2,
                 num_classes: int = 10):
        super().__init__()
        widths = tuple(widths)
        if size % (2 ** (len(widths) - 1)):
            raise ValueError(f"size {size} must halve {len(widths) - 1} times (widths {widths}).")
        self.config = dict(channels=channels, size=size, widths=list(widths), blocks=blocks,
                           num_classes=num_classes)
        self.channels, self.size, self.num_classes = channels, size, num_classes
        emb = 4 * widths[0]
        self.time_mlp = nn.Sequential(nn.Linear(widths[0], emb), nn.SiLU(), nn.Linear(emb, emb))
        self.label_emb = nn.Embedding(num_classes + 1, emb)                  # + 1: the "no class" label
        self.inp = nn.Conv2d(channels, widths[0], 3, padding=1)              # (B, w0, H, W)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        skips, c = [widths[0]], widths[0]
        for i, w in enumerate(widths):                                       # level i: (B, w_i, H/2^i, W/2^i)
            for _ in range(blocks):
                self.down.append(EmbResBlock(c, w, emb))
                c = w
                skips.append(c)
            if i + 1 < len(widths):
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skips.append(c)
        self.mid = EmbResBlock(c, c, emb)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            for _ in range(blocks + 1):
                self.up.append(EmbResBlock(c + skips.pop(), w, emb))
                c = w
            if i > 0:
                self.upsample.append(nn.ConvTranspose2d(c, c, 4, stride=2, padding=1))
        self.out = nn.Sequential(nn.GroupNorm(8, c), nn.SiLU(), zero_init(nn.Conv2d(c, channels, 3, padding=1)))
        self._widths, self._blocks = widths, blocks

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        check_denoiser_input(x, t, y, self.channels, self.size)
        emb = self.time_mlp(timestep_embedding(t, self._widths[0])) + self.label_emb(y)
        h = self.inp(x)
        hs, blocks = [h], iter(self.down)
        for i in range(len(self._widths)):
            for _ in range(self._blocks):
                h = next(blocks)(h, emb)
                hs.append(h)
            if i + 1 < len(self._widths):
                h = self.downsample[i](h)
                hs.append(h)
        h = self.mid(h, emb)
        blocks, ups = iter(self.up), iter(self.upsample)
        for i in reversed(range(len(self._widths))):
            for _ in range(self._blocks + 1):
                h = next(blocks)(torch.cat([h, hs.pop()], 1), emb)
            if i > 0:
                h = next(ups)(h)
        return self.out(h)


class MLPDenoiser(nn.Module):
    """eps_theta for small latents: (B, C, H, W), t (B,), y (B,) in [0, num_classes] -> (B, C, H, W).

    The latent is flattened (C*H*W values), mapped to ``hidden`` units and passed through ``depth`` residual
    blocks h + MLP(LayerNorm(h + proj(e))), where e = silu(time embedding + class embedding); a last LayerNorm
    and linear layer (zero-initialised: eps = 0 at the start) map back. On a CPU it takes far more steps per
    second than :class:`Denoiser` on 7x7 latents (``tools/tune.py ldm``). Keep ``hidden`` >= C*H*W: every path
    from input to output passes the ``hidden`` units, and a narrower stream cannot carry x_t through (measured:
    hidden 128 on 196 latent values stalls at a loss of about 0.52, where 256 reaches about 0.3).
    """

    def __init__(self, channels: int = 4, size: int = 7, hidden: int = 256, depth: int = 4,
                 num_classes: int = 10):
        super().__init__()
        self.config = dict(channels=channels, size=size, hidden=hidden, depth=depth, num_classes=num_classes)
        self.channels, self.size, self.num_classes, self.hidden = channels, size, num_classes, hidden
        dim = channels * size * size
        self.time_mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.label_emb = nn.Embedding(num_classes + 1, hidden)               # + 1: the "no class" label
        self.inp = nn.Linear(dim, hidden)                                    # (B, C*H*W) -> (B, hidden)
        self.emb_proj = nn.ModuleList([nn.Linear(hidden, hidden) for _ in range(depth)])
        self.blocks = nn.ModuleList([nn.Sequential(                          # (B, hidden) -> (B, hidden)
            nn.LayerNorm(hidden), nn.Linear(hidden, 2 * hidden), nn.SiLU(), nn.Linear(2 * hidden, hidden))
            for _ in range(depth)])
        self.out = nn.Sequential(nn.LayerNorm(hidden), zero_init(nn.Linear(hidden, dim)))   # (B, C*H*W)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        check_denoiser_input(x, t, y, self.channels, self.size)
        e = F.silu(self.time_mlp(timestep_embedding(t, self.hidden)) + self.label_emb(y))
        h = self.inp(x.flatten(1))
        for proj, block in zip(self.emb_proj, self.blocks, strict=True):
            h = h + block(h + proj(e))
        return self.out(h).view(x.shape)


# ----------------------------------------------------------------------------------------------------------
# 6. The autoencoder of latent diffusion


class KLAutoencoder(nn.Module):
    """Encoder (B, 1, 28, 28) -> q(z | x) = N(mean, diag(exp(logvar))) over z (B, c, 7, 7); decoder z -> images
    (B, 1, 28, 28) in [0, 1]; a PatchGAN critic ``disc`` (as the VQ-GAN's). The encoder and decoder are chapter 3's
    VQ-VAE's, with 2c output channels (mean and log-variance) in place of the code.

    forward(x) -> (x_hat, z, stats) with z a reparameterised draw and stats["kl"] the KL to N(0, I) summed over
    the latent's dimensions and averaged over the batch.
    """

    def __init__(self, latent_channels: int = 4, width: int = 32, disc_width: int = 32, spectral: bool = True):
        super().__init__()
        self.config = dict(latent_channels=latent_channels, width=width, disc_width=disc_width, spectral=spectral)
        w, c = width, latent_channels
        self.latent_channels = c
        self.encoder = nn.Sequential(                                       # (B, 1, 28, 28) images
            nn.Conv2d(1, w, 4, stride=2, padding=1), nn.SiLU(),             # (B, w, 14, 14)
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1),                    # (B, 2w, 7, 7)
            ResBlock(2 * w), nn.SiLU(),                                     # (B, 2w, 7, 7)
            nn.Conv2d(2 * w, 2 * c, 1),                                     # (B, 2c, 7, 7): mean, log-variance
        )
        self.decoder_logits = nn.Sequential(                                # (B, c, 7, 7) latents
            nn.Conv2d(c, 2 * w, 3, padding=1),                              # (B, 2w, 7, 7)
            ResBlock(2 * w), nn.SiLU(),                                     # (B, 2w, 7, 7)
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.SiLU(),  # (B, w, 14, 14)
            nn.ConvTranspose2d(w, 1, 4, stride=2, padding=1),                 # (B, 1, 28, 28) logits
        )
        self.disc = Discriminator(width=disc_width, spectral=spectral, patch=True)

    @property
    def last_layer(self) -> torch.Tensor:
        """Weight of the decoder's last layer (where the adaptive weight is taken)."""
        return self.decoder_logits[-1].weight

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 1, 28, 28) -> mean, log-variance, each (B, c, 7, 7)."""
        check_images(x)
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, c, 7, 7) -> images (B, 1, 28, 28) in [0, 1]."""
        if z.ndim != 4 or tuple(z.shape[1:]) != (self.latent_channels, 7, 7):
            raise ValueError(f"expected latents of shape (B, {self.latent_channels}, 7, 7), got {tuple(z.shape)}; "
                             "divide scaled latents by the scale before decoding.")
        return torch.sigmoid(self.decoder_logits(z))

    def critic(self, images: torch.Tensor) -> torch.Tensor:
        """Patch logits (B, 7, 7) for images in [0, 1]."""
        return self.disc(images * 2 - 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        mean, logvar = self.encode(x)
        z = mean + (0.5 * logvar).exp() * torch.randn_like(mean)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).flatten(1).sum(1).mean()
        return self.decode(z), z, {"kl": kl}


def klae_step(model: KLAutoencoder, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer, x: torch.Tensor,
              net: nn.Module | None, *, kl_weight: float, disc_on: bool, perceptual_weight: float = 1.0,
              disc_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """One update of the autoencoder (chapter 5's objective, ``kl_weight * KL`` in place of the VQ terms), then,
    once the critic is on, the critic's hinge step. ``opt_g`` optimises the encoder and decoder, ``opt_d`` the
    critic. Returns the logs (0-d tensors)."""
    x_hat, _, stats = model(x)
    fake = model.critic(x_hat) if disc_on else None
    loss, logs = generator_objective(x, x_hat, kl_weight * stats["kl"], fake, model.last_layer, net,
                                     perceptual_weight=perceptual_weight, disc_weight=disc_weight,
                                     disc_on=disc_on)
    opt_g.zero_grad(set_to_none=True)
    loss.backward()
    opt_g.step()
    logs["kl"] = stats["kl"].detach()
    if disc_on:
        real_logits, fake_logits = model.critic(x), model.critic(x_hat.detach())
        loss_d = d_hinge_loss(real_logits, fake_logits)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        logs["loss_d"] = loss_d.detach()
    return logs


@torch.no_grad()
def encode_all(model: KLAutoencoder, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Posterior means of many images, in batches: (N, 1, 28, 28) -> (N, c, 7, 7)."""
    return torch.cat([model.encode(images[i:i + batch_size])[0] for i in range(0, len(images), batch_size)])


# ----------------------------------------------------------------------------------------------------------
# 7. Reference recipes (``tools/tune.py ldm`` measures them; chapter 6 trains its autoencoder with ``train_klae``
# and writes its denoiser's loop out; ``model_zoo``'s stand-in uses both)


def train_klae(x_train: torch.Tensor, path: Path, net: nn.Module | None, *, steps: int, disc_start: int,
               kl_weight: float, lr: float = 2e-3, batch_size: int = 128, latent_channels: int = 4,
               width: int = 32, precision: str = "auto", progress: bool = True) -> KLAutoencoder:
    """Train a :class:`KLAutoencoder` on images (N, 1, 28, 28): ``disc_start`` steps without the critic, then the
    rest with it (one checkpoint at ``path``, two calls of :func:`~genviz_utils.training.train`). Adam with
    betas (0.5, 0.9) for both players, as chapter 5. ``precision``: as in :func:`~genviz_utils.training.train`.
    Returns the model in eval mode."""
    model = KLAutoencoder(latent_channels, width).to(x_train.device)
    ae_params = [p for n, p in model.named_parameters() if not n.startswith("disc.")]
    opt_g = torch.optim.Adam(ae_params, lr, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(model.disc.parameters(), lr, betas=(0.5, 0.9))
    state = {"model": model, "opt_g": opt_g, "opt_d": opt_d}
    for end, disc_on in ((min(disc_start, steps), False), (steps, True)):
        train(lambda b, on=disc_on: klae_step(model, opt_g, opt_d, b[0], net, kl_weight=kl_weight, disc_on=on),
              x_train, steps=end, batch_size=batch_size, state=state, checkpoint=path, progress=progress,
              precision=precision, desc="KL autoencoder" + (" + critic" if disc_on else ""))
    return model.eval()


def train_denoiser(model: nn.Module, z: torch.Tensor, y: torch.Tensor, sched: Schedule, path: Path, *,
                   steps: int, lr: float = 2e-3, batch_size: int = 256, ema_decay: float = 0.995,
                   p_uncond: float = 0.1, precision: str = "auto", progress: bool = True,
                   milestones: tuple[int, ...] = ()) -> nn.Module:
    """Train eps_theta on scaled latents z (N, C, H, W) with labels y (N,): :func:`eps_loss` with label dropout,
    AdamW with a one-cycle schedule, an exponential moving average of the weights (returned, in eval mode; in the
    checkpoint as ``"ema"``: ``load_model(path, "ema")`` rebuilds it). ``milestones``: as in
    :func:`~genviz_utils.training.train` (the moving average is kept too)."""
    opt = torch.optim.AdamW(model.parameters(), lr, weight_decay=0.0, fused=True)   # one kernel for all weights
    cycle = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.1)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(ema_decay))

    def step(batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        loss = eps_loss(model, batch[0], batch[1], sched, p_uncond=p_uncond, null=model.num_classes)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        cycle.step()
        ema.update_parameters(model)
        return {"loss": loss}

    train(step, (z, y), steps=steps, batch_size=batch_size, checkpoint=path, progress=progress,
          state={"model": model, "ema": ema, "opt": opt, "cycle": cycle}, desc="denoiser", precision=precision,
          milestones=milestones)
    return ema.module.eval()
