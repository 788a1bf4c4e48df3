"""Course models as the browser runtime's networks (``engine.js``): a list of ops and named float32 weights.

:func:`net_spec` turns a decoder into ``{"ops": [...], "weights": {name: base85 float32}, "in_dim", "input"}``
whose ``makeNet`` maps the decoder's input (a latent vector, or a token map read row by row) to the image's
pixels in [0, 1], as the Python model does; :func:`prior_spec` does the same for the token prior. Only the layer
types of the course's models are known (a table below); anything else raises a ``TypeError`` that names it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import torch
from torch import nn

from ..models.ae import ConvAutoencoder, ConvDecoder
from ..models.diffusion import KLAutoencoder
from ..models.gan import Generator
from ..models.vae import ConvVAE
from ..models.vq import VQVAE, ResBlock, TokenPrior
from ..models.vqgan import VQGAN

_ACTS = {nn.SiLU: "silu", nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh"}


def b85(t: torch.Tensor) -> str:
    """A tensor's values as base85 text of little-endian float32 bytes (what ``engine.js`` reads), in PyTorch's
    layout. Base85 is 6 % smaller than base64, which keeps a page with two decoders and a prior under budget."""
    return base64.b85encode(t.detach().cpu().float().contiguous().numpy().astype("<f4").tobytes()).decode("ascii")


def quantize(w: torch.Tensor, bits: int, group: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Round ``w`` to ``bits``-bit integers, a float32 scale per run of ``group`` values (in PyTorch's layout):
    codes q in [-(2^(bits-1) - 1), 2^(bits-1) - 1] (n,) int8 and scales max|w| / (2^(bits-1) - 1) (groups,).
    The rounded weight is ``dequantize(q, scales, group)``."""
    if not 2 <= bits <= 8:
        raise ValueError(f"bits must be between 2 and 8, got {bits}.")
    flat = w.detach().float().cpu().flatten()
    qmax = 2 ** (bits - 1) - 1
    pad = -len(flat) % group
    groups = torch.cat([flat, flat.new_zeros(pad)]).view(-1, group)
    scales = groups.abs().amax(1) / qmax
    scales = torch.where(scales > 0, scales, torch.ones_like(scales))             # an all-zero group: any scale
    q = (groups / scales[:, None]).round().clamp(-qmax, qmax).flatten()[:len(flat)]
    return q.to(torch.int8), scales


def dequantize(q: torch.Tensor, scales: torch.Tensor, group: int) -> torch.Tensor:
    """The float32 values (n,) of codes ``q`` (n,) and their group's scale, as ``engine.js`` computes them."""
    return q.float() * scales.repeat_interleave(group)[:len(q)]


def b85_quantized(q: torch.Tensor, scales: torch.Tensor, bits: int, group: int) -> dict:
    """Codes and scales as the runtime reads them: codes + 2^(bits-1) as bytes (two 4-bit codes a byte, the first
    in the low half), zero-padded to a multiple of 4 bytes, base85; scales as :func:`b85`."""
    if bits not in (4, 8):
        raise ValueError(f"the page unpacks 4- or 8-bit codes, got {bits} bits.")
    u = (q.to(torch.int16) + 2 ** (bits - 1)).to(torch.uint8)
    if bits == 4:
        u = torch.cat([u, u.new_zeros(len(u) % 2)]).view(-1, 2)
        u = u[:, 0] | (u[:, 1] << 4)
    raw = u.numpy().tobytes()
    raw += bytes(-len(raw) % 4)
    return {"codes": base64.b85encode(raw).decode("ascii"), "scales": b85(scales), "bits": bits, "group": group,
            "n": len(q)}


