"""Every test writes to a temporary cache, never to the user's; figures use the Agg backend."""

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENVIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GENVIZ_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("GENVIZ_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.delenv("GENVIZ_PROFILE", raising=False)
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
