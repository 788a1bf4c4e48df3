"""Explorers that run in the reader's browser: the model's weights travel in the page and the course's small
runtime (``engine.js``) computes its forward pass in JavaScript, so that dragging and clicking work on the static
website, in Jupyter and in Colab alike, with no kernel.

- :func:`live_latent_pad` -- a 2-D plane of a latent space and the decoded image (chapters 1, 2, 4).
- :func:`live_interpolation` -- the straight line between two latents, with a slider for t (chapters 2, 4, 7).
- :func:`live_sweep` -- one slider per latent coordinate, and a strip that sweeps each (chapters 1, 2, 4).
- :func:`live_tokens` -- a token map to edit cell by cell, decoded by one or more token decoders, and the token
  prior's sampling with temperature and top-k, token by token (chapters 3 and 5).
- :func:`live_gan_lab` -- GAN Lab on chapter 4's ring: G and D train in the browser, with D's decision map.
- :func:`~genviz_utils.live.diffusion.live_denoising` -- chapter 6's DDIM sampler with guidance, step by step
  (in :mod:`genviz_utils.live.diffusion`, with the rounding of its weights).

``export`` turns a course model into the runtime's network; ``page`` makes the page element.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..models.vq import TokenPrior
from .export import decoder_kind, net_spec, prior_spec
from .ganlab import live_gan_lab
from .page import PALETTE, element, legend

__all__ = ["live_gan_lab", "live_interpolation", "live_latent_pad", "live_sweep", "live_tokens"]


def _latent_dim(model: nn.Module) -> int:
    d, kind = decoder_kind(model)
    if kind != "latent":
        raise TypeError(f"a latent explorer needs a latent decoder, got {type(model).__name__} (it decodes tokens).")
    return d


def live_latent_pad(
    decoder: nn.Module,
    *,
    center: torch.Tensor | None = None,
    scale: torch.Tensor | None = None,
    basis: torch.Tensor | None = None,
    lim: float = 3.0,
    points: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    class_names: list[str] | None = None,
    title: str = "Drag in the square: the decoder runs in your browser",
    max_points: int = 1500,
    pad_units: str | None = None,
):
    """A pad over a 2-D plane of latent space and the decoded image (returns ``IPython.display.HTML``).

    The pad spans ``z = center + u[0] * basis[0] + u[1] * basis[1]`` for ``u`` in ``[-lim, lim]^2``. For a 2-D
    latent ``basis`` defaults to ``diag(scale)``; for a d-dimensional one pass ``basis`` (2, d) and ``center`` (d,).
    ``points`` (N, d), in the decoder's latent units, are projected onto the plane and drawn behind it, coloured
    by ``labels`` (N,) if given. ``pad_units`` names the pad's own coordinates u, shown under z for a 2-D latent
    (e.g. ``"in std of the codes:"`` when ``scale`` is their standard deviation). ``decoder``: any latent decoder
    :func:`~genviz_utils.live.export.net_spec` takes (a ConvAutoencoder, ConvVAE or its ``decoder_logits``, a GAN
    Generator in eval mode).
    """
    d = _latent_dim(decoder)
    if basis is None:
        if d != 2:
            raise ValueError(f"the live pad needs a 2-D latent or a plane: this decoder takes {d} numbers, so pass "
                             f"basis=(2, {d}) spanning the plane to explore.")
        basis = torch.diag(torch.ones(2) if scale is None else torch.as_tensor(scale).float().cpu())
    elif scale is not None:
        raise ValueError("pass either scale (2-D latents) or basis, not both.")
    basis = torch.as_tensor(basis).double().cpu()
    center = torch.zeros(d, dtype=torch.float64) if center is None else torch.as_tensor(center).double().cpu()
    if basis.shape != (2, d) or center.shape != (d,):
        raise ValueError(f"expected basis (2, {d}) and center ({d},), got {tuple(basis.shape)} and "
                         f"{tuple(center.shape)}.")
    spec = net_spec(decoder, center=center, basis=basis, check=[0.0, 0.0])   # takes the plane coordinates (u1, u2)
    pts = []
    if points is not None:
        p = torch.as_tensor(points).double().cpu()
        if p.ndim != 2 or p.shape[1] != d:
            raise ValueError(f"points must have shape (N, {d}), got {tuple(p.shape)}.")
        u = ((p - center) @ torch.linalg.pinv(basis))[:max_points].numpy()   # least-squares plane coordinates
        if labels is not None and len(labels) != len(p):
            raise ValueError(f"labels must have one entry per point: {len(labels)} labels for {len(p)} points.")
        lab = (torch.as_tensor(labels).cpu().numpy()[:max_points] if labels is not None else np.zeros(len(u), int))
        pts = [[round(float(a), 3), round(float(b), 3), int(c)] for (a, b), c in zip(u, lab, strict=True)]
    # 2-D latents read out z itself; higher-dimensional ones the plane coordinates u.
    readout = {"center": center.tolist(), "basis": basis.tolist()} if d == 2 else None
    cfg = {"spec": spec, "readout": readout, "lim": lim, "points": pts, "palette": PALETTE, "pad_units": pad_units}
    return element("pad.html", cfg, title=title, legend=legend(class_names))


def _vector(v, d: int, what: str) -> torch.Tensor:
    v = torch.as_tensor(v).detach().double().cpu().flatten()
    if v.shape != (d,):
        raise ValueError(f"{what} must have the decoder's {d} numbers, got shape {tuple(v.shape)}.")
    return v


def live_interpolation(decoder: nn.Module, z_a: torch.Tensor, z_b: torch.Tensor, *, strip: bool = False,
                       steps: int = 9, title: str = "interpolation (runs in your browser)"):
    """A slider for t and the image decoded at ``(1 - t) z_a + t z_b``; ``z_a``, ``z_b``: (d,). With ``strip``,
    a strip of ``steps`` images at t = 0 ... 1 below it (what :func:`genviz_utils.widgets.interpolation_explorer`
    draws as its static view; leave it out when that figure is on the page already)."""
    d = _latent_dim(decoder)
    z_a, z_b = _vector(z_a, d, "z_a"), _vector(z_b, d, "z_b")
    spec = net_spec(decoder, center=z_a, basis=(z_b - z_a)[None], check=[0.5])    # the network takes t
    ts = np.linspace(0, 1, steps).round(4).tolist()
    cfg = {"spec": spec, "sliders": [{"name": "t", "min": 0.0, "max": 1.0, "value": 0.5}],
           "strips": [{"caption": f"t = 0 … 1 in {steps} steps", "inputs": [[t] for t in ts]}] if strip else []}
    return element("sliders.html", cfg, title=title)


def live_sweep(decoder: nn.Module, *, dims: int | list[int] | None = None, center: torch.Tensor | None = None,
               scale: torch.Tensor | float = 1.0, lim: float = 3.0, names: list[str] | None = None,
               strips: bool = False, steps: int = 7, title: str = "one coordinate at a time (runs in your browser)"):
    """One slider per chosen latent coordinate and the decoded image; with ``strips``, a strip per coordinate that
    sweeps it over ``[-lim, lim]`` while the others stay at ``center`` (what
    :func:`genviz_utils.widgets.latent_explorer` draws as its static view).

    ``dims``: the coordinates (default all, at most 8); ``center`` (d,) the latent the others stay at (default 0);
    slider value u moves coordinate i to ``center[i] + u * scale[i]`` (``scale``: a number or (d,)).
    """
    d = _latent_dim(decoder)
    dims = list(range(min(d, 8))) if dims is None else ([dims] if isinstance(dims, int) else list(dims))
    if not dims or any(not 0 <= i < d for i in dims) or len(set(dims)) != len(dims):
        raise ValueError(f"dims must be distinct coordinates in 0..{d - 1}, got {dims}.")
    center = torch.zeros(d, dtype=torch.float64) if center is None else _vector(center, d, "center")
    scale = torch.as_tensor(scale, dtype=torch.float64).cpu().flatten()
    if scale.numel() not in (1, d):
        raise ValueError(f"scale must be a number or one per latent coordinate ({d}), got {scale.numel()} values.")
    scale = scale.expand(d)
    basis = torch.zeros(len(dims), d, dtype=torch.float64)
    basis[range(len(dims)), dims] = scale[dims]                                   # slider j moves z[dims[j]]
    names = list(names or [f"z{i + 1}" for i in dims])
    if len(names) != len(dims):
        raise ValueError(f"{len(names)} names for {len(dims)} coordinates.")
    sweep = np.linspace(-lim, lim, steps).round(4).tolist()
    rows = [{"caption": f"{n} from {-lim:g} to {lim:g}, the others at rest",
             "inputs": [[v if k == j else 0.0 for k in range(len(dims))] for v in sweep]}
            for j, n in enumerate(names)] if strips else []
    cfg = {"spec": net_spec(decoder, center=center, basis=basis, check=[0.0] * len(dims)), "strips": rows,
           "sliders": [{"name": n, "min": -lim, "max": lim, "value": 0.0} for n in names]}
    return element("sliders.html", cfg, title=title)


def live_tokens(decoders: nn.Module | dict[str, nn.Module], image: torch.Tensor, *, prior: nn.Module | None = None,
                cell: tuple[int, int] = (3, 3), title: str = "edit the tokens (runs in your browser)"):
    """The token map of ``image`` (1, 1, 28, 28) under the first decoder's tokenizer, to edit cell by cell, and
    its decodes by every model of ``decoders`` (a VQVAE or VQGAN, or ``{name: model}``: the same tokens through
    each decoder, each with its own codebook). With ``prior`` (a TokenPrior over these tokens) the reader also
    samples maps token by token, with temperature and top-k, or completes the map from the chosen cell on.
    """
    if isinstance(decoders, nn.Module):
        decoders = {type(decoders).__name__.replace("VQVAE", "VQ-VAE").replace("VQGAN", "VQ-GAN"): decoders}
    if not decoders or any(decoder_kind(m)[1] != "tokens" for m in decoders.values()):
        raise TypeError("live_tokens needs token decoders (VQVAE or VQGAN); for a latent decoder use "
                        "live_sweep or live_latent_pad.")
    first = next(iter(decoders.values()))
    codes = {m.num_codes for m in decoders.values()}
    if len(codes) != 1:
        raise ValueError(f"the decoders must share the number of codes to decode the same tokens, got {codes}.")
    num_codes = codes.pop()
    image = torch.as_tensor(image)
    if image.shape != (1, 1, 28, 28):
        raise ValueError(f"expected one image of shape (1, 1, 28, 28), got {tuple(image.shape)}; "
                         "pass x[i:i + 1] for the i-th image of a batch.")
    device = next(first.parameters()).device
    with torch.no_grad():
        tokens = first.tokenize(image.to(device))[0]                             # (7, 7)
    h, w = tokens.shape
    if not (0 <= cell[0] < h and 0 <= cell[1] < w):
        raise ValueError(f"cell must be in the {h}x{w} map, got {cell}.")
    start = tokens.flatten().tolist()
    names = list(decoders)
    cfg = {"decoders": [{"name": n, "spec": net_spec(m, check=start)} for n, m in decoders.items()],
           "tokens": start, "grid": [h, w], "num_codes": num_codes, "cell": list(cell), "prior": None,
           "palette_caption": f"codes, each decoded alone by the {names[0]} decoder as a map filled with it "
                              "(click one to put it in the chosen cell; the chosen cell's code is outlined):"}
    if prior is not None:
        if not isinstance(prior, TokenPrior):
            raise TypeError(f"prior must be a genviz_utils.models.vq.TokenPrior, got {type(prior).__name__}.")
        if prior.num_codes != num_codes or tuple(prior.grid) != (h, w):
            raise ValueError(f"the prior models {prior.num_codes} codes on a {tuple(prior.grid)} grid; the "
                             f"decoders take {num_codes} codes on ({h}, {w}).")
        cfg["prior"] = prior_spec(prior, check=tokens)
    return element("tokens.html", cfg, title=title)
