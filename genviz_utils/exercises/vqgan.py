"""Checkers for chapter 5 (VQ-GAN): hinge losses, perceptual distance, adaptive weight, top-k sampling."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..features import FMNISTClassifier
from ..models.gan import d_hinge_loss, g_hinge_loss
from ..models.vq import top_k_filter
from ..models.vqgan import PERCEPTUAL_LAYERS, adaptive_weight, perceptual_distance, unit_normalize
from . import ExerciseFailed, Passed, call, expect_close, expect_number, expect_tensor, passed

_MEAN_HINT = "return a single number: the mean over all logits (.mean())."
_LAMBDA_HINT = "return a single number: lambda is the ratio of the two gradients' norms (.norm())."


def _scalar(value: object, name: str, hint: str = _MEAN_HINT) -> torch.Tensor:
    """The reader's one-number answer as a 0-d tensor, graph kept (a checker tests ``requires_grad`` on it)."""
    expect_number(value, name, hint)
    return value.reshape(()) if isinstance(value, torch.Tensor) else torch.tensor(float(value))


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-4) -> bool:
    return bool(torch.allclose(a.detach().float(), b.detach().float(), rtol=tol, atol=tol))


# ----------------------------------------------------------------------------------------------------------


def check_hinge_losses(d_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                       g_fn: Callable[[torch.Tensor], torch.Tensor]) -> Passed:
    """``d_fn(real_logits, fake_logits)`` and ``g_fn(fake_logits)``, logits of any shape (e.g. (B, 7, 7) patch
    maps), must return the hinge losses of discriminator and generator, averaged over all logits."""
    rng = torch.Generator().manual_seed(0)
    real = torch.randn(4, 7, 7, generator=rng) * 2 + 0.5     # some beyond the margin (> 1), some wrong (< 0)
    fake = torch.randn(4, 7, 7, generator=rng) * 2 - 0.5
    out = _scalar(call(d_fn, real, fake, name="d_hinge"), "d_hinge")
    ref = d_hinge_loss(real, fake)
    if _close(out, F.relu(1 + real).mean() + F.relu(1 - fake).mean()):
        raise ExerciseFailed("d_hinge: real and fake are swapped. D should give real images logits >= +1 "
                             "(penalty relu(1 - D(x))) and fakes logits <= -1 (penalty relu(1 + D(x_hat))).")
    if _close(out, (1 - real).mean() + (1 + fake).mean()):
        raise ExerciseFailed("d_hinge: the ReLU is missing. Without the hinge, logits that are already beyond the "
                             "margin keep being pushed, and the loss is unbounded below.")
    if _close(out, F.relu(-real).mean() + F.relu(fake).mean()):
        raise ExerciseFailed("d_hinge: the margin is missing: use relu(1 - D(x)) and relu(1 + D(x_hat)), not "
                             "relu(-D(x)) and relu(D(x_hat)).")
    if _close(out, F.softplus(-real).mean() + F.softplus(fake).mean()):
        raise ExerciseFailed("d_hinge: that is the logistic (binary cross-entropy) loss of chapter 4, "
                             "softplus(-D(x)) + softplus(D(x_hat)). The hinge loss replaces it by "
                             "relu(1 - D(x)) + relu(1 + D(x_hat)): zero once a logit is beyond the margin.")
    if _close(out, 0.5 * ref):
        raise ExerciseFailed("d_hinge: that is half of the loss asked for (the factor 1/2 of the taming-transformers "
                             "code). With Adam the factor makes no practical difference, but write the loss as in the "
                             "text: mean(relu(1 - real)) + mean(relu(1 + fake)).")
    if _close(out, F.relu(1 - real).sum() + F.relu(1 + fake).sum()) or _close(
            out, F.relu(1 - real).mean(0).sum() + F.relu(1 + fake).mean(0).sum()):
        raise ExerciseFailed("d_hinge: average over every logit (all images and all patches), do not sum.")
    expect_close(out, ref, "d_hinge", "Expected mean(relu(1 - real)) + mean(relu(1 + fake)).")
    out = _scalar(call(g_fn, fake, name="g_hinge"), "g_hinge")
    if _close(out, F.relu(1 - fake).mean()):
        raise ExerciseFailed("g_hinge: the generator's loss is not a hinge. With relu(1 - D(x_hat)) the generator "
                             "stops getting a gradient once D(x_hat) > 1; VQ-GAN (and SAGAN, BigGAN) use -D(x_hat).")
    if _close(out, F.softplus(-fake).mean()):
        raise ExerciseFailed("g_hinge: that is chapter 4's non-saturating logistic loss, softplus(-D(x_hat)). With "
                             "the hinge critic VQ-GAN's generator minimises the raw score, -mean(D(x_hat)).")
    if _close(out, fake.mean()):
        raise ExerciseFailed("g_hinge: sign error. The generator wants D(x_hat) large, so it minimises -D(x_hat).")
    if _close(out, -fake.sum()):
        raise ExerciseFailed("g_hinge: average over every logit (all images and all patches), do not sum.")
    expect_close(out, g_hinge_loss(fake), "g_hinge", "Expected -mean(fake_logits).")
    return passed("hinge losses")


