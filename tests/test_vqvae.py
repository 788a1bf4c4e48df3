"""Unit tests of the VQ-VAE reference pieces (genviz_utils.models.vq), its widgets and exercise checkers."""

from __future__ import annotations

import math
import os

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from genviz_utils.exercises import ExerciseFailed  # noqa: E402
from genviz_utils.exercises import vqvae as ex  # noqa: E402
from genviz_utils.models.vq import (  # noqa: E402
    VQVAE,
    TokenPrior,
    VectorQuantizer,
    bits_per_token,
    codebook_usage,
    drop_stale_prior,
    nearest_codes,
    perplexity,
    straight_through,
    tokenize_all,
    vq_losses,
)


def test_nearest_codes_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    z, e = torch.randn(200, 5, generator=g), torch.randn(17, 5, generator=g)
    brute = ((z[:, None, :] - e[None]) ** 2).sum(-1).argmin(1)
    assert torch.equal(nearest_codes(z, e), brute)
    with pytest.raises(ValueError, match="permute"):
        nearest_codes(torch.randn(2, 5, 3, 3), e)


def test_straight_through_value_and_gradient():
    z_e = torch.randn(4, 3, requires_grad=True)
    z_q = torch.randn(4, 3, requires_grad=True)
    out = straight_through(z_e, z_q)
    assert torch.allclose(out, z_q, atol=1e-6)
    g = torch.randn(4, 3)
    out.backward(g)
    assert torch.equal(z_e.grad, g) and z_q.grad is None


def test_vq_losses_send_gradient_to_the_right_side():
    z_e = torch.randn(8, 4, requires_grad=True)
    z_q = torch.randn(8, 4, requires_grad=True)
    codebook, commitment = vq_losses(z_e, z_q)
    assert torch.allclose(codebook, commitment)          # same value, different gradients
    codebook.backward()
    assert z_e.grad is None and z_q.grad is not None
    z_q.grad = None
    commitment.backward()
    assert z_q.grad is None and z_e.grad is not None


def test_usage_and_perplexity():
    one = torch.full((10, 7, 7), 2)
    assert codebook_usage(one, 8) == pytest.approx(1 / 8) and perplexity(one, 8) == pytest.approx(1.0)
    uniform = torch.arange(8).repeat(5)
    assert codebook_usage(uniform, 8) == 1.0 and perplexity(uniform, 8) == pytest.approx(8.0, rel=1e-5)
    # plug-in perplexity cannot exceed the number of tokens it sees
    many = torch.randint(0, 512, (4096,), generator=torch.Generator().manual_seed(0))
    assert perplexity(many[:10], 512) <= 10 < perplexity(many, 512)


def test_gradient_quantizer_trains_codebook_and_reports_stats():
    torch.manual_seed(0)
    vq = VectorQuantizer(6, 3, beta=0.25)
    z_e = torch.randn(2, 3, 4, 4, requires_grad=True)
    z_q, idx, stats = vq(z_e)
    assert z_q.shape == z_e.shape and idx.shape == (2, 4, 4) and idx.dtype == torch.int64
    assert torch.allclose(z_q, vq.codebook[idx].permute(0, 3, 1, 2), atol=1e-6)
    expected = stats["codebook"] + 0.25 * stats["commitment"]
    assert torch.allclose(stats["loss"], expected)
    stats["loss"].backward()
    assert vq.codebook.grad is not None and vq.codebook.grad.abs().sum() > 0
    assert 0 < float(stats["usage"]) <= 1 and 1 <= float(stats["perplexity"]) <= 6
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        vq(torch.randn(2, 5, 4, 4))


