"""Measured numbers, written by the notebooks for the book's status page and ``_build/metrics.json``."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .runtime import cache_dir


def results_dir() -> Path:
    """``$GENVIZ_RESULTS`` (the Makefile points it at ``_build/results``) or ``<cache>/results``."""
    root = Path(os.environ.get("GENVIZ_RESULTS", cache_dir() / "results")).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def record(chapter: str, **metrics: Any) -> Path:
    """Merge ``metrics`` into ``<results>/<chapter>.json`` (atomic write) and return the file."""
    path = results_dir() / f"{chapter}.json"
    current = read(chapter)
    current.update(metrics)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(current, f, indent=2, sort_keys=True, default=float)
    os.replace(tmp, path)
    return path


def read(chapter: str) -> dict[str, Any]:
    """The numbers recorded for ``chapter`` so far (empty if none)."""
    path = results_dir() / f"{chapter}.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}
