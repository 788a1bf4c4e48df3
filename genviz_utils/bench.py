"""Training throughput of the course's models, against the input pipeline most tutorials use.

    python -m genviz_utils.bench [--seconds 5] [--batch-size 128] [--out _build/bench/bench.json]

For each model (ae, vae, vqvae, gan) one training step (forward, backward, optimizer update) is timed three ways
with the same model, batch size and step function:

- ``img_s``: the course's way, as :func:`genviz_utils.training.train` runs it: the split sits on the device as one
  tensor, a batch is an index slice of it, and on a CPU the model's weights are in the channels_last layout of
  :func:`genviz_utils.training.fast_layout`;
- ``img_s_default_layout``: the same without the layout change (the data path's share of the gain);
- ``baseline_img_s``: torchvision's ``FashionMNIST`` dataset with ``transforms.ToTensor()`` through a
  ``torch.utils.data.DataLoader(shuffle=True)``, PIL image by PIL image, and the default layout, as common
  tutorials do.

The three are measured in alternating rounds, so that a change of load on the machine affects them alike.

``gflops`` is the model's achieved rate in the course's loop (FLOPs of one step counted by
``torch.utils.flop_counter.FlopCounterMode``, times steps per second) and ``utilization`` divides it by
``peak_gflops``, the measured fp32 matrix-multiply rate of the device. The output is
``{"device", "peak_gflops", "models": {name: {"img_s", "baseline_img_s", "speedup", "gflops", "utilization"}}}``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from .data import batch_indices, ensure_dataset, load_images
from .models.ae import ConvAutoencoder
from .models.gan import Discriminator, Generator, dcgan_step
from .models.vae import ConvVAE, neg_elbo
from .models.vq import VQVAE
from .runtime import data_dir, pick_device
from .training import fast_layout

Step = Callable[[torch.Tensor], object]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_gflops(device: torch.device, sizes: tuple[int, ...] = (1024, 2048, 4096), seconds: float = 1.5) -> float:
    """Measured fp32 GEMM rate (GFLOP/s) of ``device``: repeated n x n matrix products for each n in ``sizes``,
    the best run of all."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False        # fp32, not TF32
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
        for _ in range(2):
            a @ b
        _sync(device)
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            reps = 10 if device.type == "cuda" else 1
            t0 = time.perf_counter()
            for _ in range(reps):
                a @ b
            _sync(device)
            best = max(best, reps * 2 * n ** 3 / (time.perf_counter() - t0))
    return best / 1e9


