"""Chapter 6's live denoising explorer (genviz_utils.live.diffusion): the page's rounded weights, its denoiser, its
DDIM sampler and its decoder compute what PyTorch computes for the rounded copies, the chapter-sized page stays
under the payload limit, and the controls redraw."""

from __future__ import annotations

import pytest
import torch

from genviz_utils.live.diffusion import live_denoising, page_models
from genviz_utils.live.export import b85_quantized, dequantize, quantize, round_weights
from genviz_utils.live.page import asset
from genviz_utils.models.diffusion import Denoiser, KLAutoencoder, MLPDenoiser, Schedule, ddim_step

NAMES = [f"class {i}" for i in range(10)]


def _models(hidden: int = 64, depth: int = 2) -> tuple[MLPDenoiser, KLAutoencoder]:
    """A small denoiser with its zero-initialised output layer made non-zero (so that it predicts some noise), and
    an autoencoder of width 8 with larger decoder weights (images far from grey)."""
    torch.manual_seed(0)
    den, ae = MLPDenoiser(hidden=hidden, depth=depth).eval(), KLAutoencoder(width=8).eval()
    with torch.no_grad():
        den.out[1].weight.normal_(0, 0.1)
        den.out[1].bias.normal_(0, 0.1)
        for p in ae.decoder_logits.parameters():
            p.mul_(2)
    return den, ae


@pytest.fixture(scope="module")
def page(chromium):
    pg = chromium.new_page()
    yield pg
    pg.close()


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_rounding_error_is_at_most_half_a_step(bits):
    w = torch.randn(37, 29) * torch.linspace(0.1, 3, 29)
    q, scales = quantize(w, bits, 64)
    err = (dequantize(q, scales, 64).view_as(w) - w).abs()
    step = scales.repeat_interleave(64)[:w.numel()].view_as(w)
    assert (err <= step / 2 + 1e-7).all()
    assert q.abs().max() == 2 ** (bits - 1) - 1, "the largest value of each group uses the top code"


def test_rounded_copy_rounds_only_large_weights():
    den, _ = _models()
    rounded, packed = round_weights(den, 4)
    assert set(packed) == {n + ".weight" for n, m in den.named_modules()
                           if isinstance(m, torch.nn.Linear) and m.weight.numel() >= 1024}
    assert torch.equal(rounded.label_emb.weight, den.label_emb.weight), "embeddings stay float32"
    assert not torch.equal(rounded.inp.weight, den.inp.weight)
    with pytest.raises(ValueError, match="4- or 8-bit"):
        b85_quantized(*quantize(den.inp.weight, 3, 64), 3, 64)


@pytest.mark.parametrize("bits", [4, 8])
def test_javascript_unpacks_the_codes_exactly(page, bits):
    w = torch.randn(3, 101)                      # 303 values: an odd count and a last group that is not full
    q, scales = quantize(w, bits, 64)
    page.set_content(f"<script>{asset('engine.js')}</script>")
    js = page.evaluate("(e) => Array.from(window.genvizLive.weights({weights: {w: e}}).w)",
                       b85_quantized(q, scales, bits, 64))
    assert torch.equal(torch.tensor(js), dequantize(q, scales, 64)), "the page's weights are not PyTorch's"


def _load(page, den, ae, **kw) -> str:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_content(live_denoising(den, ae, Schedule(1000), 1.3, NAMES, **kw).data)
    assert not errors, errors
    return page.evaluate("document.querySelector('.genviz-live').id")


def test_javascript_denoiser_sampler_and_decoder_match_pytorch(page):
    den, ae = _models()
    uid = _load(page, den, ae, label=3, w=2.5, steps=5)
    checks = page.evaluate(f"window.genvizLive.nets['{uid}'].decoders.map((n) => n.checkError)")
    assert len(checks) == 3 and all(e < 1e-4 for e in checks), checks
    # A second input, computed here: DDIM from the page's own noise for seed 7, 5 steps, w = 0 (one call)
    (pden, _), _ = page_models(den, ae)
    z = torch.tensor(page.evaluate("Array.from(window.genvizLive.gaussian(7, 196))")).view(1, 4, 7, 7)
    times, sched, x = [999, 750, 500, 250, 0], Schedule(1000), z.clone()
    js = torch.tensor(page.evaluate(f"""(times) => {{ const G = window.genvizLive, n = G.nets['{uid}'].decoders;
        return Array.from(n[2](G.gaussian(7, 196), 1, 0, times).final); }}""", times))
    with torch.no_grad():                  # the loop of ddim_sample, written out to start from the page's noise
        for i, t in enumerate(times):
            tt = torch.full((1,), t)
            a = sched.at("alpha_bar", tt, x)
            ap = (sched.at("alpha_bar", torch.full_like(tt, times[i + 1]), x) if i + 1 < len(times)
                  else torch.ones_like(a))
            x = ddim_step(x, pden(x, tt, torch.tensor([10])), a, ap, clip=3.0)
    assert (js - x.flatten()).abs().max() < 1e-4
    assert x.std() > 0.1


