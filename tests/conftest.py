"""Every test writes to a temporary cache, never to the user's; figures use the Agg backend."""

import os
import shutil

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


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium (Debian's, driven by Playwright) for the tests of the live explorers; they are skipped
    where it is missing. One per test module: Playwright's sync API allows one running instance at a time, and
    tests/test_site.py starts its own (which fails instead of skipping: the site must be tested)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("Chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()
