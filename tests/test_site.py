"""Browser tests of the built website (Playwright driving Debian's Chromium).

``make test`` builds a small site from the smoke-profile notebooks and points ``GENVIZ_SITE`` at it; run by
hand with ``GENVIZ_SITE=_build/html pytest tests/test_site.py`` after ``make book``. A failing page leaves a
screenshot in ``_build/site-test-screenshots/``.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path

import pytest

SITE = os.environ.get("GENVIZ_SITE")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = Path(__file__).resolve().parents[1] / "_build" / "site-test-screenshots"
ZH = "zh/"  # the Chinese edition, inside the English site (book/_ext/editions.py)
# pydata-sphinx-theme logs this when a fresh browser profile has no stored colour mode; it is harmless.
BENIGN_CONSOLE = ("Got invalid theme mode",)

pytestmark = pytest.mark.skipif(not SITE, reason="set GENVIZ_SITE to a built site (make test does)")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:   # one line per request would drown the output
        pass


def _pages() -> list[str]:
    if not SITE:
        return []
    root = Path(SITE)
    pages = [p.relative_to(root).as_posix() for p in sorted(root.rglob("*.html"))]
    return [p for p in pages if (rel := p.removeprefix(ZH)) not in ("index.html", "search.html", "genindex.html")
            and not rel.startswith(("_", "widgets/"))]


@pytest.fixture(scope="module")
def server():
    root = Path(SITE)
    assert (root / "index.html").exists(), f"{root} is not a built site (no index.html)"
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM, "Chromium is missing: apt-get install chromium (make test's set-up does this as root)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync"])
        yield b
        b.close()


def _open(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    failed: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error"
            and not any(b in m.text for b in BENIGN_CONSOLE) else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(url, wait_until="networkidle")
    return page, errors, failed


@contextlib.contextmanager
def _screenshot_on_failure(page, name: str):
    """Close ``page`` after the block; when an assertion in it fails, save the page first as
    ``_build/site-test-screenshots/<name>.png``."""
    try:
        yield
    except AssertionError:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        raise
    finally:
        page.close()


@pytest.mark.parametrize("path", _pages())
def test_page(browser, server, path):
    page, errors, failed = _open(browser, f"{server}/{path}")
    chinese = path.startswith(ZH)
    rel = path.removeprefix(ZH)   # the same page in the English edition's terms
    with _screenshot_on_failure(page, path.replace("/", "_")):
        # the edition's language, and a switch to the same page in the other edition that resolves
        lang = page.evaluate("document.documentElement.lang")
        assert lang == ("zh-CN" if chinese else "en"), f"{path} has lang={lang!r}"
        switch = page.locator("a.genviz-edition-switch")
        assert switch.count() == 1, f"{path} has {switch.count()} language switches, expected 1"
        target = switch.evaluate("a => a.href")
        assert target == f"{server}/{rel if chinese else ZH + rel}", f"the switch on {path} goes to {target}"
        assert page.request.get(target).ok, f"the switch on {path} goes to {target}, which does not resolve"
        # no console errors, no failed or off-site requests
        assert not errors, f"console errors on {path}: {errors}"
        assert not failed, f"failed requests on {path}: {failed}"
        # every image has loaded
        broken = page.evaluate("Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                               ".map(i => i.src)")
        assert not broken, f"images that did not load on {path}: {broken}"
        if rel == "book/intro.html":   # the gallery pastes a teaser from each of chapters 1-6 (cross-page glue)
            shown = page.locator("article img").count()
            assert shown >= 6, f"{path} shows {shown} images, expected the 6 chapter teasers"
        if rel.startswith("notebooks/"):
            name = Path(path).stem
            # math is typeset by the local MathJax: output elements exist and no raw $$ is left
            page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20_000)
            page.evaluate("MathJax.startup.promise")
            assert page.locator("mjx-container").count() > 5, f"MathJax did not typeset {path}"
            text = page.locator("article").inner_text()
            assert "$$" not in text, f"raw $$ left in {path}"
            # figures were executed into the page
            assert page.locator("article img").count() >= 3, f"{path} shows fewer than 3 figures"
            # widgets render (the static fallbacks are images; the sliders come from the local widget manager)
            if page.locator("script[type='application/vnd.jupyter.widget-view+json']").count():
                assert page.locator(".jupyter-widgets").count() > 0, f"widgets on {path} did not render"
            # the Colab button opens this very notebook
            colab = page.evaluate("Array.from(document.querySelectorAll('a')).map(a => a.href)"
                                  ".filter(h => h.includes('colab.research.google.com'))")
            assert colab and all(h.endswith(f"/notebooks/{name}.ipynb") for h in colab), (
                f"Colab links on {path} do not point at notebooks/{name}.ipynb: {colab}")



def test_both_editions_are_built():
    root = Path(SITE)
    english = {p.relative_to(root) for p in root.glob("*/*.html") if not p.is_relative_to(root / "zh")}
    chinese = {p.relative_to(root / "zh") for p in (root / "zh").glob("*/*.html")}
    assert english and english == chinese, f"pages in one edition only: {sorted(english ^ chinese)}"


def test_chinese_search_index_has_chinese_words():
    import json

    index = (Path(SITE) / "zh" / "searchindex.js").read_text(encoding="utf-8")
    terms = json.loads(index[index.index("(") + 1:index.rindex(")")])["terms"]
    assert "编码器" in terms or "自编码器" in terms, (
        f"the Chinese search index has neither 编码器 nor 自编码器 among {len(terms)} terms (is jieba installed?)")


def test_no_cdn_reference_anywhere():
    hits = []
    for f in Path(SITE).rglob("*"):
        if f.is_file() and f.suffix in (".html", ".js", ".css"):
            text = f.read_text(errors="ignore")
            hits += [f"{f}: {cdn}" for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs") if cdn in text]
    assert not hits, "the site must work offline, but it references CDNs:\n" + "\n".join(hits[:10])


def test_widget_manager_uses_mathjax_3():
    """ipywidgets' controls call MathJax 2's ``MathJax.Hub.Queue`` whenever ``window.MathJax`` exists; under this
    site's MathJax 3 that throws (only when MathJax happened to load first). ``make assets`` patches it."""
    manager = (Path(SITE) / "widgets" / "embed-amd.js").read_text(errors="ignore")
    assert "MathJax.typesetPromise([e])" in manager
    assert '&&MathJax.Hub.Queue(["Typeset",MathJax.Hub,e])}' not in manager, "embed-amd.js is not patched"


