import math

import pytest
import torch

from genviz_utils.exercises import ExerciseFailed
from genviz_utils.exercises.vae import check_gaussian_kl, check_iwae, check_reparameterize
from genviz_utils.models.vae import ConvVAE, diag_gaussian_kl, gaussian_kl, iwae_bound, neg_elbo


def test_kl_closed_forms_agree_and_match_monte_carlo():
    torch.manual_seed(0)
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    assert torch.allclose(gaussian_kl(mu, logvar), diag_gaussian_kl(mu, logvar, torch.zeros(3), torch.zeros(3)))
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    assert torch.allclose(gaussian_kl(mu, logvar), torch.distributions.kl_divergence(q, p).sum(-1), atol=1e-5)


def test_iwae_bound_rises_with_k_and_bounds_the_elbo():
    torch.manual_seed(0)
    model = ConvVAE(latent_dim=4, width=4).eval()
    x = (torch.rand(6, 1, 28, 28) > 0.5).float()
    torch.manual_seed(1)
    elbo = torch.stack([-neg_elbo(model, x)[0] for _ in range(200)]).mean(0)
    l1 = torch.stack([iwae_bound(model, x, 1) for _ in range(200)]).mean(0)
    l64 = iwae_bound(model, x, 64, batch=16)   # at most 16 images per decoder pass
    assert iwae_bound(model, x, 10, batch=4).shape == (6,)   # more images than one pass holds
    one_pass, chunked = iwae_bound(model, x[:2], 1000, batch=5000), iwae_bound(model, x[:2], 1000, batch=7)
    assert torch.allclose(one_pass, chunked, atol=0.5)   # chunking changes nothing but the random draws
    assert torch.allclose(l1, elbo, atol=2.0)          # L_1 is the ELBO (up to Monte-Carlo noise)
    assert (l64 > elbo).all()
    assert l64.shape == (6,) and torch.isfinite(l64).all()


def test_neg_elbo_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        neg_elbo(ConvVAE(2, 4), torch.rand(3, 784))


def test_kl_checker():
    assert check_gaussian_kl(gaussian_kl)
    with pytest.raises(ExerciseFailed, match="1/2"):
        check_gaussian_kl(lambda m, lv: 2 * gaussian_kl(m, lv))
    with pytest.raises(ExerciseFailed, match="batch axis"):
        check_gaussian_kl(lambda m, lv: 0.5 * (m**2 + lv.exp() - 1 - lv).sum(0))
    with pytest.raises(ExerciseFailed, match="variance"):
        check_gaussian_kl(lambda m, lv: 0.5 * (m**2 + (0.5 * lv).exp() - 1 - 0.5 * lv).sum(1))


def test_reparameterize_checker():
    assert check_reparameterize(lambda m, lv, e: m + (0.5 * lv).exp() * e)
    with pytest.raises(ExerciseFailed, match="sigma\\^2"):
        check_reparameterize(lambda m, lv, e: m + lv.exp() * e)
    with pytest.raises(ExerciseFailed, match="autograd"):
        check_reparameterize(lambda m, lv, e: (m + (0.5 * lv).exp() * e).detach())
    with pytest.raises(ExerciseFailed, match="no gradient reaches logvar"):   # right values, frozen variances
        check_reparameterize(lambda m, lv, e: m + (0.5 * lv).exp().detach() * e)


def test_iwae_checker():
    assert check_iwae(lambda lw: torch.logsumexp(lw, 0) - math.log(lw.shape[0]))
    with pytest.raises(ExerciseFailed, match="ELBO"):
        check_iwae(lambda lw: lw.mean(0))
    with pytest.raises(ExerciseFailed, match="log K"):
        check_iwae(lambda lw: torch.logsumexp(lw, 0))
    with pytest.raises(ExerciseFailed, match="logsumexp"):
        check_iwae(lambda lw: lw.exp().mean(0).log())


def test_iwae_checker_rejects_max_by_a_wide_margin():
    """On some input the checker uses, max - log K must miss logsumexp - log K by far more than rounding."""
    inputs = []

    def max_only(lw):
        inputs.append(lw)
        return lw.max(0).values - math.log(lw.shape[0])

    with pytest.raises(ExerciseFailed, match="kept only the largest log-weight"):
        check_iwae(max_only)
    miss = max((torch.logsumexp(lw, 0) - lw.max(0).values).min().item() for lw in inputs)
    assert miss > 0.5


def test_grid_log_evidence_checker_needs_the_far_case_to_catch_underflow():
    """A plain log(sum(exp)) is right for the likely x and fails only where every term underflows; the checker
    must reject it with the underflow message, and accept torch's own log-densities."""
    from genviz_utils.exercises.vae import check_grid_log_evidence

    def log_joint(x, s, z):
        return (torch.distributions.Normal(0.0, 1.0).log_prob(z)
                + torch.distributions.Normal(z**2, s).log_prob(torch.full_like(z, x)))

    def naive(x, s, z):
        return torch.log(torch.exp(log_joint(x, s, z)).sum() * (z[1] - z[0]))

    z = torch.linspace(-5.0, 5.0, 2001, dtype=torch.float64)
    right = torch.logsumexp(log_joint(1.0, 0.2, z), 0) + torch.log(z[1] - z[0])
    assert torch.isclose(naive(1.0, 0.2, z), right)        # the likely x does not expose it
    assert not torch.isfinite(naive(-1.0, 0.02, z))          # the far x does
    with pytest.raises(ExerciseFailed, match="underflows"):
        check_grid_log_evidence(naive)
    assert check_grid_log_evidence(lambda x, s, z: torch.logsumexp(log_joint(x, s, z), 0) + torch.log(z[1] - z[0]))


def test_chapter_2_trains_with_the_learning_rate_that_the_vae_stand_in_uses():
    """Chapter 2 writes its Adam learning rate out for the reader; chapter 7's stand-in takes models.vae.VAE_LR."""
    import json
    import re
    from pathlib import Path

    from genviz_utils.models.vae import VAE_LR

    nb = Path(__file__).resolve().parents[1] / "notebooks" / "02_vae.ipynb"
    source = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
    rates = re.findall(r"torch\.optim\.Adam\(model\.parameters\(\), lr=([0-9.e-]+)\)", source)
    assert [float(r) for r in rates] == [VAE_LR], \
        f"chapter 2's train_vae uses Adam at {rates}, genviz_utils.models.vae.VAE_LR is {VAE_LR}"
    assert f'"Adam {rates[0]}"' in source, "chapter 2's drop_stale stamp names another learning rate"
