"""The shape of tests/test_checkers_reject.py's cases: for each exercise checker, the reference solution and the
plausible wrong solutions a student writes, each with the message that must name its mistake.

Each chapter's cases live in ``tests/checker_cases_<module>.py`` (``<module>`` as in ``genviz_utils.exercises``)
as a list ``CASES`` of :class:`Case`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Wrong:
    """A wrong answer: ``mistake`` says what the student did; ``args`` go to the checker; the checker's
    ExerciseFailed message must match the regular expression ``message`` (searched, case-insensitive)."""

    mistake: str
    args: tuple[Any, ...]
    message: str


@dataclass
class Case:
    """A checker, the arguments of a reference solution that must pass, and at least three wrong answers."""

    checker: Callable[..., Any]
    reference: tuple[Any, ...]
    wrong: list[Wrong] = field(default_factory=list)
    also_right: list[tuple[Any, ...]] = field(default_factory=list)   # other correct answers that must pass
