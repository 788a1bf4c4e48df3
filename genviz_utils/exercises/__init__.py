"""Exercise checkers. Each chapter has its own module (``ae``, ``vae``, ...); this file holds the shared core.

A checker calls the reader's function on test inputs, compares with the reference, and either prints a
short success line or raises :class:`ExerciseFailed` whose message says what is wrong and how to look
for it (no deep traceback: the reader's own code is not at fault for ours).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class ExerciseFailed(AssertionError):
    """The reader's answer is not right yet; the message says why."""

    def _render_traceback_(self) -> list[str]:  # IPython shows only this, not a traceback
        return [f"\u2717 Not yet: {self}"]


class Passed:
    """What a checker returns on success: truthy, and silent in a notebook (the checker already printed)."""

    def __init__(self, name: str):
        self.name = name

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"Passed({self.name!r})"

    def _ipython_display_(self) -> None:
        pass


def passed(name: str, detail: str = "") -> Passed:
    print(f"\u2713 {name}: correct{(' (' + detail + ')') if detail else ''}.")
    return Passed(name)


def call(fn: Callable[..., Any], *args: Any, name: str) -> Any:
    """Call the reader's function; turn an exception into a message that names it."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise ExerciseFailed(f"{name} still raises NotImplementedError: replace it with your code.") from None
    except Exception as exc:  # the reader's bug, reported in one line
        raise ExerciseFailed(f"{name} raised {type(exc).__name__}: {exc}") from None


def expect_number(value: Any, name: str, hint: str) -> float:
    """A float from the reader's answer: a Python number or a one-element tensor; ``hint`` says how to reduce."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ExerciseFailed(f"{name} returned a tensor of shape {tuple(value.shape)}; {hint}")
        return float(value.detach().reshape(()))
    if isinstance(value, (int, float)):
        return float(value)
    raise ExerciseFailed(f"{name} should return a number or a one-element tensor, got {type(value).__name__}.")


def expect_tensor(value: Any, shape: tuple[int, ...], name: str) -> torch.Tensor:
    """Fail unless ``value`` is a tensor of exactly ``shape``."""
    if not isinstance(value, torch.Tensor):
        raise ExerciseFailed(f"{name} should return a torch.Tensor, got {type(value).__name__}.")
    if tuple(value.shape) != tuple(shape):
        raise ExerciseFailed(f"{name} returned shape {tuple(value.shape)}, expected {tuple(shape)}.")
    return value


def expect_close(value: torch.Tensor, target: torch.Tensor, name: str, hint: str = "",
                 rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """Fail unless ``value`` matches ``target`` elementwise."""
    if not torch.allclose(value.detach().float(), target.detach().float(), rtol=rtol, atol=atol):
        err = (value.detach().float() - target.detach().float()).abs().max().item()
        raise ExerciseFailed(f"{name} differs from the reference by up to {err:.3g}. {hint}".strip())