# The chapters' explorers that compute in the browser (genviz_utils.live), by page: what each page must hold.
LIVE = {"01_autoencoder": 2, "02_vae": 3, "03_vqvae": 1, "04_gan": 4, "05_vqgan": 1, "07_comparing_models": 1,
        "06_latent_diffusion": 1}
LIVE_PAYLOAD_LIMIT = 1_500_000     # bytes of live explorers (weights and code) per chapter page


# ipywidgets models a reader would move or press (progress bars and outputs are fine on a static page)
CONTROLS_JS = """Array.from(document.querySelectorAll("script[type='application/vnd.jupyter.widget-state+json']"))
    .flatMap(s => Object.values(JSON.parse(s.text).state || {})).map(m => m.model_name)
    .filter(n => /Slider|Button|Dropdown|Text|Checkbox|Select|Play|Toggle|Picker|Combobox/.test(n))"""


# the differences each network of an explorer measured on load against PyTorch's output for its trained weights
CHECKS_JS = """(id) => { const n = window.genvizLive.nets[id]; if (!n) return null;
    const all = typeof n === "function" ? [n] : [...n.decoders, ...(n.prior ? [n.prior] : [])];
    return all.map((x) => (x.checkError === undefined ? null : x.checkError)); }"""


def _chapter_pages() -> list[str]:
    # the English pages: the Chinese ones hold the same explorers (test_page checks that they render)
    return [p for p in _pages() if p.startswith("notebooks/") and Path(p).stem in LIVE]


def _painted(page, canvas) -> int:
    """Number of distinct grey levels on a canvas (1: blank)."""
    return page.evaluate("(c) => new Set(Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height)"
                         ".data.filter((_, i) => i % 4 === 0))).size", canvas.element_handle())


