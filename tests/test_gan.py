import pytest
import torch
import torch.nn.functional as F

from genviz_utils.exercises import ExerciseFailed
from genviz_utils.exercises.gan import check_count_modes, check_nonsaturating_loss, check_optimal_discriminator
from genviz_utils.models.gan import (
    Discriminator,
    Generator,
    count_modes,
    d_hinge_loss,
    d_loss,
    g_loss_nonsaturating,
    g_loss_saturating,
    ring_centers,
    sample_ring,
)


def test_losses_match_their_definitions():
    logits_r, logits_f = torch.randn(7), torch.randn(7)
    dr, df = torch.sigmoid(logits_r), torch.sigmoid(logits_f)
    assert torch.isclose(d_loss(logits_r, logits_f), -(dr.log().mean() + (1 - df).log().mean()), atol=1e-5)
    assert torch.isclose(g_loss_saturating(logits_f), (1 - df).log().mean(), atol=1e-5)
    assert torch.isclose(g_loss_nonsaturating(logits_f), -df.log().mean(), atol=1e-5)
    assert torch.isclose(d_hinge_loss(torch.tensor([2.0]), torch.tensor([-2.0])), torch.tensor(0.0))
    assert torch.isfinite(g_loss_nonsaturating(torch.tensor([-100.0])))


def test_saturation_gradients():
    logit = torch.tensor([-6.0], requires_grad=True)  # D(G(z)) ~ 0.0025: the critic wins
    (g_sat,) = torch.autograd.grad(g_loss_saturating(logit), logit)
    (g_ns,) = torch.autograd.grad(g_loss_nonsaturating(logit), logit)
    assert g_sat.abs() < 0.01 < 0.9 < g_ns.abs()


def test_dcgan_shapes_and_errors():
    G, D = Generator(16, width=8), Discriminator(width=8)
    x = G(torch.randn(5, 16))
    assert x.shape == (5, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert D(x).shape == (5,)
    assert Discriminator(width=8, patch=True, spectral=True)(x).shape == (5, 7, 7)
    assert Discriminator(width=8, norm=True)(x).shape == (5,)
    with pytest.raises(ValueError, match=r"\(B, 16\)"):
        G(torch.randn(5, 8))
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        D(torch.randn(5, 28, 28))


def test_ring_and_mode_counting():
    c = ring_centers(8)
    assert torch.allclose(c.norm(dim=1), torch.full((8,), 2.0))
    assert count_modes(sample_ring(2000, generator=torch.Generator().manual_seed(0)), c)[0] == 8
    collapsed = c[[0]].repeat(1000, 1)
    assert count_modes(collapsed, c) == (1, 1.0)
    assert count_modes(torch.zeros(100, 2), c) == (0, 0.0)


def test_checkers_accept_and_reject():
    assert check_optimal_discriminator(lambda p, q: p / (p + q))
    with pytest.raises(ExerciseFailed, match="REAL"):
        check_optimal_discriminator(lambda p, q: q / (p + q))
    assert check_nonsaturating_loss(lambda lg: F.softplus(-lg).mean())
    with pytest.raises(ExerciseFailed, match="saturating"):
        check_nonsaturating_loss(lambda lg: -F.softplus(lg).mean())
    with pytest.raises(ExerciseFailed, match="inf/nan"):
        check_nonsaturating_loss(lambda lg: -torch.log(torch.sigmoid(lg)).mean())  # naive: underflows

    def good(s, c):
        d, n = torch.cdist(s, c).min(1)
        return int((torch.bincount(n[d < 0.15], minlength=len(c)) >= 0.02 * len(s)).sum())

    assert check_count_modes(good)
    with pytest.raises(ExerciseFailed, match="modes"):
        check_count_modes(lambda s, c: len(c))


def test_discriminator_other_sizes():
    x = torch.rand(2, 3, 32, 32)
    assert Discriminator(width=4, in_channels=3, image_size=32)(x).shape == (2,)
    assert Discriminator(width=4, in_channels=3, patch=True)(x).shape == (2, 8, 8)
    with pytest.raises(ValueError, match="multiple of 4"):
        Discriminator(image_size=30)


def test_dcgan_step_updates_both_players():
    from genviz_utils.models.gan import dcgan_step

    torch.manual_seed(0)
    G, D = Generator(8, width=4), Discriminator(width=4)
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 1e-2), torch.optim.Adam(D.parameters(), 1e-2)
    g0, d0 = G.fc[0].weight.clone(), D.head.weight.clone()
    losses = dcgan_step(G, D, opt_g, opt_d, torch.rand(6, 1, 28, 28))
    assert set(losses) == {"loss_d", "loss_g"} and all(torch.isfinite(v) for v in losses.values())
    assert not torch.equal(g0, G.fc[0].weight) and not torch.equal(d0, D.head.weight)


