"""Checkpoints written atomically and read back with a clear error when broken."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used (corrupt, truncated, or for another model)."""


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically: a crash mid-write leaves the old file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"No checkpoint at {path}. Train the model first (run its chapter) or fix the path.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # pickle/zip errors vary by torch version; the fix is the same
        raise CheckpointError(
            f"Checkpoint {path} is corrupt or truncated ({type(exc).__name__}). Delete it and train again; "
            "nothing else depends on it."
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"Checkpoint {path} does not hold a state dictionary; delete it and train again.")
    return state


def load_state(module: torch.nn.Module, state_dict: dict[str, Any], path: str | os.PathLike = "checkpoint") -> None:
    """``module.load_state_dict`` with an error that says which checkpoint does not fit."""
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise CheckpointError(
            f"{path} was saved from a different model than {type(module).__name__} ({first}). "
            "Delete it so the chapter trains a fresh one."
        ) from None
