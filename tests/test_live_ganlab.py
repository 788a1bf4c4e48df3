"""The in-browser GAN Lab (genviz_utils/live/ganlab.js) agrees with PyTorch: its forward and backward passes and
losses with torch.autograd's, its Adam step with torch.optim.Adam's, its mode counter with count_modes, and a whole
training run's coverage with train_ring_gan's over three seeds each; and the element works (play changes the
canvas, switching the loss or the packing restarts training, no console errors, no requests)."""

from __future__ import annotations

import json
import time

import pytest
import torch

from genviz_utils.live.ganlab import LOSSES, live_gan_lab, ring_mlp, train_ring_gan
from genviz_utils.models.gan import count_modes, d_loss, ring_centers, sample_ring, second_half

LAB = "Object.values(window.genvizGanLab.labs)[0]"   # the one element of the page


def test_element_is_small_and_says_when_it_is_smaller_than_the_chapter():
    page = live_gan_lab().data
    assert len(page.encode()) < 100_000, "the GAN Lab carries code only, no weights"
    assert "a smaller GAN than the chapter's (widths 64 instead of 128, batch 64 instead of 256)" in page
    assert "smaller GAN" not in live_gan_lab(width=128, batch=256).data
    assert "https://" not in page and "http://" not in page, "nothing may be fetched"
    with pytest.raises(ValueError, match="loss must be one of"):
        live_gan_lab(loss="hinge")
    with pytest.raises(ValueError, match="loss must be one of"):
        train_ring_gan(1, loss="wasserstein")


@pytest.fixture(scope="module")
def page(chromium):
    pg = chromium.new_page()
    pg.set_content(live_gan_lab().data)
    yield pg
    pg.close()


def _flat(tensors) -> list[list[float]]:
    return [t.detach().flatten().tolist() for t in tensors]


def _rel(js: list[float], ref: torch.Tensor) -> float:
    """max |js - ref| / max |ref|."""
    ref = ref.detach().double().flatten()
    return ((torch.tensor(js, dtype=torch.float64) - ref).abs().max() / ref.abs().max()).item()


@pytest.mark.parametrize("pack", [1, 4])
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_javascript_losses_and_gradients_match_autograd(page, loss, pack):
    # width 10 and batch 5: odd sizes, so the blocked loops' edges (rows and outputs past a multiple of 2 or 4) run
    width, batch = 10, 5
    torch.manual_seed(pack)
    G, D = ring_mlp(16, 2, width), ring_mlp(2 * pack, 1, width, slope=0.2)
    with torch.no_grad():            # larger weights than at init: D's logits far from 0, ReLUs on and off
        for p in [*G.parameters(), *D.parameters()]:
            p.mul_(2.5)
    z, real = torch.randn(batch * pack, 16), sample_ring(batch * pack) * 0.8
    js = page.evaluate(f"""([G, D, z, real, loss, pack, width, batch]) => {{
        const lib = window.genvizGanLab, cfg = {{...{LAB}.gan.cfg, width, batch}};
        const gan = lib.makeGan(cfg, 0, loss, pack);
        lib.setParams(gan.G, G); lib.setParams(gan.D, D);
        const out = lib.lossesAndGradients(gan, Float32Array.from(z), Float32Array.from(real));
        return {{fake: Array.from(out.fake), lossD: out.lossD, lossG: out.lossG,
                gradD: out.gradD.map((g) => Array.from(g)), gradG: out.gradG.map((g) => Array.from(g))}};
    }}""", [_flat(G.parameters()), _flat(D.parameters()), z.flatten().tolist(), real.flatten().tolist(), loss, pack,
            width, batch])
    fake = G(z)
    loss_d = d_loss(D(real.view(batch, -1))[:, 0], D(fake.detach().view(batch, -1))[:, 0])
    grad_d = torch.autograd.grad(loss_d, list(D.parameters()))
    logits = D(fake.view(batch, -1))[:, 0]
    loss_g = LOSSES[loss](logits)
    grad_g = torch.autograd.grad(loss_g, list(G.parameters()))
    assert logits.abs().max() > 0.5 and (fake.abs() > 0).all()          # a test of something: D is not at 1/2
    assert _rel(js["fake"], fake) < 1e-4
    assert abs(js["lossD"] - loss_d.item()) < 1e-4 * abs(loss_d.item())
    assert abs(js["lossG"] - loss_g.item()) < 1e-4 * abs(loss_g.item())
    for name, got, ref in [("D", js["gradD"], grad_d), ("G", js["gradG"], grad_g)]:
        for k, (g, r) in enumerate(zip(got, ref, strict=True)):
            assert r.abs().max() > 1e-6, f"{name}'s gradient {k} is zero: the check would mean nothing"
            assert _rel(g, r) < 1e-4, f"{name}'s gradient {k} ({loss}, pack {pack}) differs from autograd's"


