"""Chapter 4's small networks on one CPU thread and on two: time per run and whether the numbers are identical.

    python tools/toy_threads.py [--repeats 5]

Runs the chapter's own functions (``mlp``, ``toy_step``, ``train_toy``, ``fit_discriminator``, read from
notebooks/04_gan.ipynb) for a few hundred steps of each configuration, alternating the thread count so that a busy
machine slows both alike, and prints the median seconds of each and whether the trained weights are bit-identical.
book/engineering.md quotes its output.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import nbformat
import torch

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "04_gan.ipynb"
NEEDED = ("def fit_discriminator(", "def mlp(", "def toy_step(", "def train_toy(")


def chapter_functions() -> dict:
    """The namespace of the chapter's cells that define NEEDED (in notebook order)."""
    ns: dict = {}
    exec("import torch\nfrom torch import nn\nfrom genviz_utils.runtime import seed_everything\n"
         "from genviz_utils.models.gan import d_loss, g_loss_nonsaturating\n"
         "xs = torch.linspace(-8, 10, 2001, dtype=torch.float64)", ns)
    for cell in nbformat.read(NOTEBOOK, 4).cells:
        if cell.cell_type == "code" and any(name in cell.source for name in NEEDED):
            exec(cell.source, ns)
    missing = [n for n in NEEDED if n[4:-1] not in ns]
    if missing:
        raise SystemExit(f"{NOTEBOOK} no longer defines {', '.join(missing)}: update this tool.")
    return ns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    ns, nn = chapter_functions(), torch.nn

    def weights(net: nn.Module) -> torch.Tensor:
        return torch.cat([p.detach().flatten() for p in net.parameters()])

    def d_fit() -> torch.Tensor:
        net = nn.Sequential(nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
        ns["fit_discriminator"](net, 400)
        return weights(net)

    runs = {"plain GAN (B=256)": lambda: weights(ns["train_toy"](200, seed=0)[0]),
            "PacGAN (packs of 4)": lambda: weights(ns["train_toy"](200, seed=0, pack=4)[0]),
            "plain GAN (B=1024)": lambda: weights(ns["train_toy"](200, seed=0, batch=1024)[0]),
            "WGAN-GP (100 G steps)": lambda: weights(ns["train_toy"](100, seed=0, wasserstein=True)[0]),
            "1-D discriminator fit": d_fit}
    seconds: dict = {}
    results: dict = {}
    for rep in range(args.repeats):
        for name, run in runs.items():
            for threads in ((1, 2) if rep % 2 == 0 else (2, 1)):
                torch.set_num_threads(threads)
                torch.manual_seed(0)
                t0 = time.perf_counter()
                results[(name, threads)] = run()
                seconds.setdefault((name, threads), []).append(time.perf_counter() - t0)
    print(f"median of {args.repeats} runs, torch {torch.__version__}")
    for name in runs:
        one, two = (statistics.median(seconds[(name, t)]) for t in (1, 2))
        same = torch.equal(results[(name, 1)], results[(name, 2)])
        print(f"{name:>22}: 1 thread {one:.2f} s, 2 threads {two:.2f} s (2 threads take {two / one:.2f}x); "
              f"weights identical: {same}")


if __name__ == "__main__":
    main()
