"""Checkers for the VQ-VAE chapter: quantizer, straight-through estimator, VQ losses, perplexity."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from ..models.vq import nearest_codes, perplexity
from . import ExerciseFailed, call, expect_close, expect_tensor, passed


def _example(seed: int = 0, b: int = 3, d: int = 4, h: int = 5, w: int = 6, k: int = 10):
    rng = torch.Generator().manual_seed(seed)
    return torch.randn(b, d, h, w, generator=rng), torch.randn(k, d, generator=rng)


class _LargestAllocation(TorchDispatchMode):
    """Records the largest storage (in bytes) that any operation inside the ``with`` block returns, and its shape.

    Views (``expand``, ``[:, None]``) share their input's storage, so only tensors that really own memory count.
    """

    def __init__(self) -> None:
        super().__init__()
        self.nbytes, self.shape, self.op = 0, (), ""

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.untyped_storage().nbytes() > self.nbytes:
                self.nbytes, self.shape, self.op = t.untyped_storage().nbytes(), tuple(t.shape), str(func)
        return out


def _quantize_hint(idx: torch.Tensor, flat: torch.Tensor, z_e: torch.Tensor, codebook: torch.Tensor) -> str:
    """Name the mistake behind wrong indices, by recomputing the usual wrong versions."""
    got = idx.long().reshape(-1)
    e2 = codebook.pow(2).sum(1)
    wrong_versions = {
        "You picked the farthest code: use argmin of the distance, not argmax":
            torch.cdist(flat, codebook).argmax(1),
        ("You flattened (B, D, H, W) straight to (-1, D), which mixes channels and positions: move the channel "
         "axis last first, z_e.permute(0, 2, 3, 1).reshape(-1, D)"):
            nearest_codes(z_e.reshape(-1, z_e.shape[1]), codebook),
        ("You dropped ||e_k||^2 from ||z||^2 - 2 z.e_k + ||e_k||^2: ||z||^2 is the same for every code and may go, "
         "but the codes differ in norm, so ||e_k||^2 must stay"):
            (-2 * flat @ codebook.T + flat.pow(2).sum(1, keepdim=True)).argmin(1),
        ("The cross term has the wrong sign: ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2, with a minus (with a plus "
         "you find the code nearest to -z)"):
            (flat.pow(2).sum(1, keepdim=True) + 2 * flat @ codebook.T + e2).argmin(1),
    }
    for hint, wrong in wrong_versions.items():
        if torch.equal(got, wrong):
            return hint
    return "Check that you take the argmin (not argmax) over the K codes, of the squared distances"


def check_quantize(fn: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> bool:
    """``fn(z_e (B, D, H, W), codebook (K, D)) -> (z_q (B, D, H, W), indices (B, H, W))``, without ever allocating
    the (N, K, D) tensor of all differences (N = B H W)."""
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
        wrong = int((idx.long() != ref).sum())
        raise ExerciseFailed(f"{wrong} of {ref.numel()} indices are not the nearest code. "
                             f"{_quantize_hint(idx, flat, z_e, codebook)}.")
    expect_close(z_q, codebook[ref].permute(0, 3, 1, 2), "z_q",
                 "z_q must be the codebook rows picked by the indices, arranged back to (B, D, H, W): "
                 "codebook[indices] is (B, H, W, D), so permute(0, 3, 1, 2) it (a .view to (B, D, H, W) "
                 "scrambles the numbers).")
    # The point of the exercise: no (N, K, D) tensor. Sizes where it is 16 times larger than anything needed.
    big_z, big_codebook = _example(5, b=2, d=64, h=4, w=4, k=16)
    n, k, d_big = 2 * 4 * 4, big_codebook.shape[0], big_codebook.shape[1]
    with _LargestAllocation() as mem:
        call(fn, big_z, big_codebook, name="your quantizer")
    if mem.nbytes >= n * k * d_big * 2:                                   # an (N, K, D) tensor even in 16 bits
        raise ExerciseFailed(
            f"your quantizer allocates a tensor of shape {mem.shape} (from {mem.op}); with N = {n} vectors, "
            f"K = {k} codes of dimension D = {d_big} that is the (N, K, D) broadcast of all differences this "
            "exercise asks you to avoid. Expand ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2: the largest tensor is "
            "then the (N, K) distance matrix, and the middle term is one matrix product, flat @ codebook.T.")
    return passed("quantizer", f"{ref.numel()} vectors, K={codebook.shape[0]}; on a larger example its largest "
                  f"tensor holds {mem.nbytes // 4:,} float32 numbers, the (N, K, D) one would hold {n * k * d_big:,}")


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
    if z_e.grad is not None and z_e.grad.abs().max() == 0 and z_q.grad is not None:
        raise ExerciseFailed("z_e receives exactly zero gradient and z_q all of it: without the .detach(), "
                             "z_e + (z_q - z_e) is just z_q, and the two z_e terms cancel in the backward pass. "
                             "Write z_e + (z_q - z_e).detach().")
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


def _coefficient(grad: torch.Tensor | None, unit: torch.Tensor) -> float | None:
    """c if ``grad`` = c * ``unit`` (to float tolerance), else None."""
    if grad is None:
        return 0.0
    c = float((grad * unit).sum() / unit.pow(2).sum())
    return c if torch.allclose(grad, c * unit, atol=1e-7, rtol=1e-4) else None


def check_vq_loss(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> bool:
    """``fn(z_e, z_q, beta) -> ||sg(z_e) - z_q||^2 + beta ||z_e - sg(z_q)||^2`` (means over elements).

    Tried with the chapter's beta = 0.25 and with beta = 0.6, so that a loss that ignores its ``beta`` argument
    (a global ``BETA``, a typed 0.25) is caught too.
    """
    for beta in (0.25, 0.6):
        _check_vq_loss_at(fn, beta)
    return passed("VQ loss", "codebook term to the codes, beta-weighted commitment term to the encoder "
                  "(beta = 0.25 and 0.6)")


def _check_vq_loss_at(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor], beta: float) -> None:
    z_e, _ = _example(3)
    z_q = z_e + 0.5 * torch.randn(z_e.shape, generator=torch.Generator().manual_seed(4))
    z_e.requires_grad_(True)
    z_q.requires_grad_(True)
    loss = call(fn, z_e, z_q, beta, name="your VQ loss")
    expect_tensor(loss, (), "the loss (a scalar)")
    diff = (z_q - z_e).detach()
    mse = diff.pow(2).mean()
    value = float(loss.detach())
    if not math.isclose(value, float((1 + beta) * mse), rel_tol=1e-4):
        hint = "Use means of squared differences: F.mse_loss(a, b) or ((a - b) ** 2).mean()."
        if beta != 0.25 and math.isclose(value, float(1.25 * mse), rel_tol=1e-4):
            hint = ("Your loss ignores its beta argument: called with beta = 0.6 it still weighs the commitment "
                    "by 0.25 (a global BETA or a typed 0.25?). Multiply by the argument beta.")
        elif math.isclose(value, float((1 + beta) * diff.pow(2).sum()), rel_tol=1e-4):
            hint = ("You summed the squared differences; the chapter's terms are means over the elements "
                    "(F.mse_loss), and beta = 0.25 is meant for that scale.")
        elif math.isclose(value, float(mse), rel_tol=1e-4) or math.isclose(value, float(beta * mse), rel_tol=1e-4):
            hint = "The loss has only one of the two terms: add the codebook term and beta times the commitment term."
        raise ExerciseFailed(f"With beta = {beta} the loss value is {value:.4g}, expected {(1 + beta) * mse:.4g}. "
                             f"{hint}")
    loss.backward()
    unit = 2 * diff / diff.numel()             # d/dz_q of mean((z_q - z_e)^2); the z_e side gets -unit
    a = _coefficient(z_q.grad, unit)           # weight of the gradient reaching the codes
    b = _coefficient(None if z_e.grad is None else -z_e.grad, unit)   # ... and the encoder
    if a is None or b is None:
        raise ExerciseFailed("The gradients are not multiples of (z_q - z_e): use squared differences of z_e and "
                             "z_q only, with the stop-gradient (.detach()) on one side of each term.")

    def near(x: float, y: float) -> bool:
        return abs(x - y) < 1e-4

    if near(a, 1) and near(b, beta):
        return
    if near(a, beta) and near(b, 1):
        raise ExerciseFailed(
            f"beta multiplies the codebook term instead of the commitment term (the 'swapped beta' bug). With Adam "
            f"the codes hardly notice (their gradient comes from that one term, and Adam undoes a constant scale), "
            f"but the encoder does: relative to the reconstruction, the commitment pulls it 1/beta = {1 / beta:.3g}x "
            f"harder than the paper's weighting. (With plain SGD the codes would also move {1 / beta:.3g}x slower.) "
            f"beta belongs on ||z_e - sg(z_q)||^2.")
    if near(a, 1 + beta) and near(b, 1 + beta):
        raise ExerciseFailed("No stop-gradient at all: both terms send gradient to both z_e and z_q, so the two "
                             "terms are one loss (1 + beta) ||z_e - z_q||^2. Detach z_e in the codebook term and z_q "
                             "in the commitment term.")
    if near(a, 1 + beta) and near(b, beta):
        raise ExerciseFailed("The commitment term also moves the codes: detach z_q in beta ||z_e - sg(z_q)||^2, so "
                             "that it sends gradient to the encoder only.")
    if near(a, 1) and near(b, 1 + beta):
        raise ExerciseFailed("The codebook term also moves the encoder: detach z_e in ||sg(z_e) - z_q||^2, so that "
                             "it sends gradient to the codes only.")
    raise ExerciseFailed(f"The gradient reaching z_q is {a:.3g} and the one reaching z_e {b:.3g} times the gradient "
                         f"of mean((z_q - z_e)^2); they should be 1 (codebook term, to the codes only) and beta = "
                         f"{beta} (commitment term, to the encoder only).")


def _with_unused_weight(got: float, idx: torch.Tensor, k: int) -> bool:
    """Whether ``got`` is the perplexity with every unused code's p raised to some eps in [1e-12, 1e-1]."""
    counts = torch.bincount(idx.reshape(-1), minlength=k).double()
    for eps in (10.0 ** -e for e in range(1, 13)):
        p = (counts / counts.sum()).clamp_min(eps)
        if abs(got - float(torch.exp(-(p * p.log()).sum()))) < 1e-4 * got:
            return True
    return False


