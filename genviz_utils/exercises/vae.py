"""Checkers for chapter 2 (variational autoencoders)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from . import ExerciseFailed, Passed, call, expect_close, expect_number, expect_tensor, passed


def check_gaussian_kl(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Passed:
    """``fn(mu, logvar)`` with (B, D) inputs must return KL(N(mu, e^logvar) || N(0, I)) per example, (B,)."""
    rng = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 3, generator=rng), torch.randn(5, 3, generator=rng)
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
    rng = torch.Generator().manual_seed(1)
    mu, logvar, eps = (torch.randn(4, 3, generator=rng) for _ in range(3))   # drawn in this order
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
    rng = torch.Generator().manual_seed(2)
    log_w = 50 * torch.randn(8, 3, generator=rng) - 300   # large magnitudes: exp() would underflow
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
    close_w = -300 - 3 * torch.rand(8, 3, generator=rng)
    close_ref = torch.logsumexp(close_w, 0) - math.log(8)
    close_out = expect_tensor(call(fn, close_w, name="iwae"), (3,), "iwae")
    top = close_w.max(0).values
    if torch.allclose(close_out, top - math.log(8), atol=0.05) or torch.allclose(close_out, top, atol=0.05):
        raise ExerciseFailed("you kept only the largest log-weight (max in place of logsumexp): that is right only "
                             "when one weight dominates the sum. Use torch.logsumexp(log_w, 0) - log K.")
    expect_close(out, ref, "iwae", "log (1/K) sum exp(log_w) = logsumexp(log_w, 0) - log K.", atol=1e-3)
    expect_close(close_out, close_ref, "iwae", "log (1/K) sum exp(log_w) = logsumexp(log_w, 0) - log K.", atol=1e-3)
    return passed("iwae")


def _log_normal_pdf(v: torch.Tensor, mean: torch.Tensor | float, std: float) -> torch.Tensor:
    return -0.5 * math.log(2 * math.pi) - math.log(std) - 0.5 * ((v - mean) / std) ** 2


def _as_scalar(value: object, name: str) -> float:
    return expect_number(value, name, "log p(x) is one number (reduce over the grid, e.g. with "
                                      "torch.logsumexp(..., dim=0)).")


def check_grid_log_evidence(fn: Callable[[float, float, torch.Tensor], torch.Tensor]) -> Passed:
    """``fn(x, s, z)`` must return log p(x) for z ~ N(0, 1), x | z ~ N(z^2, s^2), by quadrature on the equally
    spaced grid ``z`` (N,) float64: log p(x) = logsumexp_i [log p(z_i) + log p(x | z_i)] + log dz."""
    z = torch.linspace(-5.0, 5.0, 2001, dtype=torch.float64)
    dz = (z[1] - z[0]).item()

    def parts(x: float, s: float) -> tuple[torch.Tensor, torch.Tensor]:
        return _log_normal_pdf(z, 0.0, 1.0), _log_normal_pdf(torch.full_like(z, x), z**2, s)

    x, s = 1.0, 0.2
    log_prior, log_lik = parts(x, s)
    log_joint = log_prior + log_lik
    lse = torch.logsumexp(log_joint, 0).item()
    ref = lse + math.log(dz)
    out = _as_scalar(call(fn, x, s, z.clone(), name="grid_log_evidence"), "grid_log_evidence")
    if not math.isfinite(out):
        raise ExerciseFailed(f"your log p(x) for x = {x}, s = {s} is {out}; it must be a finite number.")
    # an x the model finds very unlikely: every log p(x|z_i) is at most -1247, far below float64's exp limit (≈ -745)
    x_far, s_far = -1.0, 0.02
    far_prior, far_lik = parts(x_far, s_far)
    ref_far = torch.logsumexp(far_prior + far_lik, 0).item() + math.log(dz)
    out_far = _as_scalar(call(fn, x_far, s_far, z.clone(), name="grid_log_evidence"), "grid_log_evidence")
    if not math.isfinite(out_far):
        raise ExerciseFailed(f"for x = {x_far}, s = {s_far} you got {out_far}: exp() of log-densities at most -1247 "
                             "underflows to 0 and log(0) = -inf. Sum in log space with torch.logsumexp.")

    def near(value: float) -> bool:
        return abs(out - value) < 1e-6 * max(1.0, abs(value))

    wrong_var = torch.logsumexp(log_prior - 0.5 * math.log(2 * math.pi * s) - (x - z**2) ** 2 / (2 * s), 0).item()
    wrong_linear = torch.logsumexp(log_prior + _log_normal_pdf(torch.full_like(z, x), z, s), 0).item()
    if near(lse):
        raise ExerciseFailed("you forgot the grid spacing: the integral is the sum times dz = z[1] - z[0], so add "
                             "log dz to the logsumexp (without it the answer changes with the grid).")
    if near(torch.logsumexp(log_lik, 0).item() + math.log(dz)):
        raise ExerciseFailed("you left out the prior term log p(z_i): p(x) = integral of p(z) p(x|z) dz, so the "
                             "summand is log p(z_i) + log p(x|z_i).")
    if near(lse - math.log(len(z))):
        raise ExerciseFailed("you averaged over the grid points (subtracted log N): the integral needs the grid "
                             "spacing dz, not 1/N (they agree only when N * dz = 1).")
    if near(log_joint.max().item()) or near(log_joint.max().item() + math.log(dz)):
        raise ExerciseFailed("you returned the largest term of the sum (max in place of logsumexp): that ignores "
                             "every other grid point, here the second mode of the posterior.")
    if near(log_joint.max().item() - ref):
        raise ExerciseFailed("you returned the peak of the normalised posterior, log p(z*|x); log p(x) is the "
                             "normaliser itself, logsumexp(log p(z_i) + log p(x|z_i)) + log dz.")
    if near(wrong_var + math.log(dz)) or near(wrong_var):
        raise ExerciseFailed("you used s as the variance of x given z; s is the standard deviation, the variance "
                             "is s**2.")
    if near(wrong_linear + math.log(dz)) or near(wrong_linear):
        raise ExerciseFailed("your likelihood has mean z; in this model x given z has mean z**2.")
    if abs(out - ref) > 1e-6 * max(1.0, abs(ref)):
        raise ExerciseFailed(f"your log p(x) is {out:.6f}, the reference {ref:.6f}. Compute "
                             "logsumexp(log N(z_i; 0, 1) + log N(x; z_i**2, s**2)) + log dz.")
    if abs(out_far - ref_far) > 1e-6 * max(1.0, abs(ref_far)):
        raise ExerciseFailed(f"for x = {x_far}, s = {s_far} your log p(x) is {out_far:.4f}, the reference "
                             f"{ref_far:.4f}.")
    return passed("grid_log_evidence")