def make_step(name: str, device: torch.device, fast: bool = False) -> Step:
    """A training step of model ``name`` on a batch (B, 1, 28, 28) in [0, 1], with each chapter's loss.
    ``fast=True`` applies the course's :func:`fast_layout` to the model(s), as ``train`` does."""
    torch.manual_seed(0)
    if name == "ae":
        model = ConvAutoencoder(2).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        loss_fn = lambda x: ((model(x) - x) ** 2).flatten(1).sum(1).mean()  # noqa: E731
    elif name == "vae":
        model = ConvVAE(16).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        loss_fn = lambda x: neg_elbo(model, x)[0].mean()  # noqa: E731
    elif name == "vqvae":
        model = VQVAE(num_codes=64, code_dim=16).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)

        def loss_fn(x):
            x_hat, _, stats = model(x)
            return F.mse_loss(x_hat, x) + stats["loss"]
    elif name == "gan":
        G, D = Generator(64).to(device), Discriminator().to(device)
        if fast:
            fast_layout(G, D)
        opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))

        return lambda x: dcgan_step(G, D, opt_g, opt_d, x)
    else:
        raise ValueError(f"unknown model {name!r}; choose from ae, vae, vqvae, gan.")
    if fast:
        fast_layout(model)

    def step(x: torch.Tensor) -> None:
        loss = loss_fn(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def step_flops(step: Step, x: torch.Tensor) -> int:
    """FLOPs of one training step (forward + backward; optimizer updates are not counted)."""
    with FlopCounterMode(display=False) as counter:
        step(x)
    return counter.get_total_flops()


def _timed(step: Step, batches: Iterator[torch.Tensor], device: torch.device, seconds: float) -> tuple[int, float]:
    """(images, seconds) of ``step`` fed from ``batches`` for about ``seconds``; data loading counts."""
    _sync(device)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        x = next(batches)
        step(x)
        n += x.shape[0]
    _sync(device)
    return n, time.perf_counter() - t0


def compare(runs: dict[str, tuple[Step, Iterator[torch.Tensor]]], device: torch.device, seconds: float,
            rounds: int = 3, warmup: int = 3) -> dict[str, float]:
    """Images per second of each (step, batches) pair, measured in ``rounds`` alternating rounds of
    ``seconds / rounds`` each (after ``warmup`` steps), so that load changes affect every pair alike."""
    for step, batches in runs.values():
        for _ in range(warmup):
            step(next(batches))
    totals = {name: [0, 0.0] for name in runs}
    for _ in range(rounds):
        for name, (step, batches) in runs.items():
            n, t = _timed(step, batches, device, seconds / rounds)
            totals[name][0] += n
            totals[name][1] += t
    return {name: n / t for name, (n, t) in totals.items()}


def course_batches(images: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    """Index slices of the device-resident split (what ``genviz_utils.training.train`` does)."""
    step = 0
    while True:
        yield images[batch_indices(len(images), batch_size, step, 0, images.device)]
        step += 1


def tutorial_batches(batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    """torchvision FashionMNIST + ToTensor + DataLoader(shuffle=True), moved to ``device`` batch by batch."""
    from torchvision import datasets, transforms

    ensure_dataset("fashion-mnist")
    ds = datasets.FashionMNIST(str(data_dir()), train=True, download=False, transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=True)
    while True:
        for x, _ in loader:
            yield x.to(device)


def run(models: tuple[str, ...] = ("ae", "vae", "vqvae", "gan"), batch_size: int = 128, seconds: float = 5.0,
        device: torch.device | None = None) -> dict:
    device = device or pick_device()
    images = load_images("fashion-mnist", "train", device=device).images
    peak = peak_gflops(device)
    out = {"device": str(device), "batch_size": batch_size, "seconds_per_measurement": seconds,
           "peak_gflops": peak, "models": {}}
    for name in models:
        flops = step_flops(make_step(name, device), images[:batch_size])
        rate = compare({
            "course": (make_step(name, device, fast=True), course_batches(images, batch_size)),
            "default_layout": (make_step(name, device), course_batches(images, batch_size)),
            "baseline": (make_step(name, device), tutorial_batches(batch_size, device)),
        }, device, seconds)
        img_s, base = rate["course"], rate["baseline"]
        gflops = flops / batch_size * img_s / 1e9
        out["models"][name] = {"img_s": img_s, "img_s_default_layout": rate["default_layout"],
                               "baseline_img_s": base, "speedup": img_s / base, "gflops": gflops,
                               "utilization": gflops / peak, "flops_per_image": flops / batch_size}
        print(f"{name:>6}: {img_s:7.0f} img/s (default layout {rate['default_layout']:6.0f}, tutorial pipeline "
              f"{base:6.0f}: x{img_s / base:.2f}), {gflops:6.1f} GFLOP/s = {100 * gflops / peak:.0f}% of "
              f"{peak:.0f}", flush=True)
    out["mean_utilization"] = sum(m["utilization"] for m in out["models"].values()) / max(1, len(out["models"]))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("_build/bench/bench.json"))
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=5.0, help="timing window per model and pipeline")
    ap.add_argument("--models", default="ae,vae,vqvae,gan")
    args = ap.parse_args(argv)
    result = run(tuple(args.models.split(",")), args.batch_size, args.seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