def test_largest_mode_share_and_on_ring_fraction():
    from genviz_utils.models.gan import largest_mode_share, on_ring_fraction

    c = ring_centers(8)
    even = c.repeat(10, 1)                                   # 10 samples exactly at each mode
    assert largest_mode_share(even, c) == pytest.approx(1 / 8)
    crowded = torch.cat([c[[0]].repeat(30, 1), c[1:].repeat(10, 1)])
    assert largest_mode_share(crowded, c) == pytest.approx(30 / 100)
    assert largest_mode_share(torch.zeros(5, 2), c) == 0.0  # no high-quality sample at all
    between = 2 * torch.stack([torch.tensor(0.3927).cos(), torch.tensor(0.3927).sin()])[None]  # on the ring
    assert on_ring_fraction(torch.cat([even, between, torch.zeros(1, 2)])) == pytest.approx(81 / 82)
    with pytest.raises(ValueError, match=r"\(N, d\)"):
        largest_mode_share(torch.zeros(5, 3), c)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        on_ring_fraction(torch.zeros(5))


def test_sample_even_ring_draws_angles_then_radii():
    import math

    from genviz_utils.models.gan import count_modes, sample_even_ring

    pts = sample_even_ring(20_000, generator=torch.Generator().manual_seed(4))
    rng = torch.Generator().manual_seed(4)
    angle, radius = 2 * math.pi * torch.rand(20_000, generator=rng), 2 + 0.05 * torch.randn(20_000, generator=rng)
    assert torch.equal(pts, torch.stack([radius * angle.cos(), radius * angle.sin()], 1))
    quality = count_modes(pts, ring_centers(8))[1]
    assert 0.05 < quality < 0.2       # only the arcs near the 8 modes count: about 8 * 0.3 / (2 pi * 2)
    with pytest.raises(ValueError, match="positive"):
        sample_even_ring(0)


def test_second_half_statistics():
    from genviz_utils.models.gan import mean_se, records_up_to, second_half, z_gap

    values = [9.0, 9.0, 9.0, 9.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]      # the first half must not count
    records = [(10 * i, v) for i, v in enumerate(values)]             # (step, value)
    assert records_up_to(records, 40) == records[:5]
    mean, se = second_half(records, 1)
    late = torch.tensor(values[5:])
    assert mean == pytest.approx(0.4) and se == pytest.approx(late.std().item() / 5 ** 0.5)
    shifted = [(s, v + 1.0) for s, v in records]
    assert z_gap(shifted, records, 1) == pytest.approx(1 / (2 ** 0.5 * se))
    assert mean_se(records, 1) == f"{mean:.3f}±{se:.3f}"
    with pytest.raises(ValueError, match="at least 2 records"):
        second_half(records[:2], 1)


def test_chapter_4_trains_with_the_package_dcgan_settings_that_stand_ins_and_bench_use():
    """Chapter 4 writes its Adam settings out for the reader; the stand-in of chapter 7 and `make bench` take them
    from `dcgan_optimizers`. The two must be the same recipe."""
    import json
    import re
    from pathlib import Path

    from genviz_utils.models.gan import DCGAN_BETAS, DCGAN_LR_D, DCGAN_LR_G, dcgan_optimizers

    nb = Path(__file__).resolve().parents[1] / "notebooks" / "04_gan.ipynb"
    source = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
    found = re.search(r"^LR_G, LR_D = ([0-9.e-]+), ([0-9.e-]+)", source, re.M)
    assert found, "chapter 4 no longer sets LR_G, LR_D in one line; update this test"
    assert (float(found[1]), float(found[2])) == (DCGAN_LR_G, DCGAN_LR_D), \
        "chapter 4's learning rates differ from genviz_utils.models.gan.DCGAN_LR_G / DCGAN_LR_D"
    betas = f"betas=({DCGAN_BETAS[0]}, {DCGAN_BETAS[1]})"
    for net, rate in (("G", "LR_G"), ("D", "LR_D")):   # each player's optimizer gets its own rate
        assert f"opt_{net.lower()} = torch.optim.Adam({net}.parameters(), {rate}, {betas})" in source, \
            f"chapter 4 no longer builds opt_{net.lower()} with {rate} and {betas}"
    assert f'f"Adam: G {{LR_G}}, D {{LR_D}}, betas ({DCGAN_BETAS[0]}, {DCGAN_BETAS[1]})"' in source, \
        "chapter 4's drop_stale stamp does not name its Adam settings"
    opt_g, opt_d = dcgan_optimizers(torch.nn.Linear(1, 1), torch.nn.Linear(1, 1))
    assert (opt_g.defaults["lr"], opt_d.defaults["lr"], opt_g.defaults["betas"]) == (DCGAN_LR_G, DCGAN_LR_D,
                                                                                      DCGAN_BETAS)
