"""Checkers for chapter 6 (diffusion and latent diffusion): the closed-form forward process, the eps-prediction
loss, one DDIM step, classifier-free guidance."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..models.diffusion import Schedule, ddim_step, guided_eps, q_sample
from . import ExerciseFailed, Passed, call, expect_close, expect_number, expect_tensor, passed


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-4) -> bool:
    return bool(torch.allclose(a.detach().double(), b.detach().double(), rtol=tol, atol=tol))


def _toy_model(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A fixed eps_theta(x_t, t, y) (B, D) -> (B, D) that depends on all three inputs (y = 10: "no class")."""
    return 0.5 * torch.tanh(x) + 0.001 * t[:, None].to(x.dtype) + 0.1 * y[:, None].to(x.dtype) - 0.3


# ----------------------------------------------------------------------------------------------------------


def check_q_sample(fn: Callable[[torch.Tensor, torch.Tensor, Schedule, torch.Tensor], torch.Tensor]) -> Passed:
    """``fn(x0, t, sched, noise)`` with x0 (B, D), integer steps t (B,), a :class:`Schedule` and noise (B, D)
    must return one draw of x_t ~ q(x_t | x_0) (B, D), built from ``noise``."""
    sched = Schedule(100, "linear")
    rng = torch.Generator().manual_seed(0)
    x0 = torch.randn(6, 5, generator=rng, dtype=torch.float64) + 1.0
    noise = torch.randn(6, 5, generator=rng, dtype=torch.float64)
    t = torch.tensor([0, 3, 20, 50, 80, 99])
    out = expect_tensor(call(fn, x0, t, sched, noise, name="q_sample"), (6, 5), "q_sample")

    def with_(a: torch.Tensor, root: bool = True) -> torch.Tensor:
        a = a[t].view(-1, 1)
        return (a.sqrt() * x0 + (1 - a).sqrt() * noise) if root else a * x0 + (1 - a) * noise

    if _close(out, with_(sched.alphas)):
        raise ExerciseFailed("you used alpha_t, the one-step factor; the closed form uses alpha_bar_t, the product "
                             "of alpha_s over all steps s <= t (sched.alpha_bar).")
    if _close(out, with_(sched.alpha_bar, root=False)):
        raise ExerciseFailed("alpha_bar_t and 1 - alpha_bar_t are the VARIANCES of the two parts: scale x_0 by "
                             "sqrt(alpha_bar_t) and the noise by sqrt(1 - alpha_bar_t).")
    a = sched.alpha_bar[t].view(-1, 1)
    if _close(out, (1 - a).sqrt() * x0 + a.sqrt() * noise):
        raise ExerciseFailed("the two factors are swapped: x_0 keeps sqrt(alpha_bar_t), which is near 1 at t = 0; "
                             "the noise gets sqrt(1 - alpha_bar_t).")
    if _close(out, with_(torch.cat([torch.ones(1, dtype=torch.float64), sched.alpha_bar[:-1]]))):
        raise ExerciseFailed("off by one step: you used alpha_bar_{t-1}. Index t of sched.alpha_bar is step t "
                             "(it already includes beta_t).")
    if _close(out, a.sqrt() * x0 + sched.betas[t].view(-1, 1).sqrt() * noise):
        raise ExerciseFailed("the noise's variance is 1 - alpha_bar_t, everything added over the steps up to t, "
                             "not beta_t, the last step's alone.")
    expect_close(out, with_(sched.alpha_bar), "q_sample",
                 "x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise, with alpha_bar_t = sched.alpha_bar[t] "
                 "shaped (B, 1) to broadcast over D.")
    return passed("q_sample")


def check_eps_loss(fn: Callable[..., torch.Tensor]) -> Passed:
    """``fn(model, x0, y, t, noise, sched)`` must return the mean of ||noise - model(x_t, t, y)||^2 over the batch
    and the dimensions (0-d), with x_t = q(x_t | x_0) built from ``noise``."""
    sched = Schedule(100, "cosine")
    rng = torch.Generator().manual_seed(1)
    x0 = torch.randn(8, 3, generator=rng, dtype=torch.float64)
    noise = torch.randn(8, 3, generator=rng, dtype=torch.float64)
    t = torch.randint(0, 100, (8,), generator=rng)
    y = torch.tensor([0, 1, 2, 3, 4, 5, 6, 10])
    out = call(fn, _toy_model, x0, y, t, noise, sched, name="eps_loss")
    if isinstance(out, torch.Tensor) and out.numel() == 8:
        raise ExerciseFailed("you returned one loss per example; return the mean over the batch (a 0-d tensor).")
    value = torch.tensor(expect_number(out, "eps_loss", "return one number: the mean squared error (.mean())."),
                         dtype=torch.float64)
    xt = q_sample(x0, t, sched, noise)
    ref = F.mse_loss(_toy_model(xt, t, y), noise)
    if _close(value, F.mse_loss(_toy_model(xt, t, y), x0)):
        raise ExerciseFailed("the target is the NOISE that made x_t, not x_0: eps-prediction regresses "
                             "model(x_t, t, y) on noise.")
    if _close(value, F.mse_loss(_toy_model(x0, t, y), noise)):
        raise ExerciseFailed("the model must see the noisy x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) "
                             "noise, not the clean x_0.")
    if _close(value, (_toy_model(xt, t, y) - noise).pow(2).sum(1).mean()):
        raise ExerciseFailed("you summed over the dimensions; take the mean over them too (F.mse_loss), so the "
                             "loss does not grow with the size of x.")
    if _close(value, (_toy_model(xt, t, y) - noise).abs().mean()):
        raise ExerciseFailed("that is the mean ABSOLUTE error; the simplified objective is the squared error.")
    if _close(value, F.mse_loss(_toy_model(xt, t, torch.full_like(y, 10)), noise)):
        raise ExerciseFailed("the model must get the labels y (the class-conditional denoiser); you passed the "
                             "'no class' label for all.")
    expect_close(value, ref, "eps_loss", "F.mse_loss(model(q_sample(x0, t, sched, noise), t, y), noise).")
    return passed("eps_loss")


