"""The words inside figures in the Chinese edition (genviz_utils.editions): the lookup, the figure drawn with the
translated words and given back as it was, the renderer's warnings, and the table itself."""

from __future__ import annotations

import base64
import re
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from genviz_utils import editions  # noqa: E402

ZH = "zh_CN"


def test_translate_exact_template_nested_lines_and_neutral():
    words = editions.table(ZH)
    assert editions.translate("loss", ZH) == words["loss"]
    assert editions.translate("  loss ", ZH) == f"  {words['loss']} "            # the spaces around stay
    # a template whose {} hold a number, and one whose {} hold a word of the table
    assert editions.translate("step 300", ZH) == words["step {}"].replace("{}", "300")
    assert editions.translate("Sandal", ZH) == words["Sandal"]
    # several lines without an entry of their own: line by line
    assert editions.translate("loss\nstep 3", ZH) == words["loss"] + "\n" + words["step {}"].replace("{}", "3")
    # nothing to translate: numbers, math, kept names
    for neutral in ["0.25", "$\\beta$ = 4", "z1", "x_t", "KL", "VQ-GAN", "FD 12.3", "p(x|z)", ""]:
        assert editions.translate(neutral, ZH) == neutral, neutral
    # no entry: None (not the English, which would pass for a translation)
    assert editions.translate("a phrase no figure draws", ZH) is None
    assert editions.translate("loss of a phrase no figure draws", ZH) is None


def test_needs_entry_counts_words_of_two_letters_outside_math():
    assert editions.needs_entry("reconstruction")
    assert editions.needs_entry("$x$ and $y$")              # "and" is a word
    assert not editions.needs_entry("$\\mathrm{KL}(q \\| p)$ = 3.2")
    assert not editions.needs_entry("u1, u2 = (0.1, 0.2)")
    assert not editions.needs_entry("DDIM, 20")


def _figure():
    fig, (a, b) = plt.subplots(1, 2, figsize=(5, 2.5))
    a.plot([1, 2, 3], label="loss")
    a.set_xlabel("step")
    a.set_title("step 300")
    a.legend()
    b.bar(["Sandal", "Bag"], [1, 2])
    b.set_ylabel("a phrase no figure draws")
    return fig, a, b


def test_a_figure_drawn_in_chinese_then_given_back_as_it_was():
    from IPython.core.pylabtools import print_figure

    if editions.cjk_font() is None:
        pytest.skip("no CJK font here (apt-get install fonts-noto-cjk; make does this as root)")
    fig, a, b = _figure()
    english = print_figure(fig, "png", bbox_inches="tight")
    png, seen = editions.render_png(fig, ZH)
    words = editions.table(ZH)
    # every word met, the tick labels (drawn through their formatter) among them, and the one the table lacks
    assert seen == {"loss": words["loss"], "step": words["step"], "step 300": words["step {}"].replace("{}", "300"),
                    "Sandal": words["Sandal"], "Bag": words["Bag"], "a phrase no figure draws": None}
    assert base64.b64decode(png)[:8] == b"\x89PNG\r\n\x1a\n" and base64.b64decode(png) != english
    # the figure is as it was: its texts, its formatters, its fonts, and so its English image
    assert a.get_title() == "step 300" and a.get_xlabel() == "step"
    assert [t.get_text() for t in a.get_legend().get_texts()] == ["loss"]
    assert "_Translated" not in type(b.xaxis.get_major_formatter()).__name__
    assert all(editions.cjk_font() not in t.get_fontfamily() for t in editions._artists(fig)[1])
    assert print_figure(fig, "png", bbox_inches="tight") == english
    plt.close(fig)


def test_shared_axes_insets_and_math_tick_labels():
    """Axes that share an axis share its formatter: it is translated once (twice would look the Chinese up again
    and report it missing); an inset's words are translated too; a tick label with $math$ and Chinese gets the
    CJK font first (mathtext draws the words around math in the first font alone)."""
    if editions.cjk_font() is None:
        pytest.skip("no CJK font here (apt-get install fonts-noto-cjk; make does this as root)")
    fig, (a, b) = plt.subplots(1, 2, sharey=True, figsize=(5, 2.5))
    for ax in (a, b):
        ax.barh(["Sandal", "Bag"], [1, 2])
    a.set_xticks([0, 1], ["code $e_k$", "loss"])
    inset = b.inset_axes([0.5, 0.5, 0.4, 0.4])
    inset.set_title("step")
    words = editions.table(ZH)
    with editions.translated(fig, ZH, editions.cjk_font()) as seen:
        fig.canvas.draw()
        assert seen["Sandal"] == words["Sandal"] and seen["step"] == words["step"]
        assert None not in seen.values(), seen
        label = next(t for t in a.get_xticklabels() if "$" in t.get_text())
        assert label.get_text() == editions.translate("code $e_k$", ZH) != "code $e_k$"
        assert label.get_fontfamily()[0] == editions.cjk_font()
        assert inset.get_title() == words["step"]
    assert inset.get_title() == "step" and type(a.yaxis.major.formatter).__name__ != "_Translated"
    plt.close(fig)


class _Logger:
    def __init__(self):
        self.warnings: list[str] = []

    def warning(self, msg, **kw):
        self.warnings.append(msg)


