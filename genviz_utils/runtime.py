"""Device choice, seeding, the memory allocator, the folders the course writes to, two helpers for running a
model on many inputs (:func:`eval_mode`: evaluate, then restore training mode; :func:`apply_batched`)."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import platform
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch


def pick_device(prefer: str | None = None) -> torch.device:
    """``cuda`` if present, else Apple ``mps``, else ``cpu``; ``prefer`` (or ``$GENVIZ_DEVICE``) overrides."""
    prefer = prefer or os.environ.get("GENVIZ_DEVICE")
    if prefer:
        dev = torch.device(prefer)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("GENVIZ_DEVICE asks for cuda, but torch sees no CUDA GPU. Unset it to use the CPU.")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3    # glibc's mallopt parameter numbers


def keep_freed_memory(mmap_threshold: int = 64 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Let glibc's malloc keep freed blocks for reuse instead of handing them back to the OS (Linux + glibc only).

    A CPU training step allocates and frees megabytes of activations. With glibc's defaults, blocks above a
    threshold are given back to the kernel on ``free`` (``munmap``, heap trimming) and page-faulted in again,
    zeroed, by the next step (``make bench`` measures what that costs a plain tutorial script). Blocks below
    ``mmap_threshold`` now come from the heap, and the heap keeps up to ``trim_threshold`` free bytes. Returns
    whether the setting took effect; elsewhere it does nothing.
    """
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold) and libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold))
    except (OSError, AttributeError):
        return False


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU ``torch.Generator`` seeded the same."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def cache_dir() -> Path:
    """Root of everything the course caches: ``$GENVIZ_CACHE`` or ``~/.cache/genviz``."""
    root = Path(os.environ.get("GENVIZ_CACHE", Path.home() / ".cache" / "genviz")).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def data_dir() -> Path:
    """Where datasets live (torchvision layout): ``$GENVIZ_DATA`` or ``<cache>/data``."""
    env = os.environ.get("GENVIZ_DATA")
    root = Path(env).expanduser() if env else cache_dir() / "data"
    root.mkdir(parents=True, exist_ok=True)
    return root


def checkpoint_dir(profile: str) -> Path:
    """Checkpoints of one profile (``<cache>/checkpoints/<profile>``), shared between chapters."""
    root = Path(os.environ.get("GENVIZ_CHECKPOINTS", cache_dir() / "checkpoints")).expanduser() / profile
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextlib.contextmanager
def eval_mode(*modules: torch.nn.Module) -> Iterator[None]:
    """Put ``modules`` in eval mode for the ``with`` block, then give each back the mode it had (training or not)."""
    was = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, training in zip(modules, was, strict=True):
            m.train(training)


def apply_batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``fn`` on consecutive slices of ``x`` of at most ``batch_size`` rows, results concatenated along the first
    axis: (N, ...) -> (N, ...) as ``fn(x)`` would give, with the memory of one batch. ``fn`` must return a tensor with
    one row per input row (or per batch, e.g. ``loss.reshape(1)``)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive number of rows, got {batch_size}.")
    return torch.cat([fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
