"""Every test writes to a temporary cache, never to the user's; figures use the Agg backend."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402
import pytest  # noqa: E402

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENVIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GENVIZ_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("GENVIZ_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.delenv("GENVIZ_PROFILE", raising=False)
    # GENVIZ_DATA is kept: the Makefile points it at the project's read-only copy of the datasets.
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