# ----------------------------------------------------------------------------------------------------------


def _random_feature_net(seed: int = 0) -> FMNISTClassifier:
    """An untrained, frozen classifier: the checker needs the layer shapes, not good features (no download)."""
    torch.manual_seed(seed)
    net = FMNISTClassifier()
    with torch.no_grad():                      # non-trivial BatchNorm statistics, so eval mode matters
        net.train()
        for _ in range(3):
            net(torch.rand(32, 1, 28, 28))
    return net.eval().requires_grad_(False)


def check_perceptual_loss(fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
                          net: nn.Module | None = None) -> Passed:
    """``fn(net, x, x_hat)`` with images (B, 1, 28, 28) in [0, 1] must return one distance per image, (B,):
    the sum over layers conv1, conv2, conv3 of the squared difference of unit-normalised channel vectors, summed
    over channels and averaged over positions. ``net`` defaults to an untrained classifier of the same shape."""
    net = net if net is not None else _random_feature_net()
    rng = torch.Generator().manual_seed(1)
    x = torch.rand(5, 1, 28, 28, generator=rng)
    x_hat = (x + 0.3 * torch.randn(5, 1, 28, 28, generator=rng)).clamp(0, 1).requires_grad_(True)
    out = call(fn, net, x, x_hat, name="perceptual")
    if net.training:                           # before the values: batch statistics would give a misleading message
        net.eval()
        raise ExerciseFailed("perceptual switched the feature network to training mode (net.train()): its "
                             "BatchNorm layers then use the statistics of the batch instead of the stored ones, so "
                             "an image's distance depends on the other images in the batch, and the running "
                             "statistics drift. Leave the frozen network in eval mode.")
    if isinstance(out, torch.Tensor) and out.ndim == 0:
        raise ExerciseFailed("perceptual returned one number; return one distance per image, shape (B,) (the "
                             "training loop takes the mean).")
    out = expect_tensor(out, (5,), "perceptual")
    ref = perceptual_distance(net, x, x_hat.detach())
    fx, fy = net.features(x, list(PERCEPTUAL_LAYERS)), net.features(x_hat.detach(), list(PERCEPTUAL_LAYERS))
    raw = sum((a - b).pow(2).sum(1).mean((1, 2)) for a, b in zip(fx, fy, strict=True))
    if _close(out, raw, 1e-3):
        raise ExerciseFailed("perceptual: unit-normalise the channel vector at every position before comparing "
                             "(a / ||a|| along dim=1), as LPIPS does; raw activations let large channels dominate.")
    summed = sum((unit_normalize(a) - unit_normalize(b)).pow(2).sum((1, 2, 3)) for a, b in zip(fx, fy, strict=True))
    if _close(out, summed, 1e-3):
        raise ExerciseFailed("perceptual: average over the spatial positions (mean over H and W) instead of summing, "
                             "so that layers of different resolution count alike.")
    spatial = sum((a / (a.norm(dim=(2, 3), keepdim=True) + 1e-10) - b / (b.norm(dim=(2, 3), keepdim=True) + 1e-10))
                  .pow(2).sum(1).mean((1, 2)) for a, b in zip(fx, fy, strict=True))
    whole = sum((a / (a.flatten(1).norm(dim=1)[:, None, None, None] + 1e-10)
                 - b / (b.flatten(1).norm(dim=1)[:, None, None, None] + 1e-10)).pow(2).sum(1).mean((1, 2))
                for a, b in zip(fx, fy, strict=True))
    if _close(out, spatial, 1e-3) or _close(out, whole, 1e-3):
        raise ExerciseFailed("perceptual: normalise along the channels only (dim=1, keepdim=True): every "
                             "position's channel vector gets unit length, not each feature map or the whole tensor.")
    not_squared = sum((unit_normalize(a) - unit_normalize(b)).norm(dim=1).mean((1, 2))
                      for a, b in zip(fx, fy, strict=True))
    if _close(out, not_squared, 1e-3):
        raise ExerciseFailed("perceptual: that is the Euclidean distance at every position; LPIPS takes its "
                             "square (sum of squared differences over the channels), without the square root.")
    channel_mean = sum((unit_normalize(a) - unit_normalize(b)).pow(2).mean(1).mean((1, 2))
                       for a, b in zip(fx, fy, strict=True))
    if _close(out, channel_mean, 1e-3):
        raise ExerciseFailed("perceptual: sum the squared differences over the channels (dim=1) instead of "
                             "averaging them: the mean divides each layer by its channel count (32, 64, 64).")
    per_layer = [(unit_normalize(a) - unit_normalize(b)).pow(2).sum(1).mean((1, 2))
                 for a, b in zip(fx, fy, strict=True)]
    for i, name in enumerate(PERCEPTUAL_LAYERS):
        if _close(out, ref - per_layer[i], 1e-3) or _close(out, per_layer[i], 1e-3):
            raise ExerciseFailed(f"perceptual: use all three layers {PERCEPTUAL_LAYERS} and add their distances; "
                                 f"layer {name!r} is missing or alone.")
    expect_close(out, ref, "perceptual", "Check the normalisation (dim=1, the channels), the square, the sum over "
                 "channels and the mean over positions.", rtol=1e-3, atol=1e-5)
    if not out.requires_grad:
        raise ExerciseFailed("perceptual: no gradient reaches x_hat. Do not use torch.no_grad() or .detach() on the "
                             "features: the decoder learns through this loss.")
    (grad,) = torch.autograd.grad(out.sum(), x_hat)
    (ref_grad,) = torch.autograd.grad(perceptual_distance(net, x, x_hat).sum(), x_hat)
    expect_close(grad, ref_grad, "the gradient of perceptual", "The value is right but the gradient is not: is a "
                 "part of the computation detached?", rtol=1e-3, atol=1e-5)
    same = call(fn, net, x, x.clone(), name="perceptual")
    if not torch.allclose(same.detach(), torch.zeros(5), atol=1e-6):
        raise ExerciseFailed("perceptual(net, x, x) should be 0 for identical images.")
    return passed("perceptual loss")


