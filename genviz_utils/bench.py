"""Training throughput of the course's models, against the input pipeline most tutorials use.

    python -m genviz_utils.bench [--seconds 5] [--batch-size N] [--out _build/bench/bench.json]

For each model (ae, vae, vqvae, gan) one training step (forward, backward, optimizer update, each chapter's loss
and batch size) is timed on four rungs of a ladder, each adding one change to the one before:

- ``tutorial``: torchvision's ``FashionMNIST`` dataset with ``transforms.ToTensor()`` through a
  ``torch.utils.data.DataLoader(shuffle=True)``, PIL image by PIL image, float32, default layout, as common
  tutorials do (the baseline);
- ``resident``: the split sits on the device as one tensor and a batch is an index slice of it;
- ``channels_last``: the convolution weights in the layout of :func:`genviz_utils.training.fast_layout` (CPU only);
- ``course``: the step under :func:`genviz_utils.training.autocast` with ``precision="auto"``, i.e. bfloat16
  where the hardware has it: exactly what :func:`genviz_utils.training.train` does.

The rungs are measured in alternating rounds, so that a change of load on the machine affects them alike. They
share one process, whose memory allocator is set up as ``train`` does it
(:func:`genviz_utils.runtime.keep_freed_memory`). Because that setting is process-wide, the ``fresh_process`` entry
measures it the way a reader meets it: a new Python process running the tutorial pipeline with the allocator's
defaults, against a new process running the course's rung, alternately; its ratio is the headline ``speedup``
(``speedup_in_process`` is the ladder's).

``gflops`` is the model's achieved rate in the course's loop (FLOPs of one step counted by
``torch.utils.flop_counter.FlopCounterMode``, times steps per second) and ``utilization`` divides it by the
measured matrix-multiply peak of the precision the course ran in (``peak_gflops`` for float32,
``peak_gflops_bf16`` for bfloat16); ``utilization_fp32`` does the same for the ``channels_last`` rung. ``top_ops``
says where the course's step spends its time (profiler shares of the operators with the largest self time).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from .data import batch_indices, ensure_dataset, load_images
from .models.ae import ConvAutoencoder
from .models.gan import Discriminator, Generator, dcgan_optimizers, dcgan_step
from .models.vae import ConvVAE, neg_elbo
from .models.vq import VQVAE, TokenPrior
from .runtime import data_dir, keep_freed_memory, pick_device
from .training import autocast, fast_layout, native_bf16

Step = Callable[[torch.Tensor], object]

BATCH_SIZES = {"ae": 128, "vae": 128, "vqvae": 128, "gan": 64}   # the chapters' (book profile)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _best_rate(fn: Callable[[], object], flops: float, device: torch.device, seconds: float) -> float:
    """Best FLOP/s of ``fn`` (which does ``flops`` FLOPs) over repeated runs for about ``seconds``."""
    for _ in range(2):
        fn()
    _sync(device)
    best, t_end = 0.0, time.perf_counter() + seconds
    reps = 10 if device.type == "cuda" else 1
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        _sync(device)
        best = max(best, reps * flops / (time.perf_counter() - t0))
    return best


def peak_gflops(device: torch.device, dtype: torch.dtype = torch.float32, seconds: float = 1.0,
                n: int = 2048) -> float:
    """Measured matrix-multiply rate (GFLOP/s) of ``device`` in ``dtype``, the better of two libraries.

    ``a @ b`` (n x n) goes to the BLAS (MKL on x86 CPUs, cuBLAS on CUDA); a 1x1 convolution of a channels_last
    (8, n, 32, 32) tensor is the same matrix product, (8*32*32, n) x (n, n), done by the convolution library
    (oneDNN, cuDNN). Both count: on AMD CPUs MKL takes an AVX2 path and reaches about half of what oneDNN's AVX-512
    kernels, which run the course's convolutions, do.
    """
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    x = torch.randn(8, n, 32, 32, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
    w = b.view(n, n, 1, 1).contiguous(memory_format=torch.channels_last)
    flops = 2.0 * n ** 3
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False   # fp32 means fp32, not TF32
    try:
        blas = _best_rate(lambda: a @ b, flops, device, seconds / 2)
        conv = _best_rate(lambda: F.conv2d(x, w), flops * 8 * 32 * 32 / n, device, seconds / 2)
    finally:   # the models are timed with the defaults
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    return max(blas, conv) / 1e9


def make_step(name: str, device: torch.device, fast: bool = False, precision: str = "fp32") -> Step:
    """A training step of model ``name`` on a batch (B, 1, 28, 28) in [0, 1], with each chapter's loss.
    ``fast=True`` applies the course's :func:`fast_layout` to the model(s), as ``train`` does; ``precision`` is
    the argument of :func:`genviz_utils.training.autocast` the step runs under."""
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
        opt_g, opt_d = dcgan_optimizers(G, D)

        def gan_step(x: torch.Tensor) -> None:
            with autocast(device, precision):
                dcgan_step(G, D, opt_g, opt_d, x)
        return gan_step
    else:
        raise ValueError(f"unknown model {name!r}; choose from ae, vae, vqvae, gan.")
    if fast:
        fast_layout(model)

    def step(x: torch.Tensor) -> None:
        with autocast(device, precision):
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


def top_ops(step: Step, batches: Iterator[torch.Tensor], steps: int = 20, k: int = 6) -> dict[str, float]:
    """Where a step's time goes: the ``k`` operators with the largest self time under ``torch.profiler`` over
    ``steps`` steps, as shares of the total (device time on CUDA, CPU time elsewhere)."""
    from torch.profiler import ProfilerActivity, profile

    x = next(batches)
    cuda = x.device.type == "cuda"
    for _ in range(3):
        step(next(batches))
    with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
        for _ in range(steps):
            step(next(batches))
        _sync(x.device)
    attr = "self_device_time_total" if cuda else "self_cpu_time_total"
    times = {e.key: getattr(e, attr) for e in prof.key_averages()}
    total = sum(times.values()) or 1.0
    return {name: t / total for name, t in sorted(times.items(), key=lambda kv: -kv[1])[:k]}


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


def prior_step(device: torch.device, precision: str) -> tuple[Step, Iterator[torch.Tensor]]:
    """A training step of chapter 3's token prior (a small transformer, batch 32 of 7x7 token maps), and batches."""
    torch.manual_seed(0)
    prior = TokenPrior(64, grid=(7, 7), n_layer=2, n_embd=64, n_head=4).to(device)
    opt = torch.optim.AdamW(prior.parameters(), lr=1e-3)
    tokens = torch.randint(0, 64, (4096, 7, 7), device=device)

    def step(t: torch.Tensor) -> None:
        with autocast(device, precision):
            loss = prior.nll(t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return step, course_batches(tokens, 32)


def _worker(name: str, rung: str, seconds: float, bs: int) -> float:
    """img/s of ``name`` at batch size ``bs`` on ``rung`` ("tutorial" with the allocator's defaults, or "course" as
    ``train`` runs it), in this (fresh) process."""
    device = pick_device()
    if rung == "tutorial":
        step, batches = make_step(name, device), tutorial_batches(bs, device)
    else:
        keep_freed_memory()
        images = load_images("fashion-mnist", "train", device=device).images
        step, batches = make_step(name, device, fast=True, precision="auto"), course_batches(images, bs)
    return compare({rung: (step, batches)}, device, seconds, rounds=1)[rung]


def fresh_process(name: str, seconds: float, rounds: int = 2, batch_size: int | None = None) -> dict[str, float]:
    """img/s of the tutorial pipeline and of the course's loop, each in new Python processes, alternately."""
    totals = {"tutorial": 0.0, "course": 0.0}
    for _ in range(rounds):
        for rung in totals:
            cmd = [sys.executable, "-m", "genviz_utils.bench", "--worker", rung, "--models", name,
                   "--seconds", str(seconds), "--batch-size", str(batch_size or BATCH_SIZES[name])]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            totals[rung] += float(out.strip().splitlines()[-1]) / rounds
    return totals | {"speedup": totals["course"] / totals["tutorial"]}


def run(models: tuple[str, ...] = ("ae", "vae", "vqvae", "gan"), batch_size: int | None = None,
        seconds: float = 5.0, device: torch.device | None = None, sweep: tuple[int, ...] = (32, 64, 128, 256),
        sweep_model: str = "ae", fresh: bool = True) -> dict:
    """The bench. ``batch_size=None`` uses each chapter's batch size (:data:`BATCH_SIZES`); ``sweep`` lists the
    batch sizes at which ``sweep_model`` is also timed (tutorial and course rungs only); ``fresh=False``
    skips the fresh-process measurement (then ``speedup`` is the in-process one)."""
    device = device or pick_device()
    keep_freed_memory()
    images = load_images("fashion-mnist", "train", device=device).images
    bf16 = native_bf16(device)
    peak = peak_gflops(device)
    peak_bf16 = peak_gflops(device, torch.bfloat16) if bf16 else None
    course_peak = peak_bf16 if bf16 else peak
    out = {"device": str(device), "precision": "bf16" if bf16 else "fp32", "seconds_per_measurement": seconds,
           "peak_gflops": peak, "peak_gflops_bf16": peak_bf16, "models": {}}
    print(f"peak: {peak:.0f} GFLOP/s fp32" + (f", {peak_bf16:.0f} bf16" if bf16 else ""), flush=True)
    for name in models:
        bs = batch_size or BATCH_SIZES[name]
        flops = step_flops(make_step(name, device), images[:bs]) / bs
        rate = compare({
            "tutorial": (make_step(name, device), tutorial_batches(bs, device)),
            "resident": (make_step(name, device), course_batches(images, bs)),
            "channels_last": (make_step(name, device, fast=True), course_batches(images, bs)),
            "course": (make_step(name, device, fast=True, precision="auto"), course_batches(images, bs)),
        }, device, seconds, rounds=5)
        hot = top_ops(make_step(name, device, fast=True, precision="auto"), course_batches(images, bs))
        alone = fresh_process(name, seconds / 2, batch_size=bs) if fresh else None
        img_s, base = (alone["course"], alone["tutorial"]) if alone else (rate["course"], rate["tutorial"])
        gflops = flops * rate["course"] / 1e9
        out["models"][name] = {"batch_size": bs, "img_s": img_s, "baseline_img_s": base, "speedup": img_s / base,
                               "speedup_in_process": rate["course"] / rate["tutorial"], "fresh_process": alone,
                               "gflops": gflops, "utilization": gflops / course_peak,
                               "utilization_fp32": flops * rate["channels_last"] / 1e9 / peak,
                               "flops_per_image": flops, "ladder": rate, "top_ops": hot}
        print(f"{name:>6} (batch {bs}): " + ", ".join(f"{k} {v:.0f}" for k, v in rate.items())
              + f" img/s (x{rate['course'] / rate['tutorial']:.2f}); fresh processes: tutorial {base:.0f}, course "
              f"{img_s:.0f} (x{img_s / base:.2f}); {gflops:.1f} GFLOP/s = {100 * gflops / course_peak:.0f}% of "
              f"{course_peak:.0f}", flush=True)
    if bf16:   # the exception: chapters 3 and 5 train their token prior in fp32, because of this measurement
        rate = compare({p: prior_step(device, p) for p in ("fp32", "bf16")}, device, seconds, rounds=5)
        out["prior_maps_s"] = rate
        print("token prior: " + ", ".join(f"{k} {v:.0f}" for k, v in rate.items()) + " token maps/s", flush=True)
    if sweep:   # the batch-size trade-off, on one model (tutorial and course rungs)
        rows = {}
        for bs in sweep:
            rate = compare({"tutorial": (make_step(sweep_model, device), tutorial_batches(bs, device)),
                            "course": (make_step(sweep_model, device, fast=True, precision="auto"),
                                       course_batches(images, bs))}, device, seconds, rounds=5)
            rows[str(bs)] = rate | {"speedup": rate["course"] / rate["tutorial"]}
            print(f"{sweep_model} at batch {bs}: tutorial {rate['tutorial']:.0f}, course {rate['course']:.0f} img/s",
                  flush=True)
        out["batch_sweep"] = {"model": sweep_model, "rows": rows}
    n = max(1, len(out["models"]))
    out["mean_utilization"] = sum(m["utilization"] for m in out["models"].values()) / n
    out["mean_utilization_fp32"] = sum(m["utilization_fp32"] for m in out["models"].values()) / n
    return out


def print_headline(metrics: Path) -> None:
    """The course's headline figure, sample quality against training seconds (chapter 7's FD at and area under its
    curves, gathered by :func:`genviz_utils.report.headline`), as the last ``make book`` measured it: printed, not
    measured again."""
    head = json.loads(metrics.read_text()).get("headline") if metrics.exists() else None
    if not head:
        print(f"sample quality against training seconds: no curves in {metrics} (run `make book`)", flush=True)
        return
    print(f"sample quality against training seconds, as the last `make book` measured it ({metrics}):", flush=True)
    for key, per_model in head.items():
        print(f"  {key}: " + ", ".join(f"{name} {v:.4g}" for name, v in per_model.items()), flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("_build/bench/bench.json"))
    ap.add_argument("--batch-size", type=int, default=None, help="one batch size for all (default: each chapter's)")
    ap.add_argument("--seconds", type=float, default=5.0, help="timing window per model and pipeline")
    ap.add_argument("--models", default="ae,vae,vqvae,gan")
    ap.add_argument("--sweep", default="32,64,128,256", help="batch sizes for the trade-off table ('' for none)")
    ap.add_argument("--worker", choices=("tutorial", "course"), help=argparse.SUPPRESS)   # see fresh_process
    ap.add_argument("--no-fresh", action="store_true", help="skip the fresh-process measurement")
    ap.add_argument("--metrics", type=Path, default=Path("_build/metrics.json"),
                    help="metrics.json of the last `make book`; its sample quality against training seconds is "
                    "printed first")
    args = ap.parse_args(argv)
    if args.worker:
        print(_worker(args.models, args.worker, args.seconds, args.batch_size or BATCH_SIZES[args.models]))
        return
    print_headline(args.metrics)
    sweep = tuple(int(b) for b in args.sweep.split(",") if b)
    result = run(tuple(args.models.split(",")), args.batch_size, args.seconds, sweep=sweep,
                 fresh=not args.no_fresh)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