def test_gaussian_noise_of_the_page_is_standard_normal(page):
    page.set_content(f"<script>{asset('engine.js')}\n{asset('diffusion.js')}</script>")
    z = torch.tensor(page.evaluate("Array.from(window.genvizLive.gaussian(3, 20000))"))
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.03
    assert page.evaluate("window.genvizLive.gaussian(3, 5)[0] === window.genvizLive.gaussian(3, 5)[0]")


def test_controls_redraw_and_steps_follow_the_choice(page):
    den, ae = _models()
    _load(page, den, ae, steps=10)
    pixels = "Array.from(document.querySelector('canvas.out').getContext('2d').getImageData(0,0,168,168).data)"
    assert page.locator(".strip canvas").count() == 10
    before = page.evaluate(pixels)
    page.locator(".step").evaluate("(s) => { s.value = 0; s.dispatchEvent(new Event('input')); }")
    assert page.evaluate(pixels) != before, "the step slider must show z_t at that step"
    assert "t = 999" in page.locator(".info").inner_text()
    page.select_option(".steps", "25")
    assert page.locator(".strip canvas").count() == 25
    assert page.locator(".stepv").inner_text() == "25 / 25"
    before = page.evaluate(pixels)
    page.select_option(".label", "5")
    assert page.evaluate(pixels) != before, "another class must give another sample"
    before = page.evaluate(pixels)
    page.locator(".seed").evaluate("(s) => { s.value = 42; s.dispatchEvent(new Event('input')); }")
    assert page.evaluate(pixels) != before and page.locator(".seedv").inner_text() == "42"


def test_the_chapter_sized_page_fits_the_payload_limit():
    from tests.test_site import LIVE_PAYLOAD_LIMIT

    den, ae = MLPDenoiser(), KLAutoencoder()            # the chapter's sizes: 256 x 4, width 32
    with torch.no_grad():
        den.out[1].weight.normal_(0, 0.02)
    size = len(live_denoising(den, ae, Schedule(1000), 1.0, NAMES).data.encode())
    assert size < LIVE_PAYLOAD_LIMIT, f"{size:,} bytes"


def test_bad_input_names_the_fix():
    den, ae = _models()
    with pytest.raises(TypeError, match="MLPDenoiser"):
        live_denoising(Denoiser(), ae, Schedule(1000), 1.0, NAMES)
    with pytest.raises(TypeError, match="KLAutoencoder"):
        live_denoising(den, den, Schedule(1000), 1.0, NAMES)
    with pytest.raises(ValueError, match="steps must be one of"):
        live_denoising(den, ae, Schedule(1000), 1.0, NAMES, steps=7)
    with pytest.raises(ValueError, match="seed must be in 0..99"):
        live_denoising(den, ae, Schedule(1000), 1.0, NAMES, seed=100)
    with pytest.raises(ValueError, match="class_names"):
        live_denoising(den, ae, Schedule(1000), 1.0, NAMES[:5])
    with pytest.raises(ValueError, match=r"\(8, 7, 7\) latents"):
        page_models(MLPDenoiser(channels=8, hidden=64, depth=1), ae)


def test_rounding_a_model_fresh_from_training():
    """A KLAutoencoder whose critic has just run (its spectral norm holds tensors with autograd history) and a
    denoiser inside AveragedModel, as the chapter hands them over, are rounded without deep-copying them."""
    from torch.optim.swa_utils import AveragedModel

    _, ae = _models()
    ae.train()
    ae.critic(torch.rand(2, 1, 28, 28)).sum().backward()
    rounded, packed = round_weights(ae, 8)
    assert any(k.startswith("decoder_logits.") for k in packed) and not any(k.startswith("disc.") for k in packed)
    assert isinstance(rounded.disc, torch.nn.Identity)
    ema = AveragedModel(_models()[0])
    assert round_weights(ema.module, 4)[1]
    with pytest.raises(TypeError, match="config"):
        round_weights(torch.nn.Linear(64, 64), 4)
