"""Unit tests of the VQ-GAN reference pieces (genviz_utils.models.vqgan) and the chapter 5 exercise checkers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genviz_utils.exercises import ExerciseFailed
from genviz_utils.exercises import vqgan as ex
from genviz_utils.features import FMNISTClassifier
from genviz_utils.models.gan import d_hinge_loss, g_hinge_loss
from genviz_utils.models.vq import VQVAE, top_k_filter
from genviz_utils.models.vqgan import (
    VQGAN,
    adaptive_weight,
    generator_objective,
    perceptual_distance,
    unit_normalize,
)


def _net() -> FMNISTClassifier:
    torch.manual_seed(0)
    return FMNISTClassifier().eval().requires_grad_(False)


# --- adaptive weight ----------------------------------------------------------------------------------------


def test_adaptive_weight_matches_hand_computed_and_finite_difference_gradients():
    torch.manual_seed(0)
    h, t, a = torch.randn(10, 3, dtype=torch.float64), torch.randn(10, 2, dtype=torch.float64), torch.randn(2)
    w = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    a = a.double()

    def losses(weight):
        y = h @ weight.t()
        return (y - t).pow(2).mean(), -(y @ a).mean()

    rec, gan = losses(w)
    lam = adaptive_weight(rec, gan, w)
    # by hand: d/dW mean((hW^T - t)^2) = 2/(N*2) (y - t)^T h ; d/dW -mean(a . y) = -a h_mean^T
    y = (h @ w.t()).detach()
    g_rec = 2 * (y - t).t() @ h / y.numel()
    g_gan = -torch.outer(a, h.mean(0))
    assert torch.allclose(lam, g_rec.norm() / (g_gan.norm() + 1e-4))
    # by central finite differences on every weight
    eps, fd = 1e-6, [torch.zeros(2, 3, dtype=torch.float64) for _ in range(2)]
    for i in range(2):
        for j in range(3):
            e = torch.zeros(2, 3, dtype=torch.float64)
            e[i, j] = eps
            with torch.no_grad():
                up, down = losses(w + e), losses(w - e)
            for k in range(2):
                fd[k][i, j] = (up[k] - down[k]) / (2 * eps)
    assert torch.allclose(lam, fd[0].norm() / (fd[1].norm() + 1e-4), rtol=1e-6)
    assert not lam.requires_grad and w.grad is None
    (rec + lam * gan).backward()                     # the graph was kept for the training step
    assert w.grad is not None
    # a wrong definition (upside down) does not pass the same test
    assert not torch.allclose(lam, g_gan.norm() / (g_rec.norm() + 1e-4))


def test_adaptive_weight_delta_clamp_and_errors():
    w = torch.ones(3, requires_grad=True)
    rec = (w * torch.tensor([3.0, 0.0, 4.0])).sum()        # gradient norm 5
    gan = (w * 0).sum()                                    # no GAN gradient at all
    assert float(adaptive_weight(rec, gan, w)) == pytest.approx(1e4)             # 5 / 1e-4, clamped to 1e4
    assert float(adaptive_weight(rec * 1e-5, gan, w)) == pytest.approx(0.5, rel=1e-4)   # 5e-5 / 1e-4
    with pytest.raises(ValueError, match="requires grad"):
        adaptive_weight(rec, gan, torch.ones(3))


def test_generator_objective_balances_the_gradients_at_the_last_layer():
    torch.manual_seed(0)
    model = VQGAN(num_codes=8, code_dim=4, width=8, disc_width=8).eval()   # eval: no EMA or power-iteration updates
    x = torch.rand(4, 1, 28, 28)
    x_hat, _, stats = model(x)
    logits = model.critic(x_hat)
    total, parts = generator_objective(x, x_hat, stats["loss"], logits, model.last_layer, _net())
    rec = (x - x_hat).abs().mean() + perceptual_distance(_net(), x, x_hat).mean()
    assert torch.allclose(parts["rec"], rec.detach(), rtol=1e-5)
    assert torch.allclose(total, rec + parts["lambda"] * g_hinge_loss(logits) + stats["loss"], rtol=1e-5)
    g_rec = torch.autograd.grad(rec, model.last_layer, retain_graph=True)[0]
    g_gan = torch.autograd.grad(parts["lambda"] * g_hinge_loss(logits), model.last_layer, retain_graph=True)[0]
    assert torch.allclose(g_gan.norm(), g_rec.norm(), rtol=1e-2)   # lambda equalises the two gradient norms
    # warm-up: no GAN term, lambda 0, and no perceptual term without a network
    total0, parts0 = generator_objective(x, x_hat, stats["loss"], x.new_zeros(()), model.last_layer, None,
                                         disc_on=False)
    assert float(parts0["lambda"]) == 0.0 and float(parts0["perceptual"]) == 0.0
    assert torch.allclose(total0, (x - x_hat).abs().mean() + stats["loss"])


# --- perceptual distance -------------------------------------------------------------------------------------


def test_perceptual_distance_definition_and_gradient():
    net = _net()
    x = torch.rand(3, 1, 28, 28)
    y = (x + 0.2 * torch.randn_like(x)).clamp(0, 1).requires_grad_(True)
    d = perceptual_distance(net, x, y)
    assert d.shape == (3,) and (d > 0).all()
    by_hand = sum(((a / a.norm(dim=1, keepdim=True).clamp_min(1e-10)) - (b / b.norm(dim=1, keepdim=True).clamp_min(
        1e-10))).pow(2).sum(1).mean((1, 2)) for a, b in zip(net.features(x, ["conv1", "conv2", "conv3"]),
                                                             net.features(y, ["conv1", "conv2", "conv3"]), strict=True))
    assert torch.allclose(d, by_hand, rtol=1e-4)
    assert torch.allclose(perceptual_distance(net, x, x), torch.zeros(3))
    (g,) = torch.autograd.grad(d.sum(), y)
    assert g.abs().sum() > 0
    assert torch.allclose(unit_normalize(torch.zeros(1, 4, 2, 2)), torch.zeros(1, 4, 2, 2))   # 0 stays 0, no nan
    with pytest.raises(ValueError, match="same shape"):
        perceptual_distance(net, x, y[:2])


# --- the two feature networks: the perceptual loss's and the metric's ----------------------------------------


def test_augmented_perceptual_net_is_cached_apart_and_the_default_extractor_is_unchanged(monkeypatch):
    import inspect

    import genviz_utils.features as features

    calls = []

    def fake_train(device, steps, augment=False, seed=0):      # no data needed: an untrained net per setting
        calls.append((steps, augment, seed))
        torch.manual_seed(100 + seed + 10 * augment)
        return FMNISTClassifier().eval(), {"seed": seed, "steps": steps, "test_accuracy": 0.91 - 0.05 * augment}

    monkeypatch.setattr(features, "train_classifier", fake_train)
    monkeypatch.setattr(features, "_loaded", {})
    # the defaults of everything the metrics use are those of the metric network
    default_sig = inspect.signature(features.feature_extractor).parameters
    assert default_sig["augment"].default is False and default_sig["seed"].default == 0
    assert default_sig["steps"].default == features.DEFAULT_STEPS == 1_500
    assert features.cache_path() == features.cache_dir() / "features" / "fmnist_cnn_v2.pt"   # chapter 7's file

    plain = features.feature_extractor("cpu")
    perc = features.feature_extractor("cpu", steps=500, augment=True, seed=1)
    assert calls == [(features.DEFAULT_STEPS, False, 0), (500, True, 1)]
    p_plain, p_perc = features.cache_path(), features.cache_path(500, augment=True, seed=1)
    assert p_plain != p_perc and p_plain.exists() and p_perc.exists()
    assert not all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), perc.state_dict().values(),
                                                     strict=True))
    # reloaded from their files, each is still itself: training the perceptual net did not overwrite the metric net
    monkeypatch.setattr(features, "_loaded", {})
    again = features.feature_extractor("cpu")
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), again.state_dict().values(), strict=True))
    assert len(calls) == 2                                                 # loaded, not retrained
    assert features.extractor_info()["augment"] is False and features.extractor_info()["test_accuracy"] == 0.91
    info = features.extractor_info(500, augment=True, seed=1)
    assert info["augment"] is True and info["test_accuracy"] == 0.86 and info["seed"] == 1
    assert len(calls) == 2


def test_train_classifier_defaults_are_the_metric_networks():
    import inspect

    from genviz_utils.features import train_classifier

    params = inspect.signature(train_classifier).parameters
    assert params["augment"].default is False and params["seed"].default == 0 and params["steps"].default == 1_500


# --- the model ---------------------------------------------------------------------------------------------


def test_vqgan_from_vqvae_shapes():
    torch.manual_seed(0)
    vq = VQVAE(num_codes=8, code_dim=4, width=8).eval()
    model = VQGAN.from_vqvae(vq, disc_width=8).eval()
    x = torch.rand(5, 1, 28, 28)
    assert torch.equal(model.tokenize(x), vq.tokenize(x)) and model.num_codes == 8
    assert model.critic(x).shape == (5, 7, 7)
    assert model.last_layer is model.vq.decoder_logits[-1].weight and model.last_layer.shape == (8, 1, 4, 4)
    assert torch.allclose(model.reconstruct(x, batch_size=2), model.decode_tokens(model.tokenize(x)), atol=1e-6)
    assert model.config == dict(vq.config, disc_width=8, spectral=True)   # what load_model rebuilds it from


# --- exercise checkers: accept the reference, reject typical mistakes with a useful message ---------------


def test_check_hinge_losses():
    assert ex.check_hinge_losses(d_hinge_loss, g_hinge_loss)
    good_g = g_hinge_loss
    cases = {
        "swapped": (lambda r, f: F.relu(1 + r).mean() + F.relu(1 - f).mean(), good_g),
        "ReLU is missing": (lambda r, f: (1 - r).mean() + (1 + f).mean(), good_g),
        "margin is missing": (lambda r, f: F.relu(-r).mean() + F.relu(f).mean(), good_g),
        "do not sum": (lambda r, f: F.relu(1 - r).sum() + F.relu(1 + f).sum(), good_g),
        "not a hinge": (d_hinge_loss, lambda f: F.relu(1 - f).mean()),
        "sign error": (d_hinge_loss, lambda f: f.mean()),
        "single number": (lambda r, f: F.relu(1 - r) + F.relu(1 + f), good_g),
        "half of the loss": (lambda r, f: 0.5 * d_hinge_loss(r, f), good_g),
    }
    for message, (d_fn, g_fn) in cases.items():
        with pytest.raises(ExerciseFailed, match=message):
            ex.check_hinge_losses(d_fn, g_fn)


def test_check_perceptual_loss():
    assert ex.check_perceptual_loss(perceptual_distance)

    def raw(net, x, y):
        layers = ["conv1", "conv2", "conv3"]
        return sum((a - b).pow(2).sum(1).mean((1, 2))
                   for a, b in zip(net.features(x, layers), net.features(y, layers), strict=True))

    def summed(net, x, y):
        layers = ["conv1", "conv2", "conv3"]
        return sum((unit_normalize(a) - unit_normalize(b)).pow(2).sum((1, 2, 3))
                   for a, b in zip(net.features(x, layers), net.features(y, layers), strict=True))

    def two_layers(net, x, y):
        return perceptual_distance(net, x, y, layers=("conv1", "conv2"))

    def detached(net, x, y):
        return perceptual_distance(net, x, y.detach())

    def scalar(net, x, y):
        return perceptual_distance(net, x, y).mean()

    for fn, message in ((raw, "unit-normalise"), (summed, "average over the spatial"), (two_layers, "conv3"),
                        (detached, "no gradient"), (scalar, "one distance per image")):
        with pytest.raises(ExerciseFailed, match=message):
            ex.check_perceptual_loss(fn)


def test_check_adaptive_weight():
    assert ex.check_adaptive_weight(adaptive_weight)

    def grads(rec, gan, w, retain=True):
        return (torch.autograd.grad(rec, w, retain_graph=retain)[0],
                torch.autograd.grad(gan, w, retain_graph=retain)[0])

    def upside_down(rec, gan, w):
        g_rec, g_gan = grads(rec, gan, w)
        return (g_gan.norm() / (g_rec.norm() + 1e-4)).detach()

    def not_detached(rec, gan, w):
        g_rec, g_gan = (torch.autograd.grad(loss, w, retain_graph=True, create_graph=True)[0] for loss in (rec, gan))
        return (g_rec.norm() / (g_gan.norm() + 1e-4)).clamp(0, 1e4)

    def no_delta(rec, gan, w):
        g_rec, g_gan = grads(rec, gan, w)
        return (g_rec.norm() / g_gan.norm()).detach()

    def no_clamp(rec, gan, w):
        g_rec, g_gan = grads(rec, gan, w)
        return (g_rec.norm() / (g_gan.norm() + 1e-4)).detach()

    def with_backward(rec, gan, w):
        rec.backward(retain_graph=True)
        return torch.tensor(1.0)

    def graph_freed(rec, gan, w):
        g_rec, g_gan = grads(rec, gan, w, retain=False)
        return (g_rec.norm() / (g_gan.norm() + 1e-4)).clamp(0, 1e4).detach()

    def loss_ratio(rec, gan, w):
        return (rec / gan).abs().detach()

    def forgot_detach(rec, gan, w):        # harmless here, caught by the checker's create_graph=True call
        g_rec, g_gan = grads(rec, gan, w)
        return (g_rec.norm() / (g_gan.norm() + 1e-4)).clamp(0, 1e4)

    def paper_delta(rec, gan, w):
        g_rec, g_gan = grads(rec, gan, w)
        return (g_rec.norm() / (g_gan.norm() + 1e-6)).clamp(0, 1e4).detach()

    for fn, message in ((upside_down, "upside down"), (not_detached, "detached"), (no_delta, "delta"),
                        (no_clamp, "clamp"), (with_backward, "last_layer.grad"), (graph_freed, "retain_graph"),
                        (loss_ratio, "not of the loss values"), (forgot_detach, "does not detach"),
                        (paper_delta, "1e-6 is the value printed")):
        with pytest.raises(ExerciseFailed, match=message):
            ex.check_adaptive_weight(fn)


def test_check_top_k():
    assert ex.check_top_k(top_k_filter)

    def in_place(logits, k):
        if k < logits.shape[-1]:
            kth = logits.topk(k, -1).values[..., -1:]
            logits[logits < kth] = float("-inf")
        return logits

    def zeros(logits, k):
        kth = logits.topk(min(k, logits.shape[-1]), -1).values[..., -1:]
        return logits.masked_fill(logits < kth, 0.0)

    def off_by_one(logits, k):
        if k >= logits.shape[-1]:
            return logits.clone()
        kth = logits.topk(k + 1, -1).values[..., -1:]
        return logits.masked_fill(logits < kth, float("-inf"))

    def global_threshold(logits, k):
        if k >= logits.shape[-1]:
            return logits.clone()
        kth = logits.flatten().topk(k * logits.shape[0]).values[-1]
        return logits.masked_fill(logits < kth, float("-inf"))

    def probabilities(logits, k):
        return torch.softmax(top_k_filter(logits, k), -1)

    def smallest(logits, k):
        if k >= logits.shape[-1]:
            return logits.clone()
        kth = logits.topk(k, -1, largest=False).values[..., -1:]
        return logits.masked_fill(logits > kth, float("-inf"))

    for fn, message in ((in_place, "in place"), (zeros, "-inf"), (off_by_one, "expected 1 in every row"),
                        (global_threshold, "per row"), (probabilities, "probabilities"), (smallest, "LARGEST")):
        with pytest.raises(ExerciseFailed, match=message):
            ex.check_top_k(fn)


# --- one training step ----------------------------------------------------------------------------------------


def _step_pair(seed: int = 0):
    from genviz_utils.models.vqgan import VQGAN

    torch.manual_seed(seed)
    model = VQGAN(num_codes=8, code_dim=4, width=8, disc_width=8).train()
    opt_g = torch.optim.Adam(model.vq.parameters(), 2e-4, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(model.disc.parameters(), 2e-4, betas=(0.5, 0.9))
    return model, opt_g, opt_d


def test_vqgan_step_is_the_hand_written_generator_then_critic_step():
    from genviz_utils.models.vqgan import vqgan_step

    net = _net()
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))

    def objective(x, x_hat, vq_loss, fake, last, on):
        return generator_objective(x, x_hat, vq_loss, fake, last, net, disc_on=on)

    for disc_on in (False, True):
        (m1, g1, d1), (m2, g2, d2) = _step_pair(), _step_pair()
        torch.manual_seed(2)                                     # the codebook's restarts draw numbers
        logs = vqgan_step(m1, g1, d1, x, objective, disc_on)
        torch.manual_seed(2)
        x_hat, _, stats = m2(x)                                  # the step as chapter 5 wrote it before
        loss, _ = objective(x, x_hat, stats["loss"], m2.critic(x_hat) if disc_on else None, m2.last_layer,
                            disc_on)
        g2.zero_grad(set_to_none=True)
        loss.backward()
        g2.step()
        if disc_on:
            loss_d = d_hinge_loss(m2.critic(x), m2.critic(x_hat.detach()))
            d2.zero_grad(set_to_none=True)
            loss_d.backward()
            d2.step()
            assert torch.allclose(logs["loss_d"], loss_d)
        assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values(),
                                                     strict=True))
        assert ("loss_d" in logs) == disc_on and {"usage", "l1", "lambda"} <= set(logs)
    (m, g, d) = _step_pair()
    u_before = {k: v.clone() for k, v in m.disc.state_dict().items()}
    vqgan_step(m, g, d, x, objective, False)                     # warm-up: the critic is not even run
    assert all(torch.equal(u_before[k], v) for k, v in m.disc.state_dict().items())
    with pytest.raises(ValueError, match="fake_logits is None"):
        objective(x, x, x.new_zeros(()), None, m.last_layer, True)
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        vqgan_step(m, g, d, x[:, 0], objective, False)
