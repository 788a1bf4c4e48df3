"""Run budgets. ``GENVIZ_PROFILE`` is read here and nowhere else.

- ``smoke``: seconds per notebook, for CI (results are not meant to look good).
- ``book``:  minutes per notebook on 2 CPU cores, results that look right (the website).
- ``full``:  a GPU, longer training.

A notebook states each budget once, for all three profiles::

    P = get_profile()
    steps = P.pick(smoke=30, book=2_000, full=20_000)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar

PROFILES = ("smoke", "book", "full")
ENV_VAR = "GENVIZ_PROFILE"
DEFAULT = "book"

T = TypeVar("T")


class ProfileError(ValueError):
    """An unknown profile name."""


@dataclass(frozen=True)
class Profile:
    name: str

    def pick(self, *, smoke: T, book: T, full: T) -> T:
        """Return the value given for the active profile."""
        return {"smoke": smoke, "book": book, "full": full}[self.name]

    @property
    def is_smoke(self) -> bool:
        return self.name == "smoke"

    def __str__(self) -> str:
        return self.name


def get_profile(name: str | None = None) -> Profile:
    """The active profile: ``name`` if given, else ``$GENVIZ_PROFILE``, else ``book``."""
    raw = name if name is not None else os.environ.get(ENV_VAR, DEFAULT)
    key = raw.strip().lower()
    if key not in PROFILES:
        raise ProfileError(
            f"Unknown profile {raw!r}. Set {ENV_VAR} to one of {', '.join(PROFILES)} "
            f"(e.g. `export {ENV_VAR}=smoke` for a quick run)."
        )
    return Profile(key)