def round_weights(model: nn.Module, bits: int, group: int = 64, min_numel: int = 1024, *, pack: bool = True
                  ) -> tuple[nn.Module, dict[str, dict]]:
    """A copy of ``model`` whose weight matrices and kernels of at least ``min_numel`` values are rounded as
    :func:`quantize` rounds them, and those weights encoded for the page (name -> :func:`b85_quantized`). The copy
    is what the page computes, so a check of the page against it is exact, and its samples show what the rounding
    costs. Biases, norms and embeddings stay float32. Spectral norm (a parametrised weight) is not handled: round
    a decoder, not a critic."""
    if not hasattr(model, "config"):
        raise TypeError(f"round_weights rebuilds a course model from its config; {type(model).__name__} has none.")
    # rebuilt from its config and state_dict rather than deep-copied: a model fresh from training may hold
    # tensors with autograd history (the critic's spectral norm), which deepcopy refuses
    page_model = type(model)(**model.config)
    page_model.load_state_dict(model.state_dict())
    page_model = page_model.float().cpu().eval()
    if isinstance(page_model, KLAutoencoder):
        page_model.disc = nn.Identity()                     # the page decodes; its critic is not rounded
    packed = {}
    with torch.no_grad():
        for name, m in page_model.named_modules():
            if isinstance(m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d) and m.weight.numel() >= min_numel:
                q, scales = quantize(m.weight, bits, group)
                m.weight.copy_(dequantize(q, scales, group).view_as(m.weight))
                if pack:                                    # False: only the rounded copy (any bits, no page)
                    packed[f"{name}.weight"] = b85_quantized(q, scales, bits, group)
    return page_model, packed


class _Builder:
    """Collects ops and their weights; weight names are the module's own (``fc.0.weight``)."""

    def __init__(self):
        self.ops: list[dict] = []
        self.weights: dict[str, torch.Tensor] = {}

    def add(self, name: str, t: torch.Tensor) -> str:
        self.weights[name] = t.detach().double()
        return name

    def module(self, m: nn.Module, prefix: str, ops: list[dict] | None = None) -> list[dict]:
        """Append the ops of ``m`` (a layer or a Sequential of layers) to ``ops`` (default: the network's)."""
        ops = self.ops if ops is None else ops
        p = f"{prefix}." if prefix else ""
        if isinstance(m, nn.Sequential):
            for name, child in m.named_children():
                self.module(child, p + name, ops)
        elif isinstance(m, ResBlock):
            ops.append({"op": "residual", "body": self.module(m.net, p + "net", [])})
        elif isinstance(m, nn.Linear):
            ops.append({"op": "linear", "w": self.add(p + "weight", m.weight), "out": m.out_features,
                        "b": self.add(p + "bias", m.bias) if m.bias is not None else None})
        elif isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            if isinstance(m.padding, str) or m.padding_mode != "zeros" or m.groups != 1 \
                    or m.dilation != (1, 1) or m.kernel_size[0] != m.kernel_size[1] \
                    or m.stride[0] != m.stride[1] or m.padding[0] != m.padding[1] \
                    or (isinstance(m, nn.ConvTranspose2d) and m.output_padding != (0, 0)):
                raise TypeError(f"{p[:-1]}: the browser runtime takes square convolutions with zero padding given "
                                f"as a number, without groups, dilation or output padding, got {m}.")
            kind = "conv2d" if isinstance(m, nn.Conv2d) else "conv_transpose2d"
            ops.append({"op": kind, "w": self.add(p + "weight", m.weight), "out": m.out_channels,
                        "b": self.add(p + "bias", m.bias) if m.bias is not None else None,
                        "k": m.kernel_size[0], "stride": m.stride[0], "pad": m.padding[0]})
        elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            if m.running_var is None:
                raise TypeError(f"{p[:-1]}: a BatchNorm without running statistics (track_running_stats=False) "
                                "normalises by each batch, which the browser runtime does not do.")
            if m.training:
                raise ValueError(f"{p[:-1]}: a BatchNorm runs in the browser only as in eval mode (a fixed scale "
                                 "and shift from its running statistics); call model.eval() first.")
            scale = 1 / (m.running_var.double() + m.eps).sqrt()                       # (C,)
            shift = -m.running_mean.double() * scale
            if m.affine:
                scale, shift = scale * m.weight.double(), shift * m.weight.double() + m.bias.double()
            ops.append({"op": "channel_affine", "scale": self.add(p + "scale", scale),
                        "shift": self.add(p + "shift", shift)})
        elif isinstance(m, nn.LeakyReLU):
            ops.append({"op": "act", "fn": "leaky_relu", "slope": m.negative_slope})
        elif type(m) in _ACTS:
            ops.append({"op": "act", "fn": _ACTS[type(m)]})
        elif isinstance(m, nn.Unflatten):
            ops.append({"op": "unflatten", "shape": list(m.unflattened_size)})
        elif isinstance(m, nn.Flatten):
            ops.append({"op": "flatten"})
        else:
            raise TypeError(f"{p[:-1] or 'the model'}: the browser runtime has no op for {type(m).__name__}; it "
                            "knows Linear, Conv2d, ConvTranspose2d, BatchNorm (eval), ResBlock, Flatten, Unflatten "
                            "and the activations SiLU, ReLU, LeakyReLU, Sigmoid, Tanh.")
        return ops

    def spec(self, **extra) -> dict:
        return {"ops": self.ops, "weights": {k: b85(v) for k, v in self.weights.items()}, **extra}