def _pixels(page, canvas) -> list[int]:
    return page.evaluate("(c) => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)",
                         canvas.element_handle())


@pytest.mark.parametrize("path", _chapter_pages())
def test_no_dead_sliders_and_every_live_explorer_responds(browser, server, path):
    """No ipywidgets slider is left on the website (no kernel answers it); each live explorer has drawn its image,
    its networks computed what PyTorch computed with the page's own weights, and moving its first slider (or
    clicking a code of its palette, dragging on its pad, pressing play) redraws it."""
    page, errors, _ = _open(browser, f"{server}/{path}")
    with _screenshot_on_failure(page, "live_" + path.replace("/", "_")):
        controls = page.evaluate(CONTROLS_JS)
        assert not controls, f"{path} has ipywidgets controls that nothing answers on a static site: {controls}"
        live, expected = page.locator(".genviz-live"), LIVE[Path(path).stem]
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:   # on a loaded machine the page's scripts may still be building its explorers
            page.wait_for_function(f"document.querySelectorAll('.genviz-live').length >= {expected}", timeout=30_000)
        except PlaywrightTimeout:
            pass
        assert live.count() == expected, f"{path}: {live.count()} live explorers"
        payload = page.evaluate("Array.from(document.scripts).filter(s => s.text.includes('genvizLive'))"
                                ".reduce((n, s) => n + s.text.length, 0)")
        assert payload <= LIVE_PAYLOAD_LIMIT, f"{path}: the live explorers weigh {payload:,} bytes"
        for i in range(live.count()):
            root = live.nth(i)
            out = root.locator("canvas.out, .outs canvas").first
            root.scroll_into_view_if_needed()
            assert _painted(page, out) > 5, f"{path}: live explorer {i} has not drawn its image"
            checks = page.evaluate(CHECKS_JS, root.get_attribute("id"))   # None: the GAN Lab, which has no weights
            assert checks is None or (checks and all(e is not None and e <= 1e-4 for e in checks)), (
                f"{path}: live explorer {i}'s networks differ from what PyTorch computed for them: {checks}")
            before = _pixels(page, out)
            if root.locator("canvas.pad").count():
                box = root.locator("canvas.pad").bounding_box()
                page.mouse.move(box["x"] + 15, box["y"] + 15)
                page.mouse.down()
                page.mouse.move(box["x"] + box["width"] - 15, box["y"] + box["height"] - 15, steps=4)
                page.mouse.up()
            elif root.locator(".palette canvas").count():
                page.wait_for_function("(r) => r.querySelectorAll('.palette canvas').length > 8",
                                       arg=root.element_handle())
                current = int(root.locator(".cellinfo").inner_text().split("code ")[1])
                root.locator(f".palette canvas[title='code {(current + 7) % 16}']").click()
            elif root.locator("button.play").count():          # the GAN Lab: play trains, pause stops
                root.locator("button.play").click()
                page.wait_for_function("(r) => Number(r.querySelector('.step').textContent) >= 20",
                                       arg=root.element_handle())
                root.locator("button.play").click()
            else:
                root.locator("input[type=range]").first.evaluate(
                    "(s) => { s.value = s.max; s.dispatchEvent(new Event('input')); }")
            assert _pixels(page, out) != before, f"{path}: live explorer {i} did not redraw"
        assert not errors, f"console errors on {path}: {errors}"


def _img_names(html_path: Path) -> set[str]:
    return {Path(src).name for src in re.findall(r'<img[^>]+src="([^"]+)"', html_path.read_text(encoding="utf-8"))}


def _chinese_figures(path: str) -> int:
    """How many distinct figures with translated words the executed notebook of ``path`` carries (its
    second images, genviz_utils.editions), from the build's executed notebooks beside the site."""
    from genviz_utils.editions import figure_outputs

    executed = Path(SITE).parent / "jupyter_execute" / "notebooks" / f"{Path(path).stem}.ipynb"
    return len({png for png, words in figure_outputs(executed) if words})