def test_javascript_adam_matches_torch(page):
    cfg = page.evaluate(f"{LAB}.gan.cfg")
    torch.manual_seed(0)
    params = [torch.randn(10, 16) * 0.3, torch.randn(10) * 0.3]
    grads = [[torch.randn_like(p) * scale for p in params] for scale in (1.0, 1e-3, 20.0)]   # three steps
    js = page.evaluate("""([params, grads, lr, betas, eps]) => {
        const lib = window.genvizGanLab, p = params.map((v) => Float32Array.from(v));
        const g = p.map((v) => new Float32Array(v.length)), opt = lib.makeAdam(p, g, lr, betas, eps);
        return grads.map((step) => { step.forEach((v, k) => g[k].set(v)); opt.step();
                                      return p.map((v) => Array.from(v)); });
    }""", [_flat(params), [_flat(g) for g in grads], cfg["lr"], cfg["betas"], cfg["eps"]])
    assert (cfg["lr"], cfg["betas"], cfg["eps"]) == (1e-3, [0.5, 0.999], 1e-8)   # the chapter's Adam
    ps = [p.clone().requires_grad_() for p in params]
    opt = torch.optim.Adam(ps, lr=cfg["lr"], betas=tuple(cfg["betas"]), eps=cfg["eps"])
    for step, (g_step, js_step) in enumerate(zip(grads, js, strict=True)):
        for p, g in zip(ps, g_step, strict=True):
            p.grad = g.clone()
        opt.step()
        for p, v in zip(ps, js_step, strict=True):
            err = (torch.tensor(v) - p.detach().flatten()).abs().max().item()
            assert err < 1e-6, f"Adam step {step + 1}: JS and torch differ by {err:.2e}"
    assert (ps[0].detach() - params[0]).abs().max() > 1e-3          # the parameters did move


def test_javascript_mode_counter_data_and_init_match_pytorch(page):
    centers = ring_centers()
    rng = torch.Generator().manual_seed(0)
    uneven = centers[torch.multinomial(torch.tensor([0.01] + [0.99 / 7] * 7), 1000, True, generator=rng)]
    sets = {"real ring": sample_ring(1000, generator=rng),
            "uneven ring": uneven + 0.05 * torch.randn(1000, 2, generator=rng),
            "two modes, wide": (centers[torch.randint(0, 2, (1000,), generator=rng)]
                                + 0.1 * torch.randn(1000, 2, generator=rng)),
            "uniform square": 6 * torch.rand(1000, 2, generator=rng) - 3}
    js = page.evaluate(f"""(sets) => {{
        const lib = window.genvizGanLab, gan = {LAB}.gan, c = gan.cfg;
        const counts = Object.fromEntries(Object.entries(sets).map(([k, v]) =>
            [k, lib.countModes(Float32Array.from(v), v.length / 2, gan.centers, c.std, c.min_fraction)]));
        const u = window.genvizLive.rng(5), gauss = lib.gaussianSource(u);
        const real = lib.sampleRing(new Float32Array(4000), 2000, gan.centers, c.std, u, gauss);
        const z = Float32Array.from({{length: 20000}}, gauss);
        return {{counts, real: Array.from(real), z: Array.from(z), W: Array.from(gan.G.layers[1].W)}};
    }}""", {k: v.flatten().tolist() for k, v in sets.items()})
    for name, pts in sets.items():
        modes, quality = count_modes(pts, centers)
        assert js["counts"][name][0] == modes, f"{name}: JS counts {js['counts'][name][0]} modes, torch {modes}"
        assert round(js["counts"][name][1] * len(pts)) == round(quality * len(pts)), name   # high-quality samples
    assert {v[0] for v in js["counts"].values()} == {8, 7, 2, 0}            # the sets do differ
    real_js = torch.tensor(js["real"]).view(-1, 2)
    assert count_modes(real_js, centers)[0] == 8 and count_modes(real_js, centers)[1] > 0.99
    z = torch.tensor(js["z"])
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.03                  # N(0, 1) noise
    W, ref = torch.tensor(js["W"]), ring_mlp(16, 2, 64)[2].weight.detach()   # nn.Linear(64, 64)'s default init
    assert W.abs().max() <= 1 / 8 + 1e-7 and abs(W.std() / ref.std() - 1) < 0.05


