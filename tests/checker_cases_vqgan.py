"""Chapter 5's checkers: reference solutions and plausible wrong ones (see tests/checker_cases.py)."""

import torch
import torch.nn.functional as F
from checker_cases import Case, Wrong

from genviz_utils.exercises.vqgan import check_adaptive_weight, check_hinge_losses, check_perceptual_loss, check_top_k
from genviz_utils.models.gan import d_hinge_loss, g_hinge_loss
from genviz_utils.models.vq import top_k_filter
from genviz_utils.models.vqgan import adaptive_weight, perceptual_distance

# --- hinge losses ------------------------------------------------------------------------------------------

CASES = [
    Case(check_hinge_losses, (d_hinge_loss, g_hinge_loss), [
        Wrong("real and fake swapped", (lambda r, f: F.relu(1 + r).mean() + F.relu(1 - f).mean(), g_hinge_loss),
              "real and fake are swapped"),
        Wrong("no ReLU", (lambda r, f: (1 - r).mean() + (1 + f).mean(), g_hinge_loss), "the ReLU is missing"),
        Wrong("no margin", (lambda r, f: F.relu(-r).mean() + F.relu(f).mean(), g_hinge_loss), "margin is missing"),
        Wrong("chapter 4's logistic loss for D", (lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean(),
                                                 g_hinge_loss), "logistic \\(binary cross-entropy\\)"),
        Wrong("the taming code's factor 1/2", (lambda r, f: 0.5 * d_hinge_loss(r, f), g_hinge_loss),
              "half of the loss"),
        Wrong("sum over logits", (lambda r, f: F.relu(1 - r).sum() + F.relu(1 + f).sum(), g_hinge_loss),
              "d_hinge: average over every logit"),
        Wrong("per-logit map, not a number", (lambda r, f: F.relu(1 - r) + F.relu(1 + f), g_hinge_loss),
              "single number"),
        Wrong("a hinge on the generator", (d_hinge_loss, lambda f: F.relu(1 - f).mean()), "not a hinge"),
        Wrong("generator sign", (d_hinge_loss, lambda f: f.mean()), "sign error"),
        Wrong("non-saturating G loss", (d_hinge_loss, lambda f: F.softplus(-f).mean()), "non-saturating logistic"),
        Wrong("generator sums", (d_hinge_loss, lambda f: -f.sum()), "g_hinge: average over every logit"),
    ], also_right=[(lambda r, f: (F.relu(1 - r) + F.relu(1 + f)).mean(), lambda f: -f.mean())]),
]

# --- perceptual distance -----------------------------------------------------------------------------------

_LAYERS = ["conv1", "conv2", "conv3"]


def _unit(a: torch.Tensor, dim=1) -> torch.Tensor:
    return a / (a.norm(dim=dim, keepdim=True) + 1e-10)


def _perc(reduce_pos, reduce_ch=lambda d: d.pow(2).sum(1), norm=_unit, detach=False, layers=_LAYERS):
    def fn(net, x, y):
        y = y.detach() if detach else y
        return sum(reduce_pos(reduce_ch(norm(a) - norm(b)))
                   for a, b in zip(net.features(x, layers), net.features(y, layers), strict=True))
    return fn


_mean_pos = lambda d: d.mean((1, 2))  # noqa: E731

CASES.append(Case(check_perceptual_loss, (_perc(_mean_pos),), [
    Wrong("no unit normalisation", (_perc(_mean_pos, norm=lambda a: a),), "unit-normalise"),
    Wrong("normalised over the positions", (_perc(_mean_pos, norm=lambda a: _unit(a, (2, 3))),),
          "along the channels only"),
    Wrong("sum over positions", (_perc(lambda d: d.sum((1, 2))),), "average over the spatial"),
    Wrong("Euclidean distance, not its square", (_perc(_mean_pos, reduce_ch=lambda d: d.norm(dim=1)),),
          "without the square root"),
    Wrong("mean over channels", (_perc(_mean_pos, reduce_ch=lambda d: d.pow(2).mean(1)),),
          "instead of averaging them"),
    Wrong("conv3 forgotten", (_perc(_mean_pos, layers=["conv1", "conv2"]),), "'conv3' is missing"),
    Wrong("x_hat detached", (_perc(_mean_pos, detach=True),), "no gradient reaches x_hat"),
    Wrong("mean over the batch", (lambda net, x, y: _perc(_mean_pos)(net, x, y).mean(),),
          "one distance per image"),
    Wrong("net.train() inside the loss", (lambda net, x, y: _perc(_mean_pos)(net.train(), x, y),),
          "training mode"),
], also_right=[(perceptual_distance,)]))

