"""Checkers for the VQ-VAE chapter: quantizer, straight-through estimator, VQ losses, perplexity."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..models.vq import nearest_codes, perplexity
from . import ExerciseFailed, call, expect_close, expect_tensor, passed


def _example(seed: int = 0, b: int = 3, d: int = 4, h: int = 5, w: int = 6, k: int = 10):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, d, h, w, generator=g), torch.randn(k, d, generator=g)


def check_quantize(fn: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> bool:
    """``fn(z_e (B, D, H, W), codebook (K, D)) -> (z_q (B, D, H, W), indices (B, H, W))``."""
    z_e, codebook = _example()
    b, d, h, w = z_e.shape
    out = call(fn, z_e, codebook, name="your quantizer")
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ExerciseFailed("return a pair (z_q, indices), e.g. `return z_q, indices`.")
    z_q, idx = out
    expect_tensor(z_q, (b, d, h, w), "z_q")
    expect_tensor(idx, (b, h, w), "indices")
    if idx.dtype not in (torch.int64, torch.int32):
        raise ExerciseFailed(f"indices should be integers (torch.long), got {idx.dtype}; argmin gives int64.")
    flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
    ref = nearest_codes(flat, codebook).view(b, h, w)
    d64 = torch.cdist(flat.double(), codebook.double()) ** 2              # exact enough to judge near-ties
    got = d64.gather(1, idx.long().reshape(-1, 1).clamp(0, codebook.shape[0] - 1)).squeeze(1)
    near_tie = got <= d64.min(1).values + 1e-5 * (1 + d64.min(1).values)
    if near_tie.all():
        ref = idx.long()                                                    # a tie broken the other way is fine
    if not torch.equal(idx.long(), ref):
        d2 = torch.cdist(flat, codebook)
        hint = "Check that you take the argmin (not argmax) over the K codes"
        if torch.equal(idx.long().view(-1), d2.argmax(1)):
            hint = "You picked the farthest code: use argmin of the distance"
        elif torch.equal(idx.long().view(-1), nearest_codes(z_e.reshape(-1, d), codebook)):
            hint = ("You flattened (B, D, H, W) straight to (-1, D), which mixes channels and positions: "
                    "move the channel axis last first, z_e.permute(0, 2, 3, 1).reshape(-1, D)")
        wrong = int((idx.long() != ref).sum())
        raise ExerciseFailed(f"{wrong} of {ref.numel()} indices are not the nearest code. {hint}.")
    expect_close(z_q, codebook[ref].permute(0, 3, 1, 2), "z_q",
                 "z_q must be the codebook rows picked by the indices, arranged back to (B, D, H, W).")
    return passed("quantizer", f"{ref.numel()} vectors, K={codebook.shape[0]}")


def check_straight_through(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """``fn(z_e, z_q) -> out``: value of z_q, gradient of out w.r.t. z_e = upstream gradient, none to z_q."""
    z_e, codebook = _example(1)
    z_q = codebook[nearest_codes(z_e.permute(0, 2, 3, 1).reshape(-1, 4), codebook)].view(3, 5, 6, 4)
    z_q = z_q.permute(0, 3, 1, 2).contiguous()
    z_e.requires_grad_(True)
    z_q.requires_grad_(True)
    out = call(fn, z_e, z_q, name="your straight-through function")
    expect_tensor(out, tuple(z_e.shape), "the straight-through output")
    expect_close(out, z_q, "The forward value", "The output must equal z_q: the decoder sees the codes.",
                 rtol=0, atol=1e-5)
    if not out.requires_grad:
        raise ExerciseFailed("The output carries no gradient at all: you detached everything. Only the "
                             "correction (z_q - z_e) should be detached.")
    upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(2))
    out.backward(upstream)
    if z_e.grad is None or not torch.allclose(z_e.grad, upstream, atol=1e-6):
        got = ("no gradient" if z_e.grad is None
               else f"a gradient off by up to {(z_e.grad - upstream).abs().max():.3g}")
        raise ExerciseFailed(f"z_e received {got}; it must receive the upstream gradient unchanged "
                             "(Jacobian = identity). Write z_e + (z_q - z_e).detach().")
    if z_q.grad is not None and z_q.grad.abs().max() > 0:
        raise ExerciseFailed("z_q (the codebook) also receives the reconstruction gradient. In the VQ-VAE "
                             "the codes learn only from the codebook loss: detach the path through z_q.")
    exact = torch.equal(out.detach(), z_q.detach())
    return passed("straight-through estimator", "forward bitwise equal to z_q" if exact
                  else "forward equal to z_q up to float rounding")


def check_vq_loss(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> bool:
    """``fn(z_e, z_q, beta) -> ||sg(z_e) - z_q||^2 + beta ||z_e - sg(z_q)||^2`` (means over elements)."""
    beta = 0.25
    z_e, _ = _example(3)
    z_q = z_e + 0.5 * torch.randn(z_e.shape, generator=torch.Generator().manual_seed(4))
    z_e.requires_grad_(True)
    z_q.requires_grad_(True)
    loss = call(fn, z_e, z_q, beta, name="your VQ loss")
    expect_tensor(loss, (), "the loss (a scalar)")
    diff = (z_q - z_e).detach()
    expect_close(loss, (1 + beta) * diff.pow(2).mean(), "The loss value",
                 "Use means of squared differences: F.mse_loss(a, b) or ((a - b) ** 2).mean().")
    loss.backward()
    n = diff.numel()
    g_q = z_q.grad if z_q.grad is not None else torch.zeros_like(diff)
    g_e = z_e.grad if z_e.grad is not None else torch.zeros_like(diff)
    want_q, want_e = 2 * diff / n, -2 * beta * diff / n
    if torch.allclose(g_q, beta * want_q, atol=1e-7) and torch.allclose(g_e, want_e / beta, atol=1e-7):
        raise ExerciseFailed("beta multiplies the codebook term instead of the commitment term (the 'swapped "
                             "beta' bug): the codes then move 4x slower and the encoder is pulled 4x harder "
                             "than in the paper. beta belongs on ||z_e - sg(z_q)||^2.")
    if not torch.allclose(g_q, want_q, atol=1e-7):
        raise ExerciseFailed("The gradient reaching z_q is wrong. Only the codebook term ||sg(z_e) - z_q||^2 "
                             "(weight 1) may send gradient to z_q: detach z_q in the commitment term.")
    if not torch.allclose(g_e, want_e, atol=1e-7):
        raise ExerciseFailed("The gradient reaching z_e is wrong. Only the commitment term "
                             "beta ||z_e - sg(z_q)||^2 may send gradient to z_e: detach z_e in the codebook "
                             "term.")
    return passed("VQ loss", "codebook term to the codes, beta-weighted commitment term to the encoder")


def check_perplexity(fn: Callable[[torch.Tensor, int], float]) -> bool:
    """``fn(indices (any shape, int64), K) -> float``: exp of the entropy (nats) of the code histogram."""
    k = 16
    cases = {
        "a single code used everywhere": torch.full((4, 7, 7), 3),
        "all 16 codes used equally": torch.arange(k).repeat(10).view(10, 4, 4),
        "a skewed histogram with unused codes": torch.tensor([0] * 50 + [1] * 30 + [2] * 15 + [5] * 5),
    }
    for what, idx in cases.items():
        got = call(fn, idx, k, name="your perplexity")
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise ExerciseFailed(f"return a number (float), got {type(got).__name__}.") from None
        want = perplexity(idx, k)
        if math.isnan(got):
            raise ExerciseFailed(f"NaN for {what}: unused codes give 0 * log 0, which must count as 0 "
                                 "(drop zero counts or clamp the probabilities before the log).")
        if abs(got - want) > 1e-4 * max(1.0, want):
            hint = ""
            if abs(got - math.log(want)) < 1e-4:
                hint = " You returned the entropy; the perplexity is its exponential."
            elif min(abs(got - 2 ** math.log(want)), abs(got - math.exp(math.log2(want)))) < 1e-3 * want:
                hint = " You mixed bases: use exp with natural logs (or 2 ** with log2)."
            raise ExerciseFailed(f"for {what} the perplexity is {want:.4g}, you returned {got:.4g}.{hint}")
    return passed("perplexity", "1 for one code, K for a uniform histogram")
