"""Unit tests of the diffusion reference pieces (genviz_utils.models.diffusion): the forward process against its
closed form, the posterior against Bayes' rule, the samplers against an oracle denoiser, shapes and errors."""

from __future__ import annotations

import math

import pytest
import torch

from genviz_utils.models.diffusion import (
    Denoiser,
    KLAutoencoder,
    MLPDenoiser,
    Schedule,
    ddim_sample,
    ddim_step,
    ddim_times,
    ddpm_sample,
    drop_labels,
    eps_loss,
    guided_eps,
    posterior,
    predict_x0,
    q_sample,
)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedule_is_a_decreasing_signal(kind):
    s = Schedule(1000, kind)
    assert s.betas.shape == (1000,) and bool((s.betas > 0).all()) and bool((s.betas <= 0.999).all())
    assert bool((s.alpha_bar[1:] < s.alpha_bar[:-1]).all())
    assert float(s.alpha_bar[0]) > 0.999 and float(s.alpha_bar[-1]) < 1e-4
    if kind == "cosine":                         # alpha_bar_t = f(t + 1) / f(0) below the clip of the last beta
        f = torch.cos((torch.arange(1001, dtype=torch.float64) / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2
        assert torch.allclose(s.alpha_bar[:-1], f[1:-1] / f[0])
    else:
        assert abs(float(s.betas[0]) - 1e-4) < 1e-12 and abs(float(s.betas[-1]) - 0.02) < 1e-12
        assert abs(float(Schedule(200, "linear").betas[-1]) - 0.1) < 1e-12       # scaled by 1000 / T
    with pytest.raises(ValueError, match="linear.*cosine"):
        Schedule(10, "quadratic")


def test_composing_single_steps_matches_the_closed_form():
    s, t = Schedule(200, "linear"), 150
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((200_000,), 1.5, dtype=torch.float64)
    x = x0.clone()
    for k in range(t + 1):                           # x_k = sqrt(alpha_k) x_{k-1} + sqrt(beta_k) eps
        x = s.alphas[k].sqrt() * x + s.betas[k].sqrt() * torch.randn(x.shape, generator=g, dtype=torch.float64)
    closed = q_sample(x0, torch.full((len(x0),), t), s, torch.randn(x0.shape, generator=g, dtype=torch.float64))
    mean, var = 1.5 * s.alpha_bar[t].sqrt(), 1 - s.alpha_bar[t]
    se_mean, se_var = math.sqrt(var / len(x0)), float(var) * math.sqrt(2 / len(x0))
    for sample in (x, closed):
        assert abs(float(sample.mean()) - float(mean)) < 4 * se_mean
        assert abs(float(sample.var()) - float(var)) < 4 * se_var
    wrong_mean = 1.5 * s.alphas[t].sqrt()                 # alpha_t in place of alpha_bar_t: far outside
    assert abs(float(x.mean()) - float(wrong_mean)) > 100 * se_mean


def test_posterior_matches_bayes_rule_on_a_grid():
    s = Schedule(100, "cosine")
    grid = torch.linspace(-6, 6, 40_001, dtype=torch.float64)
    for t, x0, xt in ((1, 0.3, 0.1), (40, -1.0, 0.5), (99, 0.8, -1.2)):
        # q(x_{t-1} | x_0) q(x_t | x_{t-1}), normalised over x_{t-1}
        ab_prev = s.alpha_bar[t - 1]
        prior = torch.exp(-(grid - ab_prev.sqrt() * x0) ** 2 / (2 * (1 - ab_prev)))
        lik = torch.exp(-(xt - s.alphas[t].sqrt() * grid) ** 2 / (2 * s.betas[t]))
        w = prior * lik
        w = w / w.sum()
        m_grid = float((w * grid).sum())
        v_grid = float((w * (grid - m_grid) ** 2).sum())
        mean, var = posterior(torch.tensor([x0], dtype=torch.float64), torch.tensor([xt], dtype=torch.float64),
                              torch.tensor([t]), s)
        assert abs(float(mean) - m_grid) < 1e-6 and abs(float(var) - v_grid) < 1e-6 * max(v_grid, 1e-3)
    with pytest.raises(ValueError, match="t >= 1"):
        posterior(torch.zeros(1), torch.zeros(1), torch.tensor([0]), s)


def test_ddim_step_with_the_true_noise_recovers_x0():
    s = Schedule(1000, "cosine")
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(64, 2, generator=g), torch.randn(64, 2, generator=g)
    t = torch.full((64,), 700)
    xt = q_sample(x0, t, s, noise)
    a = s.at("alpha_bar", t, xt)
    assert torch.allclose(predict_x0(xt, noise, a), x0, atol=1e-5)
    assert torch.allclose(ddim_step(xt, noise, a, torch.ones_like(a)), x0, atol=1e-5)
    assert ddim_times(1000, 5) == [999, 749, 500, 250, 0]
    # eta = 1 with the true noise is one step of the posterior q(x_{t-1} | x_t, x_0): its mean and its variance
    a_prev = s.at("alpha_bar", t - 1, xt)
    mean, var = posterior(x0, xt, t, s)
    step0 = ddim_step(xt, noise, a, a_prev, eta=1.0, noise=torch.zeros_like(xt))
    step1 = ddim_step(xt, noise, a, a_prev, eta=1.0, noise=torch.ones_like(xt))
    assert torch.allclose(step0, mean, atol=1e-5) and torch.allclose((step1 - step0) ** 2, var.expand_as(xt), atol=1e-6)
    # clipping bounds x0_hat, and the step then follows the eps that the clipped x0_hat implies
    far = ddim_step(xt, -50 * noise, a, torch.ones_like(a), clip=1.0)
    assert float(far.abs().max()) <= 1.0 + 1e-6 and float(predict_x0(xt, -50 * noise, a).abs().max()) > 10
    with pytest.raises(ValueError, match="steps"):
        ddim_times(10, 0)


def oracle(scale: float, sched: Schedule):
    """The exact eps predictor for data x_0 ~ N(0, scale^2 I): E[eps | x_t] = sqrt(1 - a) x_t / (a s^2 + 1 - a)."""
    def eps(x, t, y):
        a = sched.at("alpha_bar", t, x)
        return (1 - a).sqrt() * x / (a * scale ** 2 + 1 - a)
    return eps


# The stochastic samplers put the posterior's variance given x_0 where the reverse step's variance given x_t belongs:
# too little noise by a term of order beta_t^2 per step, so they are exact only as T grows (the std of the samples is
# 0.480 at T = 200 and 0.494 at T = 1000, for data of std 0.5). DDIM with eta = 1 and every step is DDPM.
@pytest.mark.parametrize("sampler, T, eta, tol", [("ddim", 200, 0.0, 0.01), ("ddim", 1000, 1.0, 0.01),
                                                  ("ddpm", 1000, 1.0, 0.01), ("ddpm", 200, 1.0, 0.03)])
def test_samplers_with_the_exact_denoiser_reach_the_data_distribution(sampler, T, eta, tol):
    s = Schedule(T, "linear")
    g = torch.Generator().manual_seed(0)
    model = oracle(0.5, s)
    if sampler == "ddpm":
        x, kept = ddpm_sample(model, (20_000, 2), s, generator=g, keep=(T - 1, T // 2))
        assert set(kept) == {T - 1, T // 2}
    else:
        x = ddim_sample(model, (20_000, 2), s, T, generator=g, eta=eta)
    assert abs(float(x.std()) - 0.5) < tol and abs(float(x.mean())) < 0.02


def test_guidance_interpolates_and_extrapolates():
    def model(x, t, y):                    # a "denoiser" whose answer is the label itself
        return y[:, None].float().expand_as(x)
    x, t, y = torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), torch.tensor([2, 3, 4, 5])
    assert torch.equal(guided_eps(model, x, t, y, 1.0), model(x, t, y))
    assert torch.equal(guided_eps(model, x, t, y, 0.0), torch.full((4, 3), 10.0))
    assert torch.allclose(guided_eps(model, x, t, y, 3.0), 10 + 3 * (y[:, None].float() - 10).expand_as(x))


def test_drop_labels_and_eps_loss():
    y = torch.zeros(10_000, dtype=torch.long)
    dropped = drop_labels(y, 0.1, 10, torch.Generator().manual_seed(0))
    assert abs(float((dropped == 10).float().mean()) - 0.1) < 0.01 and set(dropped.tolist()) == {0, 10}
    s = Schedule(100)
    x0, y0 = torch.randn(4096, 3), torch.zeros(4096, dtype=torch.long)
    zero = eps_loss(lambda x, t, y: torch.zeros_like(x), x0, y0, s)
    assert abs(float(zero) - 1.0) < 0.05                    # predicting eps = 0 costs E[eps^2] = 1
    seen = {}

    def oracle_eps(x, t, y):                                 # knows x_0: its eps is exact, whatever t was drawn
        seen["t"], seen["y"] = t, y
        a = s.at("alpha_bar", t, x)
        return (x - a.sqrt() * x0) / (1 - a).sqrt()
    assert float(eps_loss(oracle_eps, x0, y0, s, p_uncond=0.25)) < 1e-8
    assert int(seen["t"].min()) == 0 and int(seen["t"].max()) == 99
    assert abs(float((seen["y"] == 10).float().mean()) - 0.25) < 0.03


@pytest.mark.parametrize("make, shape", [
    (lambda: Denoiser(channels=1, size=28, widths=(8, 16, 16), blocks=1), (3, 1, 28, 28)),
    (lambda: Denoiser(channels=4, size=7, widths=(16,), blocks=2), (3, 4, 7, 7)),
    (lambda: MLPDenoiser(channels=4, size=7, hidden=32, depth=2), (3, 4, 7, 7)),
])
def test_denoisers_keep_the_shape_and_name_bad_input(make, shape):
    torch.manual_seed(0)
    m = make()
    t, y = torch.tensor([0, 500, 999]), torch.tensor([0, 9, 10])
    x = torch.randn(shape)
    assert m(x, t, y).shape == shape
    last = m.out[-1]
    torch.nn.init.normal_(last.weight, std=0.1)          # not zero-initialised: the output must depend on t and y
    with torch.no_grad():
        base = m(x, t, y)
        assert not torch.allclose(base, m(x, t.flip(0), y)) and not torch.allclose(base, m(x, t, y.flip(0)))
    with pytest.raises(ValueError, match="expected x_t of shape"):
        m(torch.randn(3, shape[1], shape[2] + 1, shape[3]), t, y)
    with pytest.raises(ValueError, match=r"t and y need shape \(B,\)"):
        m(torch.randn(shape), t[:2], y)
    with pytest.raises(ValueError, match="halve"):
        Denoiser(channels=1, size=7, widths=(8, 16))


def test_kl_autoencoder_shapes_kl_and_errors():
    m = KLAutoencoder(latent_channels=4, width=8, disc_width=8)
    x = torch.rand(5, 1, 28, 28)
    x_hat, z, stats = m(x)
    assert x_hat.shape == x.shape and z.shape == (5, 4, 7, 7) and m.critic(x).shape == (5, 7, 7)
    mean, logvar = m.encode(x)
    q = torch.distributions.Normal(mean, (0.5 * logvar).exp())
    kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).flatten(1).sum(1).mean()
    assert torch.allclose(stats["kl"], kl, rtol=1e-5)
    with pytest.raises(ValueError, match=r"latents of shape \(B, 4, 7, 7\)"):
        m.decode(torch.randn(5, 4, 8, 8))
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        m(torch.rand(5, 28, 28))


def test_ddim_trajectory_records_each_step_before_its_update():
    s = Schedule(200, "linear")
    trajectory = []
    x = ddim_sample(oracle(0.5, s), (4000, 2), s, 10, generator=torch.Generator().manual_seed(0),
                    trajectory=trajectory)
    assert [t for t, _, _ in trajectory] == ddim_times(200, 10)
    assert abs(float(trajectory[0][1].std()) - 1.0) < 0.05                  # x_T: the noise it starts from
    assert torch.allclose(trajectory[-1][2], x, atol=1e-5)                 # the last x0_hat is the sample


def test_train_denoiser_checkpoints_its_moving_average(tmp_path):
    from genviz_utils.models.diffusion import train_denoiser
    from genviz_utils.models.registry import load_model

    torch.manual_seed(0)
    z, y = torch.randn(64, 2, 3, 3), torch.arange(64) % 10
    ema = train_denoiser(MLPDenoiser(2, 3, hidden=16, depth=1), z, y, Schedule(50), tmp_path / "d.pt", steps=5,
                         batch_size=16, lr=1e-2, ema_decay=0.5, progress=False)
    rebuilt = load_model(tmp_path / "d.pt", "ema")
    raw = load_model(tmp_path / "d.pt", "model")
    t = torch.arange(64) % 50
    with torch.no_grad():
        assert torch.equal(rebuilt(z, t, y), ema(z, t, y))
        assert not torch.allclose(raw(z, t, y), ema(z, t, y))               # the average is not the last weights


def test_ddim_with_fewer_steps_is_narrower_and_converges():
    # the deterministic sampler's discretisation error, with an exact denoiser: the spread of the samples falls
    # short of the data's 0.5 with few steps (0.37 with 10 of 200) and approaches it as the steps grow
    s = Schedule(200, "linear")
    stds = [float(ddim_sample(oracle(0.5, s), (20_000, 2), s, n, generator=torch.Generator().manual_seed(0)).std())
            for n in (10, 50, 200)]
    assert stds[0] < stds[1] < stds[2] and stds[0] < 0.45 and abs(stds[2] - 0.5) < 0.02