# what a reader presses in the explorers: every slider to its end, every choice to its last option, every button
PRESS_ALL_JS = """(root) => {
    root.querySelectorAll("input[type=range]").forEach((s) => { s.value = s.max;
        s.dispatchEvent(new Event("input")); s.dispatchEvent(new Event("change")); });
    root.querySelectorAll("select").forEach((s) => { s.selectedIndex = s.options.length - 1;
        s.dispatchEvent(new Event("change")); });
    root.querySelectorAll("button").forEach((b) => b.click()); }"""


@pytest.mark.parametrize("path", [p for p in _chapter_pages()])
def test_chinese_pages_draw_figures_and_explorers_in_chinese(browser, server, path):
    """The Chinese page of a chapter shows, for every figure with words, an image of its own (drawn with the
    Chinese words of genviz_utils/words_zh_CN.json), not the English page's; its live explorers leave no word
    untranslated, also once every control is moved and pressed; the English page does not load the table."""
    root = Path(SITE)
    own, expected_own = _img_names(root / ZH / path) - _img_names(root / path), _chinese_figures(path)
    assert expected_own >= 3 and len(own) >= expected_own, (
        f"{ZH}{path} shows {len(own)} figures of its own, but its notebook drew {expected_own} with Chinese words")
    english, _, _ = _open(browser, f"{server}/{path}")
    try:
        assert english.evaluate("window.genvizWords === undefined"), f"{path} loads the Chinese words"
    finally:
        english.close()
    page, errors, _ = _open(browser, f"{server}/{ZH}{path}")
    with _screenshot_on_failure(page, "zh_" + path.replace("/", "_")):
        expected = LIVE[Path(path).stem]
        page.wait_for_function(f"document.querySelectorAll('.genviz-live[data-localized]').length >= {expected}",
                               timeout=30_000)
        for i in range(expected):      # twice: a play button plays, then pauses
            for _ in range(2):
                page.locator(".genviz-live").nth(i).evaluate(PRESS_ALL_JS)
                page.wait_for_timeout(500)
        missing = page.evaluate("Array.from(window.genvizLive.untranslated)")
        assert not missing, f"{ZH}{path}: explorer words without a translation (genviz_utils/words_zh_CN.json): " \
                            f"{missing}"
        text = page.locator(".genviz-live").first.inner_text()
        assert re.search(r"[\u4e00-\u9fff]", text), f"{ZH}{path}: the first explorer shows no Chinese: {text[:200]}"
        assert not errors, f"console errors on {ZH}{path}: {errors}"


def _titles(html_path: Path, pattern: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", t).strip() for t in re.findall(pattern, html_path.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("path", [p for p in _pages() if p.startswith("notebooks/")])
def test_chinese_exercise_titles_and_sidebar_captions_are_translated(path):
    """Exercise and solution titles (a directive's argument, which Sphinx's gettext skips unless book/_ext/editions.py
    hands it over) and the sidebar's part captions (added by sphinx-external-toc after translation) are Chinese."""
    from genviz_utils.editions import needs_entry

    root = Path(SITE)
    pending = (Path(__file__).resolve().parents[1] / "locale" / "zh_CN" / "PENDING").read_text(encoding="utf-8")
    if path.removesuffix(".html") in pending.split():
        pytest.skip(f"{path} is still being translated (locale/zh_CN/PENDING)")
    admonition = r'<p class="admonition-title">(.*?)</p>'
    english, chinese = _titles(root / path, admonition), _titles(root / ZH / path, admonition)
    assert len(english) == len(chinese), f"{path}: {len(english)} titles in English, {len(chinese)} in Chinese"
    same = [e for e, c in zip(english, chinese, strict=True)
            if e == c and needs_entry(re.sub(r"^(Exercise|Solution to)\s*\d*", "", e))]
    assert not same, f"{ZH}{path}: titles left in English: {same}"
    captions = _titles(root / ZH / path, r'<p aria-level="2" class="caption" role="heading">(.*?)</p>')
    assert captions and not any(needs_entry(c) for c in captions), f"{ZH}{path}: sidebar captions {captions}"
    html = (root / ZH / path).read_text(encoding="utf-8")
    furniture = [w for w in ("Click to show", "Click to hide", "Show code cell", "Hide code cell") if w in html]
    assert not furniture, f"{ZH}{path} still says {furniture} (tools/i18n.py config sets them for Chinese)"
