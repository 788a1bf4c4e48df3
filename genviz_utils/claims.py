"""Numeric claims in the chapters: a check that prints what it tests and proves that it can fail.

Every numeric check in a notebook is a call to :func:`claim` instead of a bare ``assert``. It prints the value
tested, the bar, and the value that a *named wrong alternative* gets against the same bar, and it raises when the
value misses the bar **or** when the wrong alternative passes too (then the check could not tell right from
wrong, so it is no check)::

    claim("learned D's error", err, "<", 0.05, wrong="constant D = 1/2", wrong_value=err_const)
    # ✓ learned D's error: 0.028 < 0.05; constant D = 1/2 gets 0.122, which fails the bar

``tests/test_notebook_claims.py`` fails on any bare ``assert`` in a notebook.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
_SHOWN = {"<=": "≤", ">=": "≥"}


class ClaimFailed(AssertionError):
    """A chapter's numeric claim is false for this run, or its control does not tell right from wrong."""


def _fmt(v: float, fmt: str) -> str:
    return format(v, fmt) if math.isfinite(v) else str(v)


def claim(what: str, value: float, op: str, bar: float, *, wrong: str, wrong_value: float,
          enforce: bool = True, fmt: str = ".4g") -> None:
    """Check ``value op bar`` and that the named wrong alternative fails the same bar; print both.

    Args:
        what: what ``value`` is, in words ("linear AE error / PCA error").
        value: the measured number.
        op: one of ``<``, ``<=``, ``>``, ``>=``.
        bar: the threshold.
        wrong: the wrong alternative in words ("mean over pixels instead of the sum").
        wrong_value: what that alternative gets for the same quantity.
        enforce: ``False`` prints the outcome without raising (e.g. a smoke-profile budget too small for the
            claim); the printout says so.
        fmt: format of the numbers.
    Returns nothing, so a cell that ends with a claim shows only the printed line.
    """
    if op not in _OPS:
        raise ValueError(f"op must be one of {sorted(_OPS)}, got {op!r}")
    test = _OPS[op]
    value, bar, wrong_value = float(value), float(bar), float(wrong_value)
    ok = math.isfinite(value) and test(value, bar)
    control_fails = not (math.isfinite(wrong_value) and test(wrong_value, bar))
    shown = _SHOWN.get(op, op)
    text = (f"{what}: {_fmt(value, fmt)} {shown} {_fmt(bar, fmt)}; "
            f"{wrong} gets {_fmt(wrong_value, fmt)}")
    if ok and control_fails:
        print(f"\u2713 {text}, which fails the bar")
        return
    problem = (f"{what} is {_fmt(value, fmt)}, not {shown} {_fmt(bar, fmt)}" if not ok else
               f"not a check: the wrong alternative ({wrong}) gets {_fmt(wrong_value, fmt)}, which passes "
               f"{shown} {_fmt(bar, fmt)} too")
    if not enforce:
        print(f"- {text} (not enforced in this profile: {problem})")
        return
    raise ClaimFailed(problem)
