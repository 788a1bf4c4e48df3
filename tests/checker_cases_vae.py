"""Chapter 2's checkers: reference solutions and plausible wrong ones (see tests/checker_cases.py)."""

import math

import torch
from checker_cases import Case, Wrong

from genviz_utils.exercises.vae import check_gaussian_kl, check_grid_log_evidence, check_iwae, check_reparameterize


def _kl(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)


def _reparam(mu, logvar, eps):
    return mu + torch.exp(0.5 * logvar) * eps


def _log_n(v, mean, std):
    return -0.5 * math.log(2 * math.pi) - math.log(std) - 0.5 * ((v - mean) / std) ** 2


def _log_joint(x, s, z):
    return _log_n(z, 0.0, 1.0) + _log_n(x, z**2, s)


def _evidence(x, s, z):
    return torch.logsumexp(_log_joint(x, s, z), 0) + torch.log(z[1] - z[0])


CASES = [
    Case(check_gaussian_kl, (_kl,), [
        Wrong("no factor 1/2", (lambda m, lv: 2 * _kl(m, lv),), "twice too large"),
        Wrong("summed over the batch", (lambda m, lv: 0.5 * (m**2 + lv.exp() - 1 - lv).sum(0),), "batch axis"),
        Wrong("sigma for sigma^2", (lambda m, lv: 0.5 * (m**2 + (0.5 * lv).exp() - 1 - 0.5 * lv).sum(1),),
              "used sigma where"),
        Wrong("mean over latent dimensions", (lambda m, lv: 0.5 * (m**2 + lv.exp() - 1 - lv).mean(1),),
              "averaged over the latent"),
        Wrong("the -1 forgotten", (lambda m, lv: 0.5 * (m**2 + lv.exp() - lv).sum(1),), "must be 0"),
        Wrong("sign flipped", (lambda m, lv: -_kl(m, lv),), "wrong sign"),
    ], also_right=[(lambda m, lv: torch.distributions.kl_divergence(
        torch.distributions.Normal(m, (0.5 * lv).exp()), torch.distributions.Normal(0.0, 1.0)).sum(-1),)]),
    Case(check_reparameterize, (_reparam,), [
        Wrong("sigma detached", (lambda m, lv, e: m + torch.exp(0.5 * lv).detach() * e,),
              "no gradient reaches logvar"),
        Wrong("scaled by the variance", (lambda m, lv, e: m + lv.exp() * e,), r"sigma\^2 \(the variance\)"),
        Wrong("scaled by logvar", (lambda m, lv, e: m + lv * e,), "scaled eps by logvar"),
        Wrong("own noise drawn", (lambda m, lv, e: m + torch.exp(0.5 * lv) * torch.randn_like(m),),
              "ignores the eps argument"),
        Wrong("everything detached", (lambda m, lv, e: _reparam(m, lv, e).detach(),), "through autograd"),
        Wrong("mu detached", (lambda m, lv, e: m.detach() + torch.exp(0.5 * lv) * e,), "do not detach mu"),
    ], also_right=[(lambda m, lv, e: m + lv.exp().sqrt() * e,)]),
    Case(check_iwae, (lambda lw: torch.logsumexp(lw, 0) - math.log(lw.shape[0]),), [
        Wrong("mean of the log-weights", (lambda lw: lw.mean(0),), "that is the mean of the log-weights"),
        Wrong("log K not subtracted", (lambda lw: torch.logsumexp(lw, 0),), "subtract log K"),
        Wrong("exp then log", (lambda lw: lw.exp().mean(0).log(),), "underflows"),
        Wrong("reduced over the batch", (lambda lw: torch.logsumexp(lw, 1) - math.log(lw.shape[1]),),
              "reduced over the batch"),
        Wrong("max in place of logsumexp", (lambda lw: lw.max(0).values - math.log(lw.shape[0]),),
              "kept only the largest log-weight"),
    ], also_right=[(lambda lw: lw.max(0).values + (lw - lw.max(0).values).exp().mean(0).log(),)]),
    Case(check_grid_log_evidence, (_evidence,), [
        Wrong("grid spacing forgotten", (lambda x, s, z: torch.logsumexp(_log_joint(x, s, z), 0),),
              "forgot the grid spacing"),
        Wrong("prior term forgotten",
              (lambda x, s, z: torch.logsumexp(_log_n(x, z**2, s), 0) + torch.log(z[1] - z[0]),),
              "left out the prior term"),
        Wrong("plain log(sum(exp))", (lambda x, s, z: torch.log(torch.exp(_log_joint(x, s, z)).sum() * (z[1] - z[0])),),
              "underflows"),
        Wrong("mean over the grid", (lambda x, s, z: torch.logsumexp(_log_joint(x, s, z), 0) - math.log(len(z)),),
              "averaged over the grid points"),
        Wrong("max in place of logsumexp", (lambda x, s, z: _log_joint(x, s, z).max(),), "largest term"),
        Wrong("peak of the normalised posterior", (lambda x, s, z: _log_joint(x, s, z).max() - _evidence(x, s, z),),
              "peak of the normalised posterior"),
        Wrong("s as the variance", (lambda x, s, z: _evidence(x, math.sqrt(s), z),), "s as the variance"),
        Wrong("linear mean z", (lambda x, s, z: torch.logsumexp(_log_n(z, 0.0, 1.0) + _log_n(x, z, s), 0)
                                + torch.log(z[1] - z[0]),), "has mean z"),
        Wrong("not reduced over the grid", (lambda x, s, z: _log_joint(x, s, z),), "one number"),
    ], also_right=[(lambda x, s, z: float(torch.distributions.Normal(z**2, s).log_prob(torch.tensor(x, dtype=z.dtype))
                                          .add(torch.distributions.Normal(0.0, 1.0).log_prob(z)).logsumexp(0)
                                          + math.log(z[1] - z[0])),)]),
]
