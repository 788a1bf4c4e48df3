"""Checkers for chapter 2 (variational autoencoders)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from . import ExerciseFailed, Passed, call, expect_close, expect_tensor, passed


def check_gaussian_kl(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Passed:
    """``fn(mu, logvar)`` with (B, D) inputs must return KL(N(mu, e^logvar) || N(0, I)) per example, (B,)."""
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    ref = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
    out = call(fn, mu, logvar, name="gaussian_kl")
    if isinstance(out, torch.Tensor) and out.shape == (3,):
        raise ExerciseFailed("you summed over the batch axis; sum over the latent dimensions (dim=1) instead.")
    out = expect_tensor(out, (5,), "gaussian_kl")
    if torch.allclose(out, 2 * ref, atol=1e-4):
        raise ExerciseFailed("your KL is twice too large: the closed form has a factor 1/2.")
    sigma = torch.exp(0.5 * logvar)
    if torch.allclose(out, 0.5 * (mu**2 + sigma - 1 - 0.5 * logvar).sum(1), atol=1e-4):
        raise ExerciseFailed("you used sigma where the formula has the variance sigma^2 = logvar.exp().")
    if torch.allclose(out, ref / 3, atol=1e-4):
        raise ExerciseFailed("you averaged over the latent dimensions; the KL of a diagonal Gaussian is their sum.")
    if torch.allclose(out, -ref, atol=1e-4):
        raise ExerciseFailed("your KL has the wrong sign: a KL divergence is never negative.")
    zero = call(fn, torch.zeros(2, 4), torch.zeros(2, 4), name="gaussian_kl")
    if not torch.allclose(expect_tensor(zero, (2,), "gaussian_kl"), torch.zeros(2), atol=1e-6):
        raise ExerciseFailed("KL(N(0, I) || N(0, I)) must be 0: check the -1 and -logvar terms.")
    expect_close(out, ref, "gaussian_kl", "Use 0.5 * sum(mu^2 + sigma^2 - 1 - log sigma^2).")
    return passed("gaussian_kl")


def check_reparameterize(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> Passed:
    """``fn(mu, logvar, eps)`` must return z = mu + sigma * eps with sigma = exp(logvar / 2), differentiable in
    both inputs: dz/dmu = 1 and dz/dlogvar = sigma * eps / 2 (a detached sigma would freeze the encoder's
    variances, so the gradient w.r.t. logvar is checked, not only the values)."""
    g = torch.Generator().manual_seed(1)
    mu, logvar, eps = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    mu.requires_grad_(True)
    logvar.requires_grad_(True)
    z = expect_tensor(call(fn, mu, logvar, eps, name="reparameterize"), (4, 3), "reparameterize")
    with torch.no_grad():
        sigma = torch.exp(0.5 * logvar)
        if torch.allclose(z, mu + sigma**2 * eps, atol=1e-5):
            raise ExerciseFailed("you scaled eps by sigma^2 (the variance). Scale by sigma, the standard deviation: "
                                 "then z has variance sigma^2.")
        if torch.allclose(z, mu + logvar * eps, atol=1e-5):
            raise ExerciseFailed("you scaled eps by logvar; sigma is exp(logvar / 2).")
        z0 = expect_tensor(call(fn, mu, logvar, torch.zeros_like(eps), name="reparameterize"), (4, 3),
                           "reparameterize")
        if not torch.allclose(z0, mu, atol=1e-5):
            raise ExerciseFailed("with eps = 0 your z is not mu: it ignores the eps argument (did you draw your own "
                                 "noise with randn_like?). The noise must come in as eps: z = mu + sigma * eps.")
    expect_close(z, mu + sigma * eps, "reparameterize", "z = mu + exp(0.5 * logvar) * eps.")
    if not z.requires_grad:
        raise ExerciseFailed("z does not depend on mu and logvar through autograd: do not detach or sample inside.")
    grad_mu, grad_logvar = torch.autograd.grad(z.sum(), (mu, logvar), allow_unused=True)
    if grad_mu is None or not torch.allclose(grad_mu, torch.ones_like(mu)):
        raise ExerciseFailed("dz/dmu should be 1, but no gradient reaches mu: do not detach mu.")
    if grad_logvar is None or not bool((grad_logvar != 0).any()):
        raise ExerciseFailed("no gradient reaches logvar: sigma is detached (or computed outside autograd), so the "
                             "encoder could never learn its variances. Keep exp(0.5 * logvar) in the graph.")
    expect_close(grad_logvar, 0.5 * sigma * eps, "dz/dlogvar",
                 "It should be sigma * eps / 2: compute sigma as exp(0.5 * logvar) from the logvar you are given.")
    return passed("reparameterize")


def check_iwae(fn: Callable[[torch.Tensor], torch.Tensor]) -> Passed:
    """``fn(log_w)`` with log-weights (K, B) must return the IWAE bound log (1/K) sum_k w_k, shape (B,)."""
    g = torch.Generator().manual_seed(2)
    log_w = 50 * torch.randn(8, 3, generator=g) - 300   # large magnitudes: exp() would underflow
    ref = torch.logsumexp(log_w, 0) - math.log(8)
    out = call(fn, log_w, name="iwae")
    if isinstance(out, torch.Tensor) and out.shape == (8,):
        raise ExerciseFailed("you reduced over the batch axis; the K samples are along dim 0.")
    out = expect_tensor(out, (3,), "iwae")
    if not torch.isfinite(out).all():
        raise ExerciseFailed("you got -inf/nan: exp() of log-weights near -300 underflows. Use torch.logsumexp.")
    if torch.allclose(out, log_w.mean(0), atol=1e-3):
        raise ExerciseFailed("that is the mean of the log-weights, i.e. the ELBO. IWAE takes the log of the mean "
                             "of the weights.")
    if torch.allclose(out, ref + math.log(8), atol=1e-3):
        raise ExerciseFailed("you forgot to divide by K: subtract log K from the logsumexp.")
    # log-weights within 3 nats of each other: no single weight dominates, so the largest log-weight alone
    # (max - log K) misses logsumexp - log K by about a nat here, while with the spread above it is nearly right
    close_w = -300 - 3 * torch.rand(8, 3, generator=g)
    close_ref = torch.logsumexp(close_w, 0) - math.log(8)
    close_out = expect_tensor(call(fn, close_w, name="iwae"), (3,), "iwae")
    top = close_w.max(0).values
    if torch.allclose(close_out, top - math.log(8), atol=0.05) or torch.allclose(close_out, top, atol=0.05):
        raise ExerciseFailed("you kept only the largest log-weight (max in place of logsumexp): that is right only "
                             "when one weight dominates the sum. Use torch.logsumexp(log_w, 0) - log K.")
    expect_close(out, ref, "iwae", "log (1/K) sum exp(log_w) = logsumexp(log_w, 0) - log K.", atol=1e-3)
    expect_close(close_out, close_ref, "iwae", "log (1/K) sum exp(log_w) = logsumexp(log_w, 0) - log K.", atol=1e-3)
    return passed("iwae")