def _decoder_ops(b: _Builder, model: nn.Module) -> tuple[int, str]:
    """The ops of a latent decoder ending at pixels in [0, 1]; returns (latent size, "latent")."""
    if isinstance(model, ConvAutoencoder | ConvVAE):
        model = model.decoder_logits
    if isinstance(model, ConvDecoder):
        b.module(model.fc, "fc")
        b.ops.append({"op": "unflatten", "shape": [2 * model.width, 7, 7]})        # as forward's view
        b.module(model.net, "net")
        b.ops.append({"op": "act", "fn": "sigmoid"})                                # logits -> [0, 1]
        return model.fc[0].in_features, "latent"
    if isinstance(model, Generator):
        b.module(model.fc, "fc")
        b.ops.append({"op": "unflatten", "shape": [2 * model.width, 7, 7]})
        b.module(model.net, "net")
        b.ops.append({"op": "affine", "scale": 0.5, "shift": 0.5})                 # tanh's [-1, 1] -> [0, 1]
        return model.z_dim, "latent"
    if isinstance(model, KLAutoencoder):
        c = model.latent_channels
        b.ops.append({"op": "unflatten", "shape": [c, 7, 7]})                      # as decode's input
        b.module(model.decoder_logits, "decoder_logits")
        b.ops.append({"op": "act", "fn": "sigmoid"})
        return c * 49, "latent"
    if isinstance(model, VQGAN):
        model = model.vq
    if isinstance(model, VQVAE):
        codebook = model.quantizer.codebook
        b.ops.append({"op": "embed_grid", "w": b.add("codebook", codebook), "codebook_shape": list(codebook.shape),
                      "grid": [7, 7]})
        b.module(model.decoder_logits, "decoder_logits")
        b.ops.append({"op": "act", "fn": "sigmoid"})
        return 49, "tokens"
    raise TypeError("the browser runtime decodes a ConvAutoencoder, ConvVAE, ConvDecoder, GAN Generator, VQVAE, "
                    f"VQGAN or KLAutoencoder, got {type(model).__name__}.")


def decoder_kind(model: nn.Module) -> tuple[int, str]:
    """(input size, ``"latent"`` or ``"tokens"``) of a decoder the runtime takes; a TypeError for anything else."""
    return _decoder_ops(_Builder(), model)


