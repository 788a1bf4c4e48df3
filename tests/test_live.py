"""The in-browser decoder agrees with PyTorch, and dragging on the pad changes the decoded image."""

from __future__ import annotations

import shutil

import pytest
import torch

from genviz_utils.live import export_conv_decoder, live_latent_pad
from genviz_utils.models.ae import ConvAutoencoder

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _model() -> ConvAutoencoder:
    torch.manual_seed(0)
    m = ConvAutoencoder(latent_dim=2, width=8).eval()
    with torch.no_grad():  # larger weights than at init, so that the images are not all grey
        for p in m.parameters():
            p.mul_(3)
    return m


def test_export_rejects_other_modules_and_dims():
    with pytest.raises(TypeError, match="ConvDecoder"):
        export_conv_decoder(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="2-D latent"):
        live_latent_pad(ConvAutoencoder(latent_dim=3, width=4).decoder_logits)


def test_page_weight_is_small_for_the_course_decoder():
    page = live_latent_pad(ConvAutoencoder(latent_dim=2).decoder_logits, points=torch.randn(1500, 2),
                           labels=torch.randint(0, 10, (1500,)))
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
    uid = page.evaluate("Object.keys(window.genvizLive.decoders)[0]")
    for z in ([0.0, 0.0], [1.3, -0.7], [-2.0, 2.5]):
        js = torch.tensor(page.evaluate(f"Array.from(window.genvizLive.decoders['{uid}']({z}))"))
        with torch.no_grad():
            ref = model.decode(torch.tensor([z])).flatten()
        assert js.shape == ref.shape
        assert (js - ref).abs().max() < 1e-4, f"JS and torch disagree at z={z}"
        assert ref.std() > 0.01  # a non-trivial image, so agreement means something


def test_dragging_changes_the_canvas(page):
    page.set_content(live_latent_pad(_model().decoder_logits, lim=2).data)
    pixels = "Array.from(document.querySelector('canvas.out').getContext('2d').getImageData(0,0,168,168).data)"
    before = page.evaluate(pixels)
    box = page.locator("canvas.pad").bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 15, box["y"] + box["height"] - 25, steps=5)
    page.mouse.up()
    after = page.evaluate(pixels)
    assert sum(a != b for a, b in zip(before, after, strict=True)) > 1000, "dragging did not change the image"
    assert "z = (" in page.locator(".coords").inner_text()
