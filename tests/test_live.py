"""The in-browser decoder agrees with PyTorch (autoencoder decoders and the GAN generator with its BatchNorms
folded), and dragging on the pad changes the decoded image."""

from __future__ import annotations

import shutil

import pytest
import torch

from genviz_utils.live import export_conv_decoder, export_generator, fold_generator, live_latent_pad
from genviz_utils.models.ae import ConvAutoencoder
from genviz_utils.models.gan import Generator

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _model() -> ConvAutoencoder:
    torch.manual_seed(0)
    m = ConvAutoencoder(latent_dim=2, width=8).eval()
    with torch.no_grad():  # larger weights than at init, so that the images are not all grey
        for p in m.parameters():
            p.mul_(3)
    return m


def _generator(z_dim: int = 8, width: int = 8) -> Generator:
    """A small generator in eval mode whose BatchNorms have non-trivial running statistics and affine parameters."""
    torch.manual_seed(0)
    G = Generator(z_dim, width)
    with torch.no_grad():
        for _ in range(3):  # training-mode passes fill the running statistics...
            G(2 * torch.randn(16, z_dim) + 0.5)
        for bn in (G.fc[1], G.net[1]):  # ...and random ones make them (and the affine part) clearly non-trivial
            bn.running_mean.add_(0.3 * torch.randn_like(bn.running_mean))
            bn.running_var.mul_(torch.empty_like(bn.running_var).uniform_(0.3, 3.0))
            bn.weight.uniform_(0.5, 2.0)
            bn.bias.normal_(0, 0.5)
    return G.eval()


def _plane(d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(center (d,), basis (2, d)) through three fixed noise vectors, as in the GAN chapter."""
    z0, z1, z2 = torch.randn(3, d, generator=torch.Generator().manual_seed(1))
    return z0, torch.stack([z1 - z0, z2 - z0])


def test_export_rejects_other_modules_and_dims():
    with pytest.raises(TypeError, match="ConvDecoder"):
        export_conv_decoder(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="2-D latent"):
        live_latent_pad(ConvAutoencoder(latent_dim=3, width=4).decoder_logits)
    with pytest.raises(TypeError, match="ConvDecoder or a genviz_utils.models.gan.Generator, got Linear"):
        live_latent_pad(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="Generator"):
        export_generator(ConvAutoencoder(latent_dim=2, width=4).decoder_logits)
    with pytest.raises(ValueError, match=r"basis \(2, 8\)"):
        live_latent_pad(_generator(), basis=torch.randn(3, 8))


def test_folded_generator_reproduces_eval_mode_in_pytorch():
    G, z = _generator(), torch.randn(32, 8)
    for bn in (G.fc[1], G.net[1]):  # BN is far from the identity, so folding it wrongly would show
        assert bn.running_var.sub(1).abs().max() > 0.5 and bn.running_mean.abs().max() > 0.3
    t = {k: v.float() for k, v in fold_generator(G).items()}
    F = torch.nn.functional
    h = F.relu(F.linear(z, t["fc.0.weight"], t["fc.0.bias"])).view(-1, 16, 7, 7)
    h = F.relu(F.conv_transpose2d(h, t["net.0.weight"], t["net.0.bias"], stride=2, padding=1))
    x = torch.sigmoid(F.conv_transpose2d(h, t["net.2.weight"], t["net.2.bias"], stride=2, padding=1))
    with torch.no_grad():
        ref = (G(z) + 1) / 2
    assert (x - ref).abs().max() < 1e-5
    assert ref.std() > 0.05
    assert G.training is False and export_generator(G)["activation"] == "relu"


def test_page_weight_is_small_for_the_course_decoder():
    page = live_latent_pad(ConvAutoencoder(latent_dim=2).decoder_logits, points=torch.randn(1500, 2),
                           labels=torch.randint(0, 10, (1500,)))
    assert len(page.data.encode()) < 1_000_000, "a live explorer must stay under 1 MB per page"


def test_page_weight_is_small_for_the_chapter_generator():
    center, basis = _plane(64)
    page = live_latent_pad(Generator(z_dim=64, width=32).eval(), center=center, basis=basis,
                           points=torch.stack([center, center + basis[0], center + basis[1]]))
    assert len(page.data.encode()) < 1_000_000, "a live explorer must stay under 1 MB per page"


@pytest.fixture(scope="module")
def page():
    if not CHROMIUM:
        pytest.skip("Chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        pg = browser.new_page()
        yield pg
        browser.close()


def test_javascript_forward_pass_matches_pytorch(page):
    model = _model()
    page.set_content(live_latent_pad(model.decoder_logits, lim=2).data)
    uid = page.evaluate("document.querySelector('.genviz-live').id")  # this page's decoder
    for z in ([0.0, 0.0], [1.3, -0.7], [-2.0, 2.5]):
        js = torch.tensor(page.evaluate(f"Array.from(window.genvizLive.decoders['{uid}']({z}))"))
        with torch.no_grad():
            ref = model.decode(torch.tensor([z])).flatten()
        assert js.shape == ref.shape
        assert (js - ref).abs().max() < 1e-4, f"JS and torch disagree at z={z}"
        assert ref.std() > 0.01  # a non-trivial image, so agreement means something


def test_javascript_generator_matches_pytorch(page):
    G, (center, basis) = _generator(), _plane(8)
    page.set_content(live_latent_pad(G, center=center, basis=basis, lim=1.5).data)
    uid = page.evaluate("document.querySelector('.genviz-live').id")  # this page's decoder
    for u in ([0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.2, 0.7]):
        js = torch.tensor(page.evaluate(f"Array.from(window.genvizLive.decoders['{uid}']({u}))"))
        with torch.no_grad():
            ref = ((G(center + torch.tensor([u]) @ basis) + 1) / 2).flatten()
        assert js.shape == ref.shape
        assert (js - ref).abs().max() < 1e-4, f"JS and torch disagree at u={u}"
        assert ref.std() > 0.05


@pytest.mark.parametrize("kind", ["decoder", "generator"])
def test_dragging_changes_the_canvas(page, kind):
    if kind == "decoder":
        page.set_content(live_latent_pad(_model().decoder_logits, lim=2).data)
    else:
        center, basis = _plane(8)
        page.set_content(live_latent_pad(_generator(), center=center, basis=basis, lim=1.5).data)
    pixels = "Array.from(document.querySelector('canvas.out').getContext('2d').getImageData(0,0,168,168).data)"
    before = page.evaluate(pixels)
    box = page.locator("canvas.pad").bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 15, box["y"] + box["height"] - 25, steps=5)
    page.mouse.up()
    after = page.evaluate(pixels)
    assert sum(a != b for a, b in zip(before, after, strict=True)) > 1000, "dragging did not change the image"
    assert ("z = (" if kind == "decoder" else "(u1, u2) = (") in page.locator(".coords").inner_text()
