"""Chapter 6's checkers: reference solutions and plausible wrong ones (see tests/checker_cases.py)."""

import torch
import torch.nn.functional as F
from checker_cases import Case, Wrong

from genviz_utils.exercises.diffusion import check_ddim_step, check_eps_loss, check_guidance, check_q_sample


def _q(x0, t, sched, noise, table="alpha_bar", root=True, swap=False, shift=0):
    a = getattr(sched, table)
    if shift:
        a = torch.cat([torch.ones(shift, dtype=a.dtype), a[:-shift]])
    a = a[t].view(-1, 1).to(x0.dtype)
    if swap:
        return (1 - a).sqrt() * x0 + a.sqrt() * noise
    return a.sqrt() * x0 + (1 - a).sqrt() * noise if root else a * x0 + (1 - a) * noise


def _q_beta(x0, t, sched, noise):
    return sched.alpha_bar[t].view(-1, 1).sqrt() * x0 + sched.betas[t].view(-1, 1).sqrt() * noise


def _eps(model, x0, y, t, noise, sched, target="noise", clean=False, reduce="mean", labels=True, l1=False):
    a = sched.alpha_bar[t].view(-1, 1).to(x0.dtype)
    xt = x0 if clean else a.sqrt() * x0 + (1 - a).sqrt() * noise
    pred = model(xt, t, y if labels else torch.full_like(y, 10))
    err = pred - (noise if target == "noise" else x0)
    err = err.abs() if l1 else err.pow(2)
    return {"mean": err.mean(), "sum": err.sum(1).mean(), "none": err.mean(1)}[reduce]


def _ddim(xt, eps, a, a_prev, out="prev", var=False, random=False, swap=False):
    if swap:
        a, a_prev = a_prev, a
    x0 = (xt - (1 - a).sqrt() * eps) / a.sqrt()
    if out == "x0":
        return x0
    if out == "no noise":
        return a_prev.sqrt() * x0
    if var:
        return a_prev * x0 + (1 - a_prev) * eps
    return a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * (torch.randn_like(eps) if random else eps)


def _cfg(model, x, t, y, w, null, form="right"):
    eps_c, eps_u = model(x, t, y), model(x, t, torch.full_like(y, null))
    if form == "same labels":
        eps_u = model(x, t, y)
    return {"right": eps_u + w * (eps_c - eps_u), "same labels": eps_u + w * (eps_c - eps_u),
            "from c": eps_c + w * (eps_c - eps_u), "sign": eps_u + w * (eps_u - eps_c),
            "scale": w * eps_c, "mix": (1 - w) * eps_c + w * eps_u}[form]


CASES = [
    Case(check_q_sample, (_q,), [
        Wrong("alpha_t instead of alpha_bar_t", (lambda *a: _q(*a, table="alphas"),), "one-step factor"),
        Wrong("variances as factors", (lambda *a: _q(*a, root=False),), "VARIANCES"),
        Wrong("factors swapped", (lambda *a: _q(*a, swap=True),), "swapped"),
        Wrong("alpha_bar_{t-1}", (lambda *a: _q(*a, shift=1),), "off by one"),
        Wrong("beta_t as the noise's variance", (_q_beta,), "not beta_t"),
    ], also_right=[(lambda x0, t, s, n: (s.alpha_bar[t].sqrt()[:, None] * x0 + (1 - s.alpha_bar[t])[:, None].sqrt()
                                         * n),)]),
    Case(check_eps_loss, (_eps,), [
        Wrong("x_0 as the target", (lambda *a: _eps(*a, target="x0"),), "target is the NOISE"),
        Wrong("the clean x_0 into the model", (lambda *a: _eps(*a, clean=True),), "noisy x_t"),
        Wrong("sum over the dimensions", (lambda *a: _eps(*a, reduce="sum"),), "summed over the dimensions"),
        Wrong("one loss per example", (lambda *a: _eps(*a, reduce="none"),), "one loss per example"),
        Wrong("absolute error", (lambda *a: _eps(*a, l1=True),), "ABSOLUTE"),
        Wrong("labels dropped", (lambda *a: _eps(*a, labels=False),), "must get the labels"),
    ], also_right=[(lambda m, x0, y, t, n, s: F.mse_loss(
        m(s.alpha_bar[t].sqrt()[:, None] * x0 + (1 - s.alpha_bar[t]).sqrt()[:, None] * n, t, y), n),)]),
    Case(check_ddim_step, (_ddim,), [
        Wrong("x0_hat returned", (lambda *a: _ddim(*a, out="x0"),), "predicted x_0"),
        Wrong("no noise term", (lambda *a: _ddim(*a, out="no noise"),), "noise term is missing"),
        Wrong("variances as factors", (lambda *a: _ddim(*a, var=True),), "are variances"),
        Wrong("fresh noise", (lambda *a: _ddim(*a, random=True),), "deterministic"),
        Wrong("the two alpha_bar swapped", (lambda *a: _ddim(*a, swap=True),), "swapped"),
    ]),
    Case(check_guidance, (_cfg,), [
        Wrong("unconditional call with the labels", (lambda *a: _cfg(*a, form="same labels"),), "'no class'"),
        Wrong("extrapolating from eps_c", (lambda *a: _cfg(*a, form="from c"),), "guidance w \\+ 1"),
        Wrong("sign error", (lambda *a: _cfg(*a, form="sign"),), "sign error"),
        Wrong("w * eps_c", (lambda *a: _cfg(*a, form="scale"),), "only rescales"),
        Wrong("the weights swapped", (lambda *a: _cfg(*a, form="mix"),), "weights are swapped"),
    ]),
]