def test_ema_update_moves_codes_to_cluster_means():
    torch.manual_seed(0)
    vq = VectorQuantizer(2, 2, ema=True, decay=0.0, eps=1e-9)  # decay 0: codes jump to their cluster means
    vq.codebook.copy_(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
    vq.embed_sum.copy_(vq.codebook)
    pts = torch.tensor([[-2.0, 1.0], [-4.0, 1.0], [3.0, -1.0], [5.0, -1.0]])
    vq(pts.t().reshape(1, 2, 2, 2))
    assert torch.allclose(vq.codebook, torch.tensor([[-3.0, 1.0], [4.0, -1.0]]), atol=1e-5)
    assert not any(p is vq.codebook for p in vq.parameters())   # EMA codes are buffers, not parameters


def test_dead_code_restart_and_data_init():
    torch.manual_seed(0)
    z = torch.randn(4, 2, 5, 5) + 10                 # far from the N(0, 1) codes
    vq = VectorQuantizer(8, 2, restart_dead=True)
    vq.cluster_size.zero_()
    vq(z)                                            # all 100 vectors pick one code; the 7 others are dead
    moved = (vq.codebook.detach() > 5).all(1)
    assert int(moved.sum()) >= 7                     # every dead code moved onto an encoder output
    assert len(torch.unique(vq.codebook.detach()[moved], dim=0)) == int(moved.sum())   # no duplicates
    vq2 = VectorQuantizer(8, 2, init="data")
    vq2(z)
    assert bool(vq2.initialised) and (vq2.codebook.detach() > 5).all()
    vq3 = VectorQuantizer(8, 2, init="data").eval()  # no initialisation outside training
    vq3(z)
    assert not bool(vq3.initialised)


def test_vqvae_shapes_and_tokenize():
    torch.manual_seed(0)
    model = VQVAE(num_codes=16, code_dim=4, width=8)
    x = torch.rand(3, 1, 28, 28)
    x_hat, idx, stats = model(x)
    assert x_hat.shape == x.shape and idx.shape == (3, 7, 7) and "loss" in stats
    model.eval()
    assert torch.equal(model.tokenize(x), model(x)[1])
    assert torch.equal(tokenize_all(model, x, batch_size=2), model.tokenize(x))
    assert model.decode_tokens(idx).shape == (3, 1, 28, 28)
    assert ((x_hat >= 0) & (x_hat <= 1)).all()
    with pytest.raises(ValueError, match="28, 28"):
        model(torch.rand(3, 28, 28))


def test_vqvae_layers_have_the_commented_shapes():
    model = VQVAE(num_codes=16, code_dim=4, width=8)
    shapes, h = [], torch.rand(2, 1, 28, 28)
    for layer in model.encoder:
        h = layer(h)
        shapes.append(tuple(h.shape))
    assert shapes == [(2, 8, 14, 14)] * 2 + [(2, 16, 7, 7)] * 3 + [(2, 4, 7, 7)]
    shapes = []
    for layer in model.decoder_logits:
        h = layer(h)
        shapes.append(tuple(h.shape))
    assert shapes == [(2, 16, 7, 7)] * 3 + [(2, 8, 14, 14)] * 2 + [(2, 1, 28, 28)]


def test_drop_stale_prior(tmp_path):
    vqvae, prior = tmp_path / "vqvae.pt", tmp_path / "vqvae_prior.pt"
    with pytest.raises(FileNotFoundError, match="before its prior"):
        drop_stale_prior(prior, vqvae)
    vqvae.write_bytes(b"v")
    assert drop_stale_prior(prior, vqvae) is False                      # no prior: nothing to do
    prior.write_bytes(b"p")
    os.utime(vqvae, ns=(10**18, 10**18))
    os.utime(prior, ns=(10**18 + 1, 10**18 + 1))                        # prior newer: kept
    assert drop_stale_prior(prior, vqvae) is False and prior.exists()
    os.utime(prior, ns=(10**18, 10**18))                                # same time: kept
    assert drop_stale_prior(str(prior), str(vqvae)) is False and prior.exists()
    os.utime(prior, ns=(10**18 - 1, 10**18 - 1))                        # prior older: deleted
    assert drop_stale_prior(prior, vqvae) is True and not prior.exists()
    assert vqvae.exists()


def test_prior_is_causal_and_samples():
    torch.manual_seed(0)
    prior = TokenPrior(10, grid=(3, 3), n_layer=1, n_embd=16, n_head=2).eval()
    t = torch.randint(0, 10, (2, 3, 3))
    logits = prior(t)
    assert logits.shape == (2, 9, 10)
    t2 = t.clone()
    t2[:, 1, 1] = (t2[:, 1, 1] + 1) % 10            # token 4 in raster order
    logits2 = prior(t2)
    assert torch.allclose(logits[:, :5], logits2[:, :5], atol=1e-6)   # positions <= 4 cannot see it
    assert not torch.allclose(logits[:, 5:], logits2[:, 5:])
    s = prior.sample(5, generator=torch.Generator().manual_seed(0))
    assert s.shape == (5, 3, 3) and s.min() >= 0 and s.max() < 10
    assert abs(bits_per_token(prior, t) - math.log2(10)) < 1.5   # untrained: near uniform


# --- exercise checkers: accept the reference, reject typical mistakes with a useful message ---------------


def _ref_quantize(z_e, codebook):
    b, d, h, w = z_e.shape
    idx = nearest_codes(z_e.permute(0, 2, 3, 1).reshape(-1, d), codebook).view(b, h, w)
    return codebook[idx].permute(0, 3, 1, 2), idx


def test_check_quantize():
    assert ex.check_quantize(_ref_quantize)

    def no_permute(z_e, codebook):
        b, d, h, w = z_e.shape
        idx = nearest_codes(z_e.reshape(-1, d), codebook).view(b, h, w)
        return codebook[idx].permute(0, 3, 1, 2), idx

    def argmax(z_e, codebook):
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        idx = torch.cdist(flat, codebook).argmax(1).view(b, h, w)
        return codebook[idx].permute(0, 3, 1, 2), idx

    with pytest.raises(ExerciseFailed, match="channel axis last"):
        ex.check_quantize(no_permute)
    with pytest.raises(ExerciseFailed, match="farthest"):
        ex.check_quantize(argmax)
    with pytest.raises(ExerciseFailed, match="NotImplementedError"):
        ex.check_quantize(lambda z, c: (_ for _ in ()).throw(NotImplementedError))
    with pytest.raises(ExerciseFailed, match="pair"):
        ex.check_quantize(lambda z, c: _ref_quantize(z, c)[0])


def test_check_straight_through():
    assert ex.check_straight_through(straight_through)
    with pytest.raises(ExerciseFailed, match="no gradient at all"):
        ex.check_straight_through(lambda z_e, z_q: z_q.detach())
    with pytest.raises(ExerciseFailed, match="codebook"):
        ex.check_straight_through(lambda z_e, z_q: z_q + (z_e - z_e.detach()))
    with pytest.raises(ExerciseFailed, match="upstream gradient"):
        ex.check_straight_through(lambda z_e, z_q: z_e.detach() + (z_q - z_e.detach()).detach() + 0 * z_e)
    with pytest.raises(ExerciseFailed, match="forward value"):
        ex.check_straight_through(lambda z_e, z_q: z_e)


def test_check_vq_loss():
    def ref(z_e, z_q, beta):
        codebook, commitment = vq_losses(z_e, z_q)
        return codebook + beta * commitment

    def swapped(z_e, z_q, beta):
        codebook, commitment = vq_losses(z_e, z_q)
        return beta * codebook + commitment

    def no_stop_grad(z_e, z_q, beta):
        return (1 + beta) * ((z_e - z_q) ** 2).mean()

    assert ex.check_vq_loss(ref)
    with pytest.raises(ExerciseFailed, match="swapped"):
        ex.check_vq_loss(swapped)
    with pytest.raises(ExerciseFailed, match="No stop-gradient at all"):
        ex.check_vq_loss(no_stop_grad)
    with pytest.raises(ExerciseFailed, match="value"):
        ex.check_vq_loss(lambda z_e, z_q, beta: ((z_e - z_q) ** 2).sum())


def test_check_perplexity():
    assert ex.check_perplexity(perplexity)

    def entropy(idx, k):
        p = torch.bincount(idx.reshape(-1), minlength=k).float()
        p = p[p > 0] / p.sum()
        return float(-(p * p.log()).sum())

    def nan_version(idx, k):
        p = torch.bincount(idx.reshape(-1), minlength=k).float() / idx.numel()
        return float(torch.exp(-(p * p.log()).sum()))

    def mixed_bases(idx, k):
        p = torch.bincount(idx.reshape(-1), minlength=k).float()
        p = p[p > 0] / p.sum()
        return float(torch.exp(-(p * p.log2()).sum()))

    with pytest.raises(ExerciseFailed, match="entropy"):
        ex.check_perplexity(entropy)
    with pytest.raises(ExerciseFailed, match="0 \\* log 0"):
        ex.check_perplexity(nan_version)
    with pytest.raises(ExerciseFailed, match="mixed bases"):
        ex.check_perplexity(mixed_bases)


def test_widgets_draw_static_figures():
    from genviz_utils.vq_widgets import code_patches, codebook_viewer, show_token_maps, token_editor

    torch.manual_seed(0)
    model = VQVAE(num_codes=8, code_dim=4, width=8).eval()
    x = torch.rand(3, 1, 28, 28)
    assert show_token_maps(model, x, n=3) is not None
    assert codebook_viewer(model, counts=torch.arange(8), ncol=4) is not None
    assert token_editor(model, x[:1], codes=[0, 7], interactive=False) is None
    assert code_patches(model, x, n_codes=2, per_code=3) is not None
    with pytest.raises(ValueError, match="x\\[i:i\\+1\\]"):
        token_editor(model, x, interactive=False)


def test_top_k_filter_and_sampling():
    from genviz_utils.models.vq import top_k_filter

    logits = torch.tensor([[0.5, 2.0, -1.0, 3.0, 1.0], [4.0, 4.0, 0.0, -2.0, 1.0]])
    f = top_k_filter(logits, 2)
    assert torch.equal(torch.isfinite(f), torch.tensor([[False, True, False, True, False],
                                                        [True, True, False, False, False]]))
    assert torch.equal(f[torch.isfinite(f)], logits[torch.isfinite(f)])        # kept logits are unchanged
    assert torch.equal(top_k_filter(logits, 5), logits) and torch.equal(top_k_filter(logits, 9), logits)
    assert torch.equal(logits[0], torch.tensor([0.5, 2.0, -1.0, 3.0, 1.0]))     # the input is not modified
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="top_k"):
            top_k_filter(logits, bad)

    torch.manual_seed(0)
    prior = TokenPrior(10, grid=(3, 3), n_layer=1, n_embd=16, n_head=2).eval()
    # backward compatible: no top_k (or top_k >= K) draws exactly what the old sampler drew
    a = prior.sample(6, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, prior.sample(6, temperature=1.0, generator=torch.Generator().manual_seed(1), top_k=None))
    assert torch.equal(a, prior.sample(6, generator=torch.Generator().manual_seed(1), top_k=10))
    # top_k = 1 is greedy decoding: every token is the argmax given the tokens before it, whatever the seed
    g1 = prior.sample(3, generator=torch.Generator().manual_seed(2), top_k=1)
    assert torch.equal(g1, prior.sample(3, generator=torch.Generator().manual_seed(3), top_k=1))
    assert torch.equal(prior(g1).argmax(-1).view(3, 3, 3), g1)
    # top_k = 3: every sampled token is among the 3 most likely codes at its position
    s = prior.sample(20, generator=torch.Generator().manual_seed(4), top_k=3)
    top3 = prior(s).topk(3, dim=-1).indices                                       # (20, 9, 3)
    assert (top3 == s.view(20, 9, 1)).any(-1).all()
    with pytest.raises(ValueError, match="temperature"):
        prior.sample(2, temperature=0.0)