# --- adaptive weight ---------------------------------------------------------------------------------------


def _lam(ratio, *, create_graph=False, retain=True, detach=True, clamp=True):
    def fn(rec, gan, w):
        g_rec = torch.autograd.grad(rec, w, retain_graph=True, create_graph=create_graph)[0]
        g_gan = torch.autograd.grad(gan, w, retain_graph=retain, create_graph=create_graph)[0]
        out = ratio(g_rec, g_gan).clamp(0.0, 1e4) if clamp else ratio(g_rec, g_gan)
        return out.detach() if detach else out
    return fn


_right = lambda a, b: a.norm() / (b.norm() + 1e-4)  # noqa: E731


def _with_backward(rec, gan, w):
    rec.backward(retain_graph=True)
    gan.backward(retain_graph=True)
    return torch.tensor(1.0)


CASES.append(Case(check_adaptive_weight, (adaptive_weight,), [
    Wrong("upside down", (_lam(lambda a, b: b.norm() / (a.norm() + 1e-4)),), "upside down"),
    Wrong("L1 norms", (_lam(lambda a, b: a.abs().sum() / (b.abs().sum() + 1e-4)),), "Euclidean \\(L2\\) norm"),
    Wrong("squared norms", (_lam(lambda a, b: a.norm() ** 2 / (b.norm() ** 2 + 1e-4)),), "squared norms"),
    Wrong("ratio of the losses", (lambda rec, gan, w: (rec / gan).abs().detach(),), "not of the loss values"),
    Wrong("no delta", (_lam(lambda a, b: a.norm() / b.norm()),), "add delta = 1e-4"),
    Wrong("the paper's delta 1e-6", (_lam(lambda a, b: a.norm() / (b.norm() + 1e-6)),), "1e-6 is the value"),
    Wrong("no clamp", (_lam(_right, clamp=False),), "clamp lambda to at most 1e4"),
    Wrong(".backward() instead of autograd.grad", (_with_backward,), "last_layer.grad"),
    Wrong("graph freed", (_lam(_right, retain=False),), "retain_graph"),
    Wrong("create_graph and no detach", (_lam(_right, create_graph=True, detach=False),), "create_graph=True \\(not"),
    Wrong("forgot .detach()", (_lam(_right, detach=False),), "does not detach lambda"),
], also_right=[(_lam(_right),)]))

# --- top-k -------------------------------------------------------------------------------------------------


def _topk(fill=float("-inf"), shift=0, largest=True, guard=True):
    def fn(logits, k):
        if guard and k >= logits.shape[-1]:
            return logits.clone()
        kth = logits.topk(k + shift, -1, largest=largest).values[..., -1:]
        drop = logits < kth if largest else logits > kth
        return logits.masked_fill(drop, fill)
    return fn


def _in_place(logits, k):
    if k < logits.shape[-1]:
        logits[logits < logits.topk(k, -1).values[..., -1:]] = float("-inf")
    return logits


def _global(logits, k):
    if k >= logits.shape[-1]:
        return logits.clone()
    return logits.masked_fill(logits < logits.flatten().topk(k * logits.shape[0]).values[-1], float("-inf"))


CASES.append(Case(check_top_k, (top_k_filter,), [
    Wrong("modifies its input", (_in_place,), "in place"),
    Wrong("zeros instead of -inf", (_topk(fill=0.0),), "set the dropped logits to 0"),
    Wrong("a large finite number", (_topk(fill=-1e9),), "large finite number"),
    Wrong("a fill of -100", (_topk(fill=-100.0),), "large finite number \\(-100\\)"),
    Wrong("a fill of -1e3", (_topk(fill=-1e3),), "large finite number \\(-1e\\+03\\)"),
    Wrong("+inf instead of -inf", (_topk(fill=float("inf")),), "\\+inf, a sign slip"),
    Wrong("NaN fill", (_topk(fill=float("nan")),), "NaN logits"),
    Wrong("keeps k + 1", (_topk(shift=1),), "expected 1 in every row"),
    Wrong("one threshold for the batch", (_global,), "per row"),
    Wrong("returns probabilities", (lambda logits, k: torch.softmax(top_k_filter(logits, k), -1),), "probabilities"),
    Wrong("keeps the smallest", (_topk(largest=False),), "LARGEST"),
    Wrong("k >= K not handled", (_topk(guard=False),), "return the logits unchanged"),
]))
