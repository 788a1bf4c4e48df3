"""The measurement behind the choice of browser runtime: the course's ``engine.js`` against ONNX Runtime Web.

Three networks at the sizes the chapters use (chapter 1's 2-D decoder, chapter 3's VQ-VAE token decoder and token
prior; random weights, since speed and exactness do not depend on training) run in headless Chromium, served
locally, in each runtime: time from the start of loading to the first image, one decode, one 49-token sample
(engine.js: one token per step with its key/value cache; ONNX Runtime: the whole prefix each step, as the exported
graph computes it), the largest difference from PyTorch, and the bytes fetched. ONNX Runtime runs its WebAssembly
backend on one thread (a static site cannot send the headers its threads need).

Needs npm, and the exporter's packages: ``pip install onnx onnxscript``. Not part of ``make``: run it by hand,
``python tools/runtime_eval.py`` (ONNX Runtime Web's version below), when the choice is to be made again.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
import warnings
from pathlib import Path

import torch
from live_bench import serve  # tools/, on the path when this script runs
from torch import nn

from genviz_utils.live.export import net_spec, prior_spec
from genviz_utils.live.page import asset
from genviz_utils.models.ae import ConvAutoencoder
from genviz_utils.models.vq import VQVAE, TokenPrior

ORT_VERSION = "1.30.0"
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
REPEATS = 5

COMMON = """
const R = window.R = {}, ref = await (await fetch('ref.json')).json();
const err = (y, r) => Math.max(...Array.from(y, (v, i) => Math.abs(v - r[i])));
const time = async (f, n) => {
  const t = performance.now();
  for (let i = 0; i < n; i++) await f();
  return (performance.now() - t) / n;
};
"""
ENGINE_PAGE = """<html><body><script src="engine.js"></script><script>(async () => {""" + COMMON + """
const G = window.genvizLive, specs = await (await fetch('specs.json')).json();
const ae = G.makeNet(specs.ae), y = ae(ref.ae.x); R.first_image_ms = performance.now(); R.ae_err = err(y, ref.ae.y);
R.ae_ms = await time(() => ae([Math.random(), 0.5]), 50);
const vq = G.makeNet(specs.vq); R.vq_err = err(vq(ref.vq.x), ref.vq.y); R.vq_ms = await time(() => vq(ref.vq.x), 50);
const pr = G.makePrior(specs.prior); R.prior_err = err(pr.logits(ref.prior.x), ref.prior.y);
R.sample_ms = await time(() => { const c = pr.start(); let tok = pr.K;
  for (let t = 0; t < pr.T; t++) tok = G.draw(G.probs(pr.step(c, tok, t), 1, null), Math.random()); }, 5);
R.done = true; })().catch((e) => { window.R = { error: String(e) }; });</script></body></html>"""
ORT_PAGE = """<html><body><script src="ort.wasm.min.js"></script><script>(async () => {""" + COMMON + """
ort.env.wasm.numThreads = 1; ort.env.wasm.wasmPaths = './';
const open = (f) => ort.InferenceSession.create(f, { executionProviders: ['wasm'] });
const run = async (s, t) => (await s.run({ [s.inputNames[0]]: t }))[s.outputNames[0]].data;
const z = (x) => new ort.Tensor('float32', Float32Array.from(x), [1, 2]);
const toks = new ort.Tensor('int64', BigInt64Array.from(ref.vq.x.map(BigInt)), [1, 7, 7]);
const ae = await open('ae.onnx'), y = await run(ae, z(ref.ae.x)); R.first_image_ms = performance.now();
R.ae_err = err(y, ref.ae.y); R.ae_ms = await time(() => run(ae, z([Math.random(), 0.5])), 50);
const vq = await open('vq.onnx'); R.vq_err = err(await run(vq, toks), ref.vq.y);
R.vq_ms = await time(() => run(vq, toks), 50);
const pr = await open('prior.onnx'); R.prior_err = err(await run(pr, toks), ref.prior.y);
R.sample_ms = await time(async () => { for (let t = 0; t < 49; t++) await run(pr, toks); }, 5);
R.done = true; })().catch((e) => { window.R = { error: String(e) }; });</script></body></html>"""


class _Images(nn.Module):
    """A course model as the function the explorers evaluate: latent or tokens -> image in [0, 1]."""

    def __init__(self, model: nn.Module, fn):
        super().__init__()
        self.model, self.fn = model, fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.model, x)


def _models() -> dict[str, tuple[nn.Module, nn.Module, torch.Tensor]]:
    """name -> (course model, module to export to ONNX, example input)."""
    torch.manual_seed(0)
    ae, vq = ConvAutoencoder(2, 32).eval(), VQVAE(64, 16, 32).eval()
    prior = TokenPrior(64, n_layer=2, n_embd=64, n_head=4).eval()
    tokens = torch.randint(0, 64, (1, 7, 7))
    return {"ae": (ae, _Images(ae, lambda m, z: m.decode(z)), torch.tensor([[0.3, -0.7]])),
            "vq": (vq, _Images(vq, lambda m, t: m.decode_tokens(t)), tokens),
            "prior": (prior, _Images(prior, lambda m, t: m(t)), tokens)}


def _prepare(folder: Path) -> None:
    npm = Path(".cache/npm-ort")
    if not (npm / "node_modules/onnxruntime-web").exists():
        npm.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--no-package-lock",
                        f"onnxruntime-web@{ORT_VERSION}"], cwd=npm, check=True)
    for f in ORT_FILES:
        shutil.copy(npm / "node_modules/onnxruntime-web/dist" / f, folder / f)
    (folder / "engine.js").write_text(asset("engine.js"))
    ref, specs = {}, {}
    for name, (model, module, x) in _models().items():
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (x,), folder / f"{name}.onnx", dynamo=True, opset_version=18, verbose=False,
                              external_data=False)
            ref[name] = {"x": x.flatten().tolist(), "y": module(x).flatten().tolist()}
        specs[name] = prior_spec(model) if name == "prior" else net_spec(model)
    (folder / "ref.json").write_text(json.dumps(ref))
    (folder / "specs.json").write_text(json.dumps(specs))
    (folder / "engine.html").write_text(ENGINE_PAGE)
    (folder / "ort.html").write_text(ORT_PAGE)


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _prepare(folder)
        url, httpd = serve(folder)
        runs: dict[str, list[dict]] = {"engine": [], "ort": []}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            for _ in range(REPEATS):
                for name in runs:
                    ctx = browser.new_context()
                    page, fetched = ctx.new_page(), []
                    page.on("response", lambda r, f=fetched: f.append(int(r.headers.get("content-length", 0))))
                    page.goto(f"{url}/{name}.html")
                    page.wait_for_function("window.R && (window.R.done || window.R.error)", timeout=120_000)
                    result = page.evaluate("window.R")
                    if "error" in result:
                        raise SystemExit(f"{name}: {result['error']}")
                    runs[name].append({**result, "bytes": sum(fetched)})
                    ctx.close()
            browser.close()
        httpd.shutdown()
    keys = ("first_image_ms", "ae_ms", "vq_ms", "sample_ms", "ae_err", "vq_err", "prior_err", "bytes")
    print(f"median of {REPEATS} page loads; ONNX Runtime Web {ORT_VERSION} (wasm, 1 thread)")
    print(f"{'':16}" + "".join(f"{k:>15}" for k in keys))
    for name, rs in runs.items():
        print(f"{name:16}" + "".join(f"{statistics.median(r[k] for r in rs):>15.4g}" for k in keys))


if __name__ == "__main__":
    main()
