"""Latent explorers that run in the reader's browser: the decoder's weights are embedded in the page and its
forward pass is done in JavaScript (``live_decoder.js``), so dragging works on the static website, in Jupyter
and in Colab alike, with no kernel. Supports :class:`genviz_utils.models.ae.ConvDecoder` (chapters 1 and 2) and
the GAN :class:`genviz_utils.models.gan.Generator` (chapter 4, with its BatchNorms folded away).
"""

from __future__ import annotations

import base64
import html
import json
import uuid
from importlib import resources

import numpy as np
import torch
from torch import nn

from .models.ae import ConvDecoder
from .models.gan import Generator

_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf"]
# Layer names in the exported spec (ConvDecoder's): fc.0 Linear, net.0 and net.2 ConvTranspose2d.
_LAYERS = ("fc.0", "net.0", "net.2")


def _spec(tensors: dict[str, torch.Tensor], width: int, activation: str) -> dict:
    """``{"in_dim", "width", "activation", "weights": {name: base64 float32}}`` from ConvDecoder-named tensors."""
    weights = {k: base64.b64encode(v.detach().cpu().float().contiguous().numpy().tobytes()).decode("ascii")
               for k, v in tensors.items()}
    return {"in_dim": tensors["fc.0.weight"].shape[1], "width": width, "activation": activation, "weights": weights}


