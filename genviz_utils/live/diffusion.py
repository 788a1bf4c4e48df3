"""Chapter 6's live denoising explorer: DDIM with classifier-free guidance runs in the reader's browser, on the
chapter's own denoiser and decoder (``diffusion.js`` on top of ``engine.js``).

The trained weights are rounded to fit the page (:func:`~genviz_utils.live.export.round_weights`): the
denoiser's matrices to 4 bits and the decoder's larger kernels to 8, a float32 scale per 64 values. The page's
weights are then exactly those of the rounded copies that :func:`page_models` returns, so its load-time checks
against them (to 1e-4) test the runtime alone; what the rounding costs in sample quality is measured in the chapter,
on those copies.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..models.diffusion import KLAutoencoder, MLPDenoiser, Schedule, ddim_sample, ddim_times, timestep_freqs
from .export import b85, net_spec, round_weights
from .page import element

STEP_CHOICES = (1, 2, 3, 5, 10, 25, 50)


def page_models(denoiser: MLPDenoiser, autoencoder: KLAutoencoder, *, bits: int = 4, decoder_bits: int = 8
                ) -> tuple[tuple[MLPDenoiser, dict], tuple[KLAutoencoder, dict]]:
    """The models the page runs, on the CPU: ``(denoiser copy, its packed weights), (autoencoder copy, packed)``,
    with the weights rounded as :func:`~genviz_utils.live.export.round_weights` rounds them."""
    if not isinstance(denoiser, MLPDenoiser):
        raise TypeError(f"the browser runs the MLPDenoiser of chapter 6, got {type(denoiser).__name__}.")
    if not isinstance(autoencoder, KLAutoencoder):
        raise TypeError(f"the browser decodes with a KLAutoencoder, got {type(autoencoder).__name__}.")
    if denoiser.channels != autoencoder.latent_channels or denoiser.size != 7:
        raise ValueError(f"the denoiser works on ({denoiser.channels}, {denoiser.size}, {denoiser.size}) latents, the "
                         f"autoencoder makes ({autoencoder.latent_channels}, 7, 7).")
    return round_weights(denoiser, bits), round_weights(autoencoder, decoder_bits)


def live_denoising(denoiser: MLPDenoiser, autoencoder: KLAutoencoder, sched: Schedule, scale: float,
                   class_names: Sequence[str], *, label: int = 0, w: float = 2.0, seed: int = 0, steps: int = 10,
                   clip: float | None = 3.0, bits: int = 4, decoder_bits: int = 8,
                   title: str = "watch it denoise (runs in your browser)"):
    """The explorer (``IPython.display.HTML``): class, guidance scale w, seed and number of DDIM steps (one of
    :data:`STEP_CHOICES`), the latent z_t at every step with z_t and z0_hat decoded, computed in JavaScript.

    ``denoiser`` predicts the noise of latents scaled by ``scale`` (B, C, 7, 7); ``autoencoder.decode`` takes
    unscaled ones. The page draws its own starting noise from the seed (Box-Muller on a seeded generator), so a
    seed picks a different sample than ``torch.Generator().manual_seed(seed)`` does in the notebook.
    """
    if not 0 <= label < len(class_names) or len(class_names) != denoiser.num_classes:
        raise ValueError(f"label must be in 0..{denoiser.num_classes - 1} and class_names must name the denoiser's "
                         f"{denoiser.num_classes} classes, got label {label} and {len(class_names)} names.")
    if not 0 <= seed <= 99:
        raise ValueError(f"seed must be in 0..99 (the page's seed slider), got {seed}.")
    if steps not in STEP_CHOICES:
        raise ValueError(f"steps must be one of {STEP_CHOICES}, got {steps}.")
    (den, packed), (ae, ae_packed) = page_models(denoiser, autoencoder, bits=bits, decoder_bits=decoder_bits)
    shape, null = (denoiser.channels, 7, 7), denoiser.num_classes

    gen = torch.Generator().manual_seed(1234)
    x, t, ys = torch.randn(2, *shape, generator=gen), 500, [label, null]
    with torch.no_grad():
        eps = den(x, torch.full((2,), t), torch.tensor(ys)).flatten()
        final = ddim_sample(den, (1, *shape), sched, steps, y=torch.tensor([label]), w=w, clip=clip,
                            generator=torch.Generator().manual_seed(seed))
    z_T = torch.randn((1, *shape), generator=torch.Generator().manual_seed(seed))   # ddim_sample's first draw

    weights = {k: b85(v) for k, v in den.state_dict().items()}
    weights.update(packed)
    decoder = net_spec(ae, check=(final / scale).flatten().tolist())
    decoder["weights"].update({k: v for k, v in ae_packed.items() if k in decoder["weights"]})
    cfg = {
        "denoiser": {"weights": weights, "hidden": den.hidden, "dim": den.channels * 49, "depth": len(den.blocks),
                     "freqs": b85(timestep_freqs(den.hidden)),
                     "check": {"input": x.flatten().tolist(), "t": t, "y": ys, "output": b85(eps)}},
        "sampler": {"alpha_bar": b85(sched.alpha_bar.float()), "clip": clip, "null": null,
                    "sample_check": {"input": z_T.flatten().tolist(), "y": label, "w": w,
                                     "times": ddim_times(sched.T, steps), "output": b85(final.flatten())}},
        "decoder": decoder, "scale": float(scale), "channels": denoiser.channels,
        "times": {str(s): ddim_times(sched.T, s) for s in STEP_CHOICES},
        "class_names": list(class_names), "label": label, "w": w, "seed": seed, "steps": steps,
    }
    return element("denoise.html", cfg, title=title, scripts=("engine.js", "diffusion.js"))

