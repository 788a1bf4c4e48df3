"""Chapter 3's checkers: reference solutions and plausible wrong ones (see tests/checker_cases.py)."""

import torch
import torch.nn.functional as F
from checker_cases import Case, Wrong

from genviz_utils.exercises.vqvae import check_perplexity, check_quantize, check_straight_through, check_vq_loss


def _with_distances(dist_fn, flatten=lambda z_e, d: z_e.permute(0, 2, 3, 1).reshape(-1, d)):
    """A quantizer from a distance function (flat (N, D), codebook (K, D)) -> (N, K), as a student writes it."""
    def quantize(z_e, codebook):
        b, d, h, w = z_e.shape
        idx = dist_fn(flatten(z_e, d), codebook).argmin(1)
        return codebook[idx].view(b, h, w, d).permute(0, 3, 1, 2), idx.view(b, h, w)
    return quantize


def _expanded(z, e):
    return z.pow(2).sum(1, keepdim=True) - 2 * z @ e.T + e.pow(2).sum(1)


def _unscrambled_view(z_e, codebook):
    b, d, h, w = z_e.shape
    idx = _expanded(z_e.permute(0, 2, 3, 1).reshape(-1, d), codebook).argmin(1)
    return codebook[idx].view(b, d, h, w), idx.view(b, h, w)          # a view, not a permute


def _ppl(idx, k):
    counts = torch.bincount(idx.reshape(-1), minlength=k).float()
    p = counts[counts > 0] / counts.sum()
    return float(torch.exp(-(p * p.log()).sum()))


def _exp_of_bits(idx, k):
    counts = torch.bincount(idx.reshape(-1), minlength=k).float()
    p = counts[counts > 0] / counts.sum()
    return float(torch.exp(-(p * p.log2()).sum()))


def _vq_loss(z_e, z_q, beta):
    return F.mse_loss(z_q, z_e.detach()) + beta * F.mse_loss(z_e, z_q.detach())


def _hist(idx, k):
    return torch.bincount(idx.reshape(-1), minlength=k).float()


def _mean_per_image(idx, k):
    if idx.ndim == 1:
        return _ppl(idx, k)
    return sum(_ppl(image, k) for image in idx) / len(idx)


def _clamped_before(idx, k):
    p = (_hist(idx, k) / idx.numel()).clamp_min(1e-3)
    return float(torch.exp(-(p * p.log()).sum()))


def _clamped_inside_log(idx, k):
    p = _hist(idx, k) / idx.numel()
    return float(torch.exp(-(p * p.clamp_min(1e-3).log()).sum()))


CASES = [
    Case(check_quantize, (_with_distances(_expanded),), [
        Wrong("the broadcast (N, K, D) tensor of differences",
              (_with_distances(lambda z, e: ((z[:, None, :] - e[None]) ** 2).sum(-1)),), r"\(N, K, D\) broadcast"),
        Wrong("no permute before flattening",
              (_with_distances(_expanded, flatten=lambda z_e, d: z_e.reshape(-1, d)),), "channel axis last"),
        Wrong("argmax instead of argmin", (_with_distances(lambda z, e: -_expanded(z, e)),), "farthest code"),
        Wrong("dropped ||e||^2", (_with_distances(lambda z, e: z.pow(2).sum(1, keepdim=True) - 2 * z @ e.T),),
              r"dropped \|\|e_k\|\|\^2"),
        Wrong("plus sign on the cross term",
              (_with_distances(lambda z, e: z.pow(2).sum(1, keepdim=True) + 2 * z @ e.T + e.pow(2).sum(1)),),
              "wrong sign"),
        Wrong("z_q reshaped with a view instead of a permute", (_unscrambled_view,), "scrambles"),
    ], also_right=[(_with_distances(lambda z, e: torch.cdist(z, e)),),
                   (_with_distances(lambda z, e: e.pow(2).sum(1) - 2 * z @ e.T),)]),   # ||z||^2 may go
    Case(check_straight_through, (lambda z_e, z_q: z_e + (z_q - z_e).detach(),), [
        Wrong("everything detached", (lambda z_e, z_q: z_q.detach(),), "no gradient at all"),
        Wrong("no detach: z_e + (z_q - z_e)", (lambda z_e, z_q: z_e + (z_q - z_e),), "two z_e terms cancel"),
        Wrong("gradient sent to z_q too", (lambda z_e, z_q: z_q + (z_e - z_e.detach()),), "also receives"),
        Wrong("the encoder output itself", (lambda z_e, z_q: z_e,), "forward value"),
        Wrong("gradient scaled by 1/2", (lambda z_e, z_q: 0.5 * z_e + (z_q - 0.5 * z_e).detach(),),
              "off by up to"),
    ]),
    Case(check_vq_loss, (_vq_loss,), [
        Wrong("swapped beta", (lambda z_e, z_q, beta: beta * F.mse_loss(z_q, z_e.detach())
                               + F.mse_loss(z_e, z_q.detach()),), "swapped beta"),
        Wrong("no stop-gradient", (lambda z_e, z_q, beta: (1 + beta) * F.mse_loss(z_e, z_q),),
              "No stop-gradient at all"),
        Wrong("commitment without sg(z_q)", (lambda z_e, z_q, beta: F.mse_loss(z_q, z_e.detach())
                                             + beta * F.mse_loss(z_e, z_q),), "commitment term also moves the codes"),
        Wrong("codebook term without sg(z_e)", (lambda z_e, z_q, beta: F.mse_loss(z_q, z_e)
                                                + beta * F.mse_loss(z_e, z_q.detach()),),
              "codebook term also moves the encoder"),
        Wrong("sums instead of means", (lambda z_e, z_q, beta: ((z_q - z_e.detach()) ** 2).sum()
                                        + beta * ((z_e - z_q.detach()) ** 2).sum(),), "You summed"),
        Wrong("commitment term forgotten", (lambda z_e, z_q, beta: F.mse_loss(z_q, z_e.detach()),), "only one"),
        Wrong("a global BETA = 0.25 instead of the beta argument",
              (lambda z_e, z_q, beta: _vq_loss(z_e, z_q, 0.25),), "ignores its beta argument"),
    ]),
    Case(check_perplexity, (_ppl,), [
        Wrong("the entropy, not its exponential", (lambda idx, k: float(torch.log(torch.tensor(_ppl(idx, k)))),),
              "returned the entropy"),
        Wrong("0 log 0 not handled", (lambda idx, k: float(torch.exp(-(
            (_hist(idx, k) / idx.numel()) * (_hist(idx, k) / idx.numel()).log()).sum())),), "NaN"),
        Wrong("mixed bases: exp of an entropy in bits", (_exp_of_bits,), "mixed bases"),
        Wrong("the number of codes used", (lambda idx, k: float((_hist(idx, k) > 0).sum()),), "number of codes used"),
        Wrong("the mean of the images' perplexities", (_mean_per_image,), "averaged the perplexities of the images"),
        Wrong("p clamped at 1e-3 before p log p", (_clamped_before,), "unused codes contribute"),
    ], also_right=[(_clamped_inside_log,)]),   # 0 * log(eps) = 0: clamping only inside the log is right
]