def _fold_bn(weight: torch.Tensor, bias: torch.Tensor, bn: nn.BatchNorm1d | nn.BatchNorm2d,
             out_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold an eval-mode BatchNorm (running statistics) into the layer before it, in float64.
    ``out_dim`` is the axis of ``weight`` that BN normalises: 0 for Linear (out, in), 1 for ConvTranspose2d
    (cin, cout, k, k)."""
    s = bn.weight.double() / (bn.running_var.double() + bn.eps).sqrt()        # (C,)
    shape = [1] * weight.ndim
    shape[out_dim] = -1
    return weight.double() * s.view(shape), (bias.double() - bn.running_mean.double()) * s + bn.bias.double()


def fold_generator(G: Generator) -> dict[str, torch.Tensor]:
    """The eval-mode Generator as a BatchNorm-free ConvDecoder with ReLU, float64 tensors under ConvDecoder's names:
    ``fc.0.weight`` (2w*49, z_dim), ``net.0.weight`` (2w, w, 4, 4), ``net.2.weight`` (w, 1, 4, 4) and biases.

    The last layer is doubled so that its sigmoid gives the generator's image in [0, 1] exactly:
    (tanh(v) + 1) / 2 = sigmoid(2v).
    """
    if not isinstance(G, Generator):
        raise TypeError(f"expected a genviz_utils.models.gan.Generator, got {type(G).__name__}.")
    fc, bn1 = G.fc[0], G.fc[1]
    ct1, bn2, ct2 = G.net[0], G.net[1], G.net[3]
    w1, b1 = _fold_bn(fc.weight, fc.bias, bn1, 0)
    w2, b2 = _fold_bn(ct1.weight, ct1.bias, bn2, 1)
    w3, b3 = 2 * ct2.weight.double(), 2 * ct2.bias.double()
    return {k: v.detach().cpu() for k, v in zip(
        [f"{n}.{p}" for n in _LAYERS for p in ("weight", "bias")], (w1, b1, w2, b2, w3, b3), strict=True)}


def export_conv_decoder(decoder: ConvDecoder) -> dict:
    """Weights of a ConvDecoder as ``{"in_dim", "width", "activation": "silu", "weights": {name: base64 float32}}``."""
    if not isinstance(decoder, ConvDecoder):
        raise TypeError(f"expected a genviz_utils.models.ae.ConvDecoder, got {type(decoder).__name__}.")
    return _spec(decoder.state_dict(), decoder.width, "silu")


def export_generator(G: Generator) -> dict:
    """The eval-mode Generator in :func:`export_conv_decoder`'s format with ``"activation": "relu"``; the JS
    forward pass then returns ``(G(z) + 1) / 2`` (see :func:`fold_generator`)."""
    return _spec(fold_generator(G), G.width, "relu")


def _decoder_tensors(model: ConvDecoder | Generator) -> tuple[dict[str, torch.Tensor], int, str]:
    """(ConvDecoder-named tensors, width, activation) for either supported model."""
    if isinstance(model, ConvDecoder):
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}, model.width, "silu"
    if isinstance(model, Generator):
        return fold_generator(model), model.width, "relu"
    raise TypeError("live_latent_pad accepts a genviz_utils.models.ae.ConvDecoder or a "
                    f"genviz_utils.models.gan.Generator, got {type(model).__name__}.")


def live_latent_pad(
    decoder: ConvDecoder | Generator,
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
):
    """A pad over a 2-D plane of latent space and the decoded image, as self-contained HTML
    (returns ``IPython.display.HTML``).

    The pad spans ``z = center + u[0] * basis[0] + u[1] * basis[1]`` for ``u`` in ``[-lim, lim]^2``. For a 2-D
    latent ``basis`` defaults to ``diag(scale)``; for a d-dimensional one pass ``basis`` (2, d) and ``center`` (d,).
    ``points`` (N, d), in the decoder's latent units, are projected onto the plane and drawn behind it, coloured
    by ``labels`` (N,) if given. A Generator's image is ``(G(z) + 1) / 2``.
    """
    from IPython.display import HTML

    tensors, width, activation = _decoder_tensors(decoder)
    d = tensors["fc.0.weight"].shape[1]
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
    # Restrict the first layer to the plane: W z + b = (W basis^T) u + (W center + b). Exact, and it shrinks the
    # embedded weights from d to 2 columns (a z_dim-64 generator's 800 kB Linear would break the 1 MB budget).
    w = tensors["fc.0.weight"].double()
    tensors = {**tensors, "fc.0.weight": w @ basis.T, "fc.0.bias": tensors["fc.0.bias"].double() + w @ center}
    spec = _spec(tensors, width, activation)
    pts = []
    if points is not None:
        p = torch.as_tensor(points).double().cpu()
        if p.ndim != 2 or p.shape[1] != d:
            raise ValueError(f"points must have shape (N, {d}), got {tuple(p.shape)}.")
        u = ((p - center) @ torch.linalg.pinv(basis))[:max_points].numpy()   # least-squares plane coordinates
        lab = (torch.as_tensor(labels).cpu().numpy()[:max_points] if labels is not None else np.zeros(len(u), int))
        pts = [[round(float(a), 3), round(float(b), 3), int(c)] for (a, b), c in zip(u, lab, strict=True)]
    uid = "gv" + uuid.uuid4().hex[:10]
    js_lib = resources.files("genviz_utils").joinpath("live_decoder.js").read_text()
    legend = "".join(
        f'<span style="color:{_PALETTE[i % 10]}">&#9679;</span>&nbsp;{html.escape(n)} &nbsp;'
        for i, n in enumerate(class_names or [])
    )
    # 2-D latents read out z itself; higher-dimensional ones the plane coordinates u.
    readout = {"center": center.tolist(), "basis": basis.tolist()} if d == 2 else None
    cfg = {"spec": spec, "readout": readout, "lim": lim, "points": pts, "palette": _PALETTE}
    page = resources.files("genviz_utils").joinpath("live_pad.html").read_text()
    # __JS_LIB__ and __CFG__ last: the fields filled in before them cannot appear inside the library or the JSON.
    for field, value in (("__UID__", uid), ("__TITLE__", html.escape(title)), ("__LEGEND__", legend),
                         ("__JS_LIB__", js_lib), ("__CFG__", json.dumps(cfg))):
        page = page.replace(field, value)
    return HTML(page)