def check_ddim_step(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
                    ) -> Passed:
    """``fn(x_t, eps, a_bar, a_bar_prev)`` (x_t and eps (B, D); the alpha_bar's 0-d or (B, 1)) must return the
    deterministic DDIM update x_prev (B, D), eta = 0, no clipping."""
    rng = torch.Generator().manual_seed(2)
    xt = torch.randn(5, 4, generator=rng, dtype=torch.float64)
    eps = torch.randn(5, 4, generator=rng, dtype=torch.float64)
    a, a_prev = torch.tensor(0.3, dtype=torch.float64), torch.tensor(0.6, dtype=torch.float64)
    out = expect_tensor(call(fn, xt, eps, a, a_prev, name="ddim_step"), (5, 4), "ddim_step")
    x0_hat = (xt - (1 - a).sqrt() * eps) / a.sqrt()
    if _close(out, x0_hat):
        raise ExerciseFailed("you returned the predicted x_0; DDIM then re-noises it to the level of the previous "
                             "step: sqrt(a_prev) x0_hat + sqrt(1 - a_prev) eps.")
    if _close(out, a_prev.sqrt() * x0_hat):
        raise ExerciseFailed("the noise term is missing: x_prev = sqrt(a_prev) x0_hat + sqrt(1 - a_prev) eps keeps "
                             "the predicted noise at the previous step's level.")
    if _close(out, a_prev * x0_hat + (1 - a_prev) * eps):
        raise ExerciseFailed("a_prev and 1 - a_prev are variances: scale by their square roots.")
    if not _close(call(fn, xt, eps, a, a_prev, name="ddim_step"), out):
        raise ExerciseFailed("DDIM with eta = 0 is deterministic: reuse the predicted eps, draw no new noise.")
    if _close(out, a.sqrt() * ((xt - (1 - a_prev).sqrt() * eps) / a_prev.sqrt()) + (1 - a).sqrt() * eps):
        raise ExerciseFailed("a_bar and a_bar_prev are swapped: x0_hat divides by sqrt(a_bar) of the CURRENT step.")
    expect_close(out, ddim_step(xt, eps, a, a_prev), "ddim_step",
                 "x0_hat = (x_t - sqrt(1 - a) eps) / sqrt(a); x_prev = sqrt(a_prev) x0_hat + sqrt(1 - a_prev) eps.")
    return passed("ddim_step")


def check_guidance(fn: Callable[..., torch.Tensor]) -> Passed:
    """``fn(model, x, t, y, w, null)`` must return the classifier-free guided eps_u + w (eps_c - eps_u) (B, D),
    eps_c = model(x, t, y) and eps_u = model(x, t, null labels)."""
    rng = torch.Generator().manual_seed(3)
    x = torch.randn(6, 3, generator=rng, dtype=torch.float64)
    t = torch.tensor([5, 50, 100, 200, 500, 900])
    y = torch.tensor([0, 1, 2, 7, 8, 9])
    null = 10
    eps_c, eps_u = _toy_model(x, t, y), _toy_model(x, t, torch.full_like(y, null))
    for w in (3.0, 0.0, 1.0):
        out = expect_tensor(call(fn, _toy_model, x, t, y, w, null, name="guidance"), (6, 3), "guidance")
        if w != 1.0 and _close(out, eps_c):
            raise ExerciseFailed(f"at w = {w:g} you returned the conditional eps_c: did the unconditional call get "
                                 "the 'no class' label null for every example?")
        if w == 3.0 and _close(out, eps_c + w * (eps_c - eps_u)):
            raise ExerciseFailed("you extrapolated from eps_c: eps_c + w (eps_c - eps_u) is guidance w + 1. Start "
                                 "from the unconditional: eps_u + w (eps_c - eps_u).")
        if w == 3.0 and _close(out, eps_u + w * (eps_u - eps_c)):
            raise ExerciseFailed("sign error: guidance moves TOWARDS the class, eps_u + w (eps_c - eps_u).")
        if w == 3.0 and _close(out, w * eps_c):
            raise ExerciseFailed("w * eps_c only rescales the prediction; guidance mixes the two predictions: "
                                 "eps_u + w (eps_c - eps_u).")
        if w == 3.0 and _close(out, (1 - w) * eps_c + w * eps_u):
            raise ExerciseFailed("the two weights are swapped: w multiplies eps_c and 1 - w eps_u, so that w = 1 "
                                 "is the conditional model and w = 0 the unconditional one.")
        expect_close(out, guided_eps(_toy_model, x, t, y, w, null), "guidance",
                     f"at w = {w:g}: eps_u + w (eps_c - eps_u), with eps_u = model(x, t, full_like(y, null)).")
    return passed("guidance", "w = 0, 1 and 3")