def _render(words: dict, language: str = "zh_CN"):
    """What FigureRenderer gives a build in ``language`` for an image that carries ``words``: (nodes, warnings,
    the image data it rendered)."""
    from myst_nb.core.render import MimeData

    logger, images = _Logger(), []
    env = SimpleNamespace(config=SimpleNamespace(language=language), docname="notebooks/01_autoencoder",
                          doc2path=lambda name, base=True: f"{name}.ipynb")
    renderer = SimpleNamespace(logger=logger, render_image=lambda d: images.append(d) or ["image"],
                               renderer=SimpleNamespace(sphinx_env=env),
                               config=SimpleNamespace(execution_cache_path="_build/.jupyter_cache"))
    mime = editions.figure_mime(ZH)
    data = MimeData(mime, base64.b64encode(b"\x89PNG").decode(), line=3,
                    output_metadata={mime: {"words": words, "width": 300}})
    return editions.FigureRenderer.handle_mime(renderer, data, False), logger.warnings, images


def test_renderer_shows_the_image_and_warns_of_missing_and_stale_words():
    good = {"loss": editions.translate("loss", ZH)}
    out, warnings, images = _render(good)
    assert out == ["image"] and not warnings
    assert images[0].mime_type == "image/png" and images[0].output_metadata == {"image/png": {"width": 300}}
    # a word the table lacks, and a word drawn with a translation that has changed since
    out, warnings, _ = _render({"a phrase no figure draws": None, "loss": "旧的译文"})
    assert out == ["image"] and len(warnings) == 2
    assert "without a zh_CN translation: 'a phrase no figure draws'" in warnings[0]
    assert "execute this notebook again (python tools/i18n.py uncache notebooks/01_autoencoder.ipynb --cache " \
           "_build/.jupyter_cache, then build)" in warnings[1]
    # the English build leaves the Chinese image out, and warns of nothing
    out, warnings, images = _render({"a phrase no figure draws": None}, language="en")
    assert out == [] and not warnings and not images


def test_the_table_is_well_formed():
    words = editions.table(ZH)
    assert len(words) > 100
    for english, chinese in words.items():
        assert english == english.strip() and chinese == chinese.strip(), f"spaces around {english!r}"
        assert chinese and chinese != english, f"{english!r} is not translated (a kept name belongs in KEEP)"
        assert english.count("{}") == chinese.count("{}"), f"{english!r} and {chinese!r} differ in their {{}}"
        assert editions.needs_entry(english.replace("{}", "")) or "{}" in english, (
            f"{english!r} has nothing to translate: drop it")
        # Chinese, or symbols only ("of" between two numbers is "/")
        assert re.search(r"[\u4e00-\u9fff]", chinese) or not re.search(r"[A-Za-z]", chinese), (
            f"{english!r} -> {chinese!r} has no Chinese")
        # math and numbers stay as they are
        assert re.findall(r"\$[^$]*\$", english) == re.findall(r"\$[^$]*\$", chinese), f"math of {english!r}"


def test_register_outside_ipython_does_nothing():
    assert editions.register(ZH) is False
    with pytest.raises(ValueError, match="no table of figure words"):
        editions.table("fr_FR")


def test_register_in_ipython_adds_the_chinese_image_and_without_a_font_says_so(monkeypatch, capfd):
    from IPython.testing.globalipapp import get_ipython

    ip = get_ipython()
    mime = editions.figure_mime(ZH)
    monkeypatch.setattr(editions, "cjk_font", lambda: None)
    ip.display_formatter.formatters.pop(mime, None)
    assert editions.register(ZH) is False and mime not in ip.display_formatter.formatters
    assert "no CJK font found" in capfd.readouterr().err
    monkeypatch.undo()
    if editions.cjk_font() is None:
        pytest.skip("no CJK font here (apt-get install fonts-noto-cjk; make does this as root)")
    try:
        assert editions.register(ZH) is True
        fig, *_ = _figure()
        data, meta = ip.display_formatter.format(fig)      # (this test shell has no inline backend: no image/png)
        assert mime in data and meta[mime]["words"]["loss"] == editions.translate("loss", ZH)
        from IPython.core.pylabtools import print_figure

        assert base64.b64decode(data[mime]) != print_figure(fig, "png", bbox_inches="tight")   # not the English
        data, _ = ip.display_formatter.format("not a figure")
        assert mime not in data
        plt.close(fig)
    finally:
        ip.display_formatter.formatters.pop(mime, None)


def test_figure_outputs_of_a_notebook_myst_nb_took_from_its_cache(tmp_path):
    """MyST-NB writes a notebook it took from its execution cache to jupyter_execute without outputs: the figures
    come from the cache beside that folder, matched by the code."""
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    from genviz_utils.editions import figure_mime, figure_outputs

    mime = figure_mime("zh_CN")
    code = nbformat.v4.new_code_cell("plot()")
    executed = nbformat.v4.new_notebook(cells=[code.copy()])
    executed.cells[0].outputs = [nbformat.v4.new_output(
        "display_data", data={"image/png": "AAA", mime: "BBB"}, metadata={mime: {"words": {"loss": "损失"}}})]
    cache = get_cache(tmp_path / "_build" / ".jupyter_cache")
    cache.cache_notebook_bundle(CacheBundleIn(executed, "x.ipynb"), check_validity=False)
    written = tmp_path / "_build" / "jupyter_execute" / "notebooks" / "x.ipynb"
    written.parent.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[code]), written)       # as MyST-NB leaves it: no outputs
    assert list(figure_outputs(written)) == [("BBB", {"loss": "损失"})]
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("other()")]), written)
    assert list(figure_outputs(written)) == []                             # changed since: nothing cached