# ----------------------------------------------------------------------------------------------------------


def _tiny_graph(seed: int, gan_scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A last layer W (2, 3) between fixed features h (8, 3) and outputs y = h W^T (8, 2); two losses of W."""
    rng = torch.Generator().manual_seed(seed)
    h, target = torch.randn(8, 3, generator=rng), torch.randn(8, 2, generator=rng)
    w = torch.randn(2, 3, generator=rng).requires_grad_(True)
    a = torch.randn(2, generator=rng)
    y = h @ w.t()
    rec = (y - target).pow(2).mean()
    gan = -gan_scale * (y @ a).mean()              # a linear "critic" D(y) = a . y, hinge generator loss -D
    return rec, gan, w


_DELTA_SEED = 2


def _delta_graph() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The tiny graph with the GAN loss scaled so that ||grad_W gan|| = 1e-4: there delta changes lambda by 2x."""
    rec, gan, w = _tiny_graph(_DELTA_SEED)
    norm = float(torch.autograd.grad(gan, w)[0].norm())
    return _tiny_graph(_DELTA_SEED, gan_scale=1e-4 / norm)


class _ForceCreateGraph(TorchFunctionMode):
    """Every torch.autograd.grad call inside takes create_graph=True, however the reader imported it."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        kwargs = dict(kwargs or {})
        if func is torch.autograd.grad:
            kwargs["create_graph"] = True
        return func(*args, **kwargs)


def check_adaptive_weight(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> Passed:
    """``fn(rec_loss, gan_loss, last_layer)`` must return lambda = ||grad_W rec|| / (||grad_W gan|| + 1e-4), clamped
    to [0, 1e4], as a detached 0-d tensor, leaving the graph intact and ``last_layer.grad`` untouched.

    Detachment is tested by calling ``fn`` once more with ``create_graph=True`` forced on every
    ``torch.autograd.grad`` inside it: without ``create_graph`` a gradient carries no graph anyway, so a missing
    ``.detach()`` only shows when the gradients do (as in a step that also takes a gradient penalty).
    """
    rec, gan, w = _tiny_graph(0)
    out = _scalar(call(fn, rec, gan, w, name="adaptive_weight"), "adaptive_weight", _LAMBDA_HINT)
    if w.grad is not None:
        raise ExerciseFailed("adaptive_weight left gradients in last_layer.grad: use torch.autograd.grad(loss, "
                             "last_layer, retain_graph=True) rather than loss.backward().")
    ref = adaptive_weight(*_tiny_graph(0))
    r2, g2, w2 = _tiny_graph(0)
    g_rec, g_gan = (torch.autograd.grad(loss, w2, retain_graph=True)[0] for loss in (r2, g2))
    if _close(out, g_gan.norm() / (g_rec.norm() + 1e-4)):
        raise ExerciseFailed("adaptive_weight is upside down: the reconstruction gradient goes in the numerator, "
                             "so that lambda * L_GAN gets a gradient as large as L_rec's.")
    if _close(out, g_rec.abs().sum() / (g_gan.abs().sum() + 1e-4)):
        raise ExerciseFailed("adaptive_weight: use the Euclidean (L2) norm of the gradients (.norm()), not the sum "
                             "of absolute values.")
    if _close(out, g_rec.norm() ** 2 / (g_gan.norm() ** 2 + 1e-4)):
        raise ExerciseFailed("adaptive_weight: that is the ratio of the squared norms; lambda is the ratio of the "
                             "norms themselves, so that ||grad(lambda * L_GAN)|| = ||grad L_rec||.")
    if _close(out, (r2 / g2).abs()) or _close(out, r2 / (g2.abs() + 1e-4)):
        raise ExerciseFailed("adaptive_weight: lambda is a ratio of gradient norms at the last layer, not of the "
                             "loss values.")
    if out.requires_grad:
        raise ExerciseFailed("adaptive_weight returned a lambda that is part of the graph (requires_grad=True): "
                             "the gradients were taken with create_graph=True (not needed: retain_graph=True keeps "
                             "the graph for the update) and lambda was not detached. Take the gradients without "
                             "create_graph and end with .detach().")
    try:
        (rec + out * gan).backward()
    except RuntimeError as exc:
        raise ExerciseFailed("after adaptive_weight the training step could not backpropagate "
                             f"({str(exc).splitlines()[0][:80]}...): pass retain_graph=True to torch.autograd.grad."
                             ) from None
    main_out = out

    rec, gan, w = _delta_graph()                   # ||grad gan|| = delta: here the value of delta shows
    out = _scalar(call(fn, rec, gan, w, name="adaptive_weight"), "adaptive_weight", _LAMBDA_HINT)
    r2, g2, w2 = _delta_graph()
    g_rec, g_gan = (torch.autograd.grad(loss, w2, retain_graph=True)[0] for loss in (r2, g2))
    if _close(out, g_rec.norm() / (g_gan.norm() + 1e-6)):
        raise ExerciseFailed("adaptive_weight: delta = 1e-6 is the value printed in the VQ-GAN paper; this course, "
                             "like the taming-transformers code, uses delta = 1e-4. With a GAN gradient of norm 1e-4 "
                             "the two differ by a factor of 2.")
    if _close(out, g_rec.norm() / g_gan.norm()):
        raise ExerciseFailed("adaptive_weight: add delta = 1e-4 to the denominator (it keeps lambda finite when the "
                             "GAN gradient vanishes).")
    expect_close(out, adaptive_weight(*_delta_graph()), "adaptive_weight (GAN gradient of norm 1e-4)",
                 "Add delta = 1e-4 to the norm of the GAN gradient, not to the ratio or to the numerator.")
    expect_close(main_out, ref, "adaptive_weight", "lambda = ||grad rec|| / (||grad gan|| + 1e-4), both gradients "
                 "with respect to last_layer.", rtol=1e-4, atol=1e-6)

    rec, gan, w = _tiny_graph(1, gan_scale=0.0)    # the critic gives no signal: without delta, 0/0 or x/0
    out = _scalar(call(fn, rec, gan, w, name="adaptive_weight"), "adaptive_weight", _LAMBDA_HINT)
    if not torch.isfinite(out):
        raise ExerciseFailed("adaptive_weight is not finite when the GAN gradient is 0: add delta = 1e-4 to the "
                             "denominator.")
    if out > 1e4 + 1e-3:
        raise ExerciseFailed(f"adaptive_weight returned {float(out):.4g} when the GAN gradient is 0: clamp lambda to "
                             "at most 1e4.")
    expect_close(out, adaptive_weight(*_tiny_graph(1, gan_scale=0.0)), "adaptive_weight (GAN gradient 0)",
                 "Clamp to [0, 1e4] after adding delta = 1e-4.")

    rec, gan, w = _tiny_graph(3)                   # the same call inside a step whose gradients carry a graph
    with _ForceCreateGraph():
        out = call(fn, rec, gan, w, name="adaptive_weight")
    if isinstance(out, torch.Tensor) and out.requires_grad:
        raise ExerciseFailed("adaptive_weight does not detach lambda. Your gradients carry no graph only because "
                             "torch.autograd.grad ran without create_graph=True; in a step that needs one (a gradient "
                             "penalty, say) lambda would join the graph and the update would also push lambda "
                             "itself down. End with .detach(), as the taming-transformers code does.")
    return passed("adaptive weight")


# ----------------------------------------------------------------------------------------------------------


def check_top_k(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> Passed:
    """``fn(logits, k)`` with logits (B, K) must return new logits where all but the k largest of each row are
    -inf (the kept ones unchanged), without modifying its input; k >= K changes nothing."""
    rng = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 12, generator=rng) * 3
    logits[3] += 20                                  # one row far above the others: thresholds are per row
    original = logits.clone()
    for k in (1, 3, 12, 20):
        try:
            out = call(fn, logits, k, name="top_k")
        except ExerciseFailed as exc:
            if k > logits.shape[-1]:
                raise ExerciseFailed(f"top_k failed for k = {k} > K = {logits.shape[-1]} ({exc}): for k >= K "
                                     "return the logits unchanged (topk cannot pick more than K values).") from None
            raise
        out = expect_tensor(out, tuple(logits.shape), "top_k")
        if not torch.equal(logits, original):
            raise ExerciseFailed("top_k modified its input in place; work on a copy (e.g. logits.masked_fill(...) or "
                                 "logits.clone()).")
        ref = top_k_filter(logits, k)
        if torch.allclose(out.sum(-1), torch.ones(6), atol=1e-4) and (out >= 0).all():
            raise ExerciseFailed("top_k returned probabilities; return logits (the sampler applies the softmax).")
        if k < 12 and (out == 0).sum() >= 6 * (12 - k) and torch.isfinite(out).all():
            raise ExerciseFailed("top_k set the dropped logits to 0, but exp(0) = 1 still gets probability after the "
                                 "softmax: set them to -inf.")
        if torch.isnan(out).any():
            raise ExerciseFailed("top_k returned NaN logits; set the dropped logits to float('-inf'), and keep the "
                                 "others unchanged (a softmax over NaN gives NaN probabilities).")
        if (out == float("inf")).any():
            raise ExerciseFailed("top_k set the dropped logits to +inf, a sign slip: the softmax then puts all the "
                                 "probability on them (or gives NaN). Use float('-inf').")
        changed = out != logits                      # one finite value in place of every dropped logit
        if (k < 12 and torch.isfinite(out).all() and changed.sum() >= 6 * (12 - k)
                and out[changed].unique().numel() == 1):
            raise ExerciseFailed(f"top_k set the dropped logits to a large finite number "
                                 f"({float(out[changed][0]):.3g}), "
                                 "not -inf: exp(-inf) is exactly 0, while a finite value only works while it stays far "
                                 "below the kept logits. Use float('-inf').")
        kept = torch.isfinite(out).sum(-1)
        if not torch.equal(kept, torch.isfinite(ref).sum(-1)):
            raise ExerciseFailed(f"with k = {k} you kept {kept.tolist()} logits per row, expected "
                                 f"{min(k, 12)} in every row. Is the threshold computed per row (dim=-1), and is it "
                                 "the k-th largest value, kept with >=?")
        if not torch.equal(torch.isfinite(out), torch.isfinite(ref)):
            raise ExerciseFailed(f"with k = {k} you kept the wrong logits: keep the k LARGEST of every row.")
        if not torch.equal(out[torch.isfinite(out)], logits[torch.isfinite(out)]):
            raise ExerciseFailed("the kept logits must be unchanged (do not rescale or renormalise them).")
        if not bool((out[~torch.isfinite(ref)] == float("-inf")).all()):
            raise ExerciseFailed("every dropped logit must be exactly float('-inf').")
    return passed("top-k filter")
