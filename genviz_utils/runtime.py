"""Device choice, seeding and the folders the course writes to."""

from __future__ import annotations

import os
import random
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