def _budgets(notebook: str, names: tuple[str, ...]) -> dict[str, str]:
    """The right-hand sides of the budget statements ``NAME = P.pick(...)`` of a chapter, by name."""
    import json
    import re
    from pathlib import Path

    nb = Path(__file__).resolve().parents[1] / "notebooks" / notebook
    source = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
    found = {}
    for name in names:
        line = re.search(rf"^{name} = (P\.pick\(.*?\))[ \t]*(#.*)?$", source, re.M | re.S)
        assert line, f"{notebook} no longer sets {name} = P.pick(...) on one line; update this test"
        found[name] = line[1]
    return found


def test_chapter_5_trains_its_vqvae_and_priors_with_chapter_3s_budgets():
    """Chapter 5 runs alone (Colab), so it writes chapter 3's budgets out again: for its base VQ-VAE when chapter 3
    did not run, and for its priors, which must be trained like chapter 3's for the VQ-VAE/VQ-GAN comparison. A
    budget tuned in chapter 3 must move in chapter 5 too; chapter 7's stand-in budget of the continued VQ-VAE's prior
    as well."""
    from genviz_utils.profiles import get_profile

    names = ("VQ_STEPS", "PRIOR_TRAIN", "PRIOR_STEPS", "PRIOR_BATCH", "PRIOR_LR")
    ch3, ch5 = _budgets("03_vqvae.ipynb", names), _budgets("05_vqgan.ipynb", names)
    for name in names:
        assert ch3[name] == ch5[name], f"{name}: chapter 3 has {ch3[name]}, chapter 5 {ch5[name]}"
    batch3, batch5 = _budgets("03_vqvae.ipynb", ("BATCH",))["BATCH"], _budgets("05_vqgan.ipynb", ("VQ_BATCH",))
    assert batch3 == batch5["VQ_BATCH"], f"chapter 3's BATCH is {batch3}, chapter 5's VQ_BATCH {batch5['VQ_BATCH']}"
    ch6 = _budgets("07_comparing_models.ipynb", ("PRIOR",))["PRIOR"]
    for profile in ("smoke", "book", "full"):
        P = get_profile(profile)
        prior = eval(ch6, {"P": P})
        expect = {k: eval(ch3[n], {"P": P}) for k, n in (("maps", "PRIOR_TRAIN"), ("steps", "PRIOR_STEPS"),
                                                         ("batch", "PRIOR_BATCH"), ("lr", "PRIOR_LR"))}
        assert prior == expect, f"chapter 7's PRIOR ({profile}) is {prior}, chapter 3's budget {expect}"