def reference(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """What the exported network computes, by the model's own PyTorch forward: inputs (B, d) -> pixels (B, 784)
    in [0, 1] (a token decoder's inputs are the 49 tokens of a map, row by row)."""
    d, kind = decoder_kind(model)
    if isinstance(model, ConvAutoencoder | ConvVAE):
        fn = model.decode
    elif isinstance(model, ConvDecoder):
        fn = lambda z: torch.sigmoid(model(z))  # noqa: E731
    elif isinstance(model, Generator):
        fn = lambda z: (model(z) + 1) / 2  # noqa: E731
    elif isinstance(model, KLAutoencoder):
        fn = lambda z: model.decode(z.view(len(z), model.latent_channels, 7, 7))  # noqa: E731
    else:
        fn = lambda t: model.decode_tokens(t.long().view(-1, 7, 7))  # noqa: E731

    def images(x: torch.Tensor) -> torch.Tensor:
        device = next(model.parameters()).device
        with torch.no_grad():
            return fn(x.to(device, torch.float32 if kind == "latent" else torch.long)).flatten(1).float().cpu()
    return images


def net_spec(model: nn.Module, *, center: torch.Tensor | None = None, basis: torch.Tensor | None = None,
             check: list[float] | None = None) -> dict:
    """The browser network of ``model``'s decoder: input -> pixels (1 * 28 * 28) in [0, 1], row by row.

    For a latent decoder, ``center`` (d,) and ``basis`` (k, d) restrict the input to the affine subspace
    ``z = center + u @ basis``: the network then takes the k numbers u. It is exact (the first Linear becomes
    ``W basis^T``, its bias ``W center + b``) and it shrinks the first layer from d to k columns, which is what keeps
    a 64-dimensional generator's page small. Without them the network takes z itself.
    ``check`` (the network's input, e.g. the explorer's starting point) adds what PyTorch computes there, by the
    model's own forward (:func:`reference`): ``engine.js`` compares its own output with it when the page loads and
    reports a difference over 1e-4 as an error, so the weights on the page are checked, not only the architecture.
    Returns ``{"ops", "weights", "in_dim", "input": "latent" | "tokens"[, "check"]}``.
    """
    b = _Builder()
    d, kind = _decoder_ops(b, model)
    if (center is None) != (basis is None):
        raise ValueError("pass both center (d,) and basis (k, d), or neither.")
    if center is not None:
        if kind != "latent":
            raise ValueError("center/basis restrict a latent decoder's input; a token decoder takes token maps.")
        center, basis = torch.as_tensor(center).double().cpu(), torch.as_tensor(basis).double().cpu()
        if basis.ndim != 2 or basis.shape[1] != d or center.shape != (d,):
            raise ValueError(f"expected center ({d},) and basis (k, {d}), got {tuple(center.shape)} and "
                             f"{tuple(basis.shape)}.")
        first = b.ops[0]
        w = b.weights[first["w"]]
        b.weights[first["w"]] = w @ basis.T                                        # (out, k)
        if first["b"] is None:
            first["b"] = b.add("input_offset", torch.zeros(w.shape[0]))
        b.weights[first["b"]] = b.weights[first["b"]] + w @ center
    spec = b.spec(in_dim=d if center is None else basis.shape[0], input=kind)
    if check is not None:
        x = torch.as_tensor(check, dtype=torch.float64).flatten()
        if x.shape != (spec["in_dim"],):
            raise ValueError(f"check must be one input of {spec['in_dim']} numbers, got shape {tuple(x.shape)}.")
        z = x if center is None else center + x @ basis                          # the model's own input
        spec["check"] = {"input": x.tolist(), "output": b85(reference(model)(z[None])[0])}
    return spec


def prior_spec(prior: TokenPrior, check: torch.Tensor | None = None) -> dict:
    """The token prior's weights and sizes for ``engine.js``'s ``makePrior`` (its step runs one token with a
    key/value cache, as :meth:`TokenPrior.sample` does). ``check``, a token map (H, W), adds PyTorch's logits of
    it, which the page compares with its own when it loads (as in :func:`net_spec`)."""
    if not isinstance(prior, TokenPrior):
        raise TypeError(f"expected a genviz_utils.models.vq.TokenPrior, got {type(prior).__name__}.")
    spec = {"weights": {k: b85(v) for k, v in prior.state_dict().items()}, "num_codes": prior.num_codes,
            "grid": list(prior.grid), "n_layer": len(prior.blocks), "n_embd": prior.pos.shape[-1],
            "n_head": prior.blocks[0].n_head}
    if check is not None:
        tokens = torch.as_tensor(check).long().reshape(1, *prior.grid).to(prior.pos.device)
        with torch.no_grad():
            logits = prior(tokens)[0].float().cpu()                               # (T, K)
        spec["check"] = {"input": tokens.flatten().tolist(), "output": b85(logits)}
    return spec