def _second_half_modes(records) -> float:
    return second_half([tuple(r) for r in records], 1)[0]


COVERAGE_STEPS = 2500   # fewer than the element's 10 000: the ring is found after about 1000-2500 steps


def test_browser_training_covers_the_ring_as_pytorch_does(chromium):
    """Three seeds each: the browser's mean of modes covered (over the second half of training) lies within the
    range of PyTorch's seeds +- 1 mode, plain and PacGAN alike. The browser runs in one page per seed, alongside
    PyTorch's runs."""
    seeds, pages = (0, 1, 2), []
    for seed in seeds:
        pg = chromium.new_page()
        pg.set_content(live_gan_lab().data)
        pg.evaluate(f"""([seed, steps]) => {{
            const lib = window.genvizGanLab, cfg = {LAB}.gan.cfg;
            window.runs = new Promise((done) => setTimeout(() => done([1, cfg.pack_size].map(
                (pack) => lib.trainRecords(cfg, seed, "nonsaturating", pack, steps, 50))), 0));
        }}""", [seed, COVERAGE_STEPS])     # returns at once: the page trains while PyTorch does
        pages.append(pg)
    py = {pack: [_second_half_modes(train_ring_gan(COVERAGE_STEPS, pack=pack, seed=s)) for s in seeds]
          for pack in (1, 4)}
    runs = [pg.evaluate("window.runs") for pg in pages]
    for pg in pages:
        pg.close()
    js = {pack: [_second_half_modes(r[k]) for r in runs] for k, pack in enumerate((1, 4))}
    print("modes covered, mean over the second half of training:", json.dumps({"python": py, "browser": js}))
    for pack, name in [(1, "plain GAN"), (4, "PacGAN")]:
        mean = sum(js[pack]) / len(js[pack])
        low, high = min(py[pack]) - 1, max(py[pack]) + 1
        assert low <= mean <= high, (f"{name}: the browser's mean {mean:.2f} modes is outside PyTorch's seeds "
                                     f"{py[pack]} +- 1")


def test_play_trains_and_switching_restarts(chromium):
    pg = chromium.new_page()
    errors, requests = [], []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("request", lambda r: requests.append(r.url))
    t0 = time.perf_counter()
    pg.set_content(live_gan_lab().data)
    loaded = time.perf_counter() - t0
    pixels = "Array.from(document.querySelector('canvas.scene').getContext('2d').getImageData(0,0,320,320).data)"
    before = pg.evaluate(pixels)
    assert len(set(before)) > 10, "the first frame is blank"
    assert pg.evaluate(f"{LAB}.firstFrameMs") < 1000 and loaded < 2
    pg.click("button.play")
    pg.wait_for_function(f"{LAB}.gan.step >= 50", timeout=20_000)
    pg.click("button.play")                                      # pause
    after = pg.evaluate(pixels)
    assert sum(a != b for a, b in zip(before, after, strict=True)) > 5000, "training did not change the canvas"
    assert int(pg.inner_text(".step")) == pg.evaluate(f"{LAB}.gan.step") >= 50
    assert pg.evaluate(f"{LAB}.playing") is False
    pg.select_option("select.loss", "saturating")
    assert pg.evaluate(f"[{LAB}.gan.step, {LAB}.gan.lossName]") == [0, "saturating"]
    assert pg.inner_text(".step") == "0"
    pg.click("button.stepone")
    pg.select_option("select.pack", "on")
    assert pg.evaluate(f"[{LAB}.gan.step, {LAB}.gan.pack, {LAB}.gan.D.sizes[0]]") == [0, 4, 8]
    # reset gives back the seed's starting weights; another seed gives others
    start = pg.evaluate(f"Array.from({LAB}.gan.G.layers[0].W)")
    pg.click("button.stepone")
    pg.click("button.reset")
    assert pg.evaluate(f"Array.from({LAB}.gan.G.layers[0].W)") == start
    pg.fill("input.seed", "3")
    pg.dispatch_event("input.seed", "change")
    assert pg.evaluate(f"Array.from({LAB}.gan.G.layers[0].W)") != start
    assert pg.evaluate(f"{LAB}.gan.seed") == 3
    assert not errors, f"console errors: {errors}"
    assert not requests, f"the element made requests: {requests}"
    pg.close()