def test_chapter_3s_main_rate_is_the_package_rate_that_stand_ins_and_chapter_5_use():
    """Chapter 3 writes MAIN_LR out for the reader; chapter 5's base (when it trains one), chapter 7's stand-in and
    the continued VQ-VAE take models.vq.VQVAE_LR through model_zoo._train_chapter3_vqvae's default."""
    import inspect
    import json
    import re
    from pathlib import Path

    from genviz_utils import model_zoo
    from genviz_utils.models.vq import VQVAE_LR

    nb = Path(__file__).resolve().parents[1] / "notebooks" / "03_vqvae.ipynb"
    source = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
    found = re.search(r"^MAIN_LR = ([0-9.e-]+)", source, re.M)
    assert found and float(found[1]) == VQVAE_LR, "chapter 3's MAIN_LR differs from models.vq.VQVAE_LR"
    assert 'train_vqvae("vqvae", VQ_STEPS, lr=MAIN_LR' in source, "chapter 3's main model no longer uses MAIN_LR"
    assert 'f"Adam {MAIN_LR}, {VQ_STEPS} steps' in source, "chapter 3's drop_stale stamp does not name its rate"
    default = inspect.signature(model_zoo._train_chapter3_vqvae).parameters["lr"].default
    assert default == VQVAE_LR