def check_perplexity(fn: Callable[[torch.Tensor, int], float]) -> bool:
    """``fn(indices (any shape, int64), K) -> float``: exp of the entropy (nats) of the code histogram."""
    k = 16
    cases = {
        "a single code used everywhere": torch.full((4, 7, 7), 3),
        # uniform over all 16 codes in total, but each 4x4 image holds only 2 of them: the perplexity of the
        # pooled tokens is 16, the mean of the images' perplexities about 2
        "all 16 codes used equally, 2 per image": torch.arange(k).repeat_interleave(10).view(10, 4, 4),
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
            used = int(torch.unique(idx).numel())
            per_image = (sum(perplexity(image, k) for image in idx) / len(idx)) if idx.ndim > 1 else math.nan
            if abs(got - per_image) < 1e-4 * max(1.0, per_image):
                hint = (" You averaged the perplexities of the images; the perplexity of a set of tokens comes from "
                        "the histogram of all of them pooled (a single image holds only a few codes).")
            elif got > want and used < k and _with_unused_weight(got, idx, k):
                hint = (" The unused codes contribute to your sum: a probability clamped (or eps added) before "
                        "p * log p gives each of them a small weight. Drop zero counts, or clamp only inside the "
                        "log: p * p.clamp_min(eps).log().")
            elif abs(got - math.log(want)) < 1e-4:
                hint = " You returned the entropy; the perplexity is its exponential."
            elif min(abs(got - 2 ** math.log(want)), abs(got - math.exp(math.log2(want)))) < 1e-3 * want:
                hint = " You mixed bases: use exp with natural logs (or 2 ** with log2)."
            elif got == used:
                hint = (f" You returned the number of codes used ({used}); the perplexity weights the codes by "
                        "how often they occur: exp(-sum p log p).")
            raise ExerciseFailed(f"for {what} the perplexity is {want:.4g}, you returned {got:.4g}.{hint}")
    return passed("perplexity", "1 for one code, K for a uniform histogram of the pooled tokens")
