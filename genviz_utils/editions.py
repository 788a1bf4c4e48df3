"""The words inside figures and explorers, in the language of the book's edition (see ``tools/i18n.py``).

Code stays English. The words a figure shows (titles, axis and tick labels, legends, texts) are looked up, by
their English string, in one table per language (``words_zh_CN.json`` beside this file). A key with ``{}`` is a
template: each ``{}`` stands for any text (mostly a number), which is itself looked up. Words without a letter,
or only names kept as they are (:data:`KEEP`: FD, KL, VQ-GAN ...), need no entry.

- Executed for the website (``GENVIZ_FOR_WEBSITE=1``), every figure a notebook displays gets a second image with
  its words translated (:func:`register`, under :func:`figure_mime`), so that one execution serves both editions:
  the Chinese build shows that image (:class:`FigureRenderer`, a MyST-NB mime renderer) and the English build
  skips it. The image carries the words it translated; the build warns of a word without a translation, or
  drawn with one that has changed since (the notebook must run again).
- The live explorers translate their words in the reader's browser from the same table, which the Chinese site
  loads (``book/_ext/editions.py``).

Chinese needs a CJK font (Debian's ``fonts-noto-cjk``, which ``make`` installs): without one the figures keep
their English words (no second image, so nothing for the build to check), and a line on the build's log says so.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import re
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from matplotlib.ticker import Formatter

# Names and abbreviations that stay as they are in every edition (a word of a figure made only of these, numbers,
# symbols and $math$ needs no entry in the table).
KEEP = frozenset("""
log exp max min argmax sqrt tanh softmax beta nats REINFORCE AE VAE VQ VQ-VAE GAN VQ-GAN DCGAN LDM DDIM
DDPM FD KID KL ELBO PSNR
SSIM MSE BCE CKA MLP CNN PCA IS NLL U-Net PixelCNN ReLU SiLU GELU Adam AdamW SGD EMA ms dB bpd Fashion-MNIST
MNIST ONNX CPU GPU FMNIST top-k PacGAN
""".split())
CJK_FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC", "WenQuanYi Zen Hei", "Microsoft YaHei",
             "PingFang SC", "SimHei")
LANGS = ("zh_CN",)
_MATH = re.compile(r"\$[^$]*\$")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]")    # two letters or more (z1, x_t and p(x) are not words)


def figure_mime(lang: str) -> str:
    """The mime type of a figure's image in ``lang``, beside its English ``image/png``."""
    return f"image/x-genviz-{lang}+png"


def needs_entry(text: str) -> bool:
    """Whether ``text`` has words to translate: a word of two letters or more, outside ``$math$``, not in
    :data:`KEEP`."""
    return any(w not in KEEP for w in _WORD.findall(_MATH.sub(" ", text)))


@functools.cache
def table(lang: str) -> dict[str, str]:
    """The words of ``lang``: English string -> translation (templates with ``{}`` among them)."""
    if lang not in LANGS:
        raise ValueError(f"no table of figure words for {lang!r}: the editions are {LANGS}.")
    words = json.loads(resources.files("genviz_utils").joinpath(f"words_{lang}.json").read_text(encoding="utf-8"))
    return {k: v for k, v in words.items() if not k.startswith("_")}


@functools.cache
def _templates(lang: str) -> list[tuple[re.Pattern, str]]:
    """The table's templates as patterns, the most specific (most literal characters) first; engine.js sorts the
    same way."""
    keys = sorted((k for k in table(lang) if "{}" in k), key=lambda k: (-len(k.replace("{}", "")), k))
    return [(re.compile("^" + "(.+?)".join(map(re.escape, k.split("{}"))) + "$", re.S), table(lang)[k]) for k in keys]


def translate(text: str, lang: str) -> str | None:
    """``text`` in ``lang``; ``text`` itself when it has nothing to translate; None when the table lacks it.

    A string with several lines that has no entry of its own is translated line by line.
    """
    core = text.strip()
    if not core or not needs_entry(core):
        return text
    words = table(lang)
    found = words.get(core)
    if found is None:
        for pattern, value in _templates(lang):
            m = pattern.match(core)
            if m:
                parts = [translate(g, lang) for g in m.groups()]
                if all(p is not None for p in parts):
                    pieces = value.split("{}")
                    found = pieces[0] + "".join(p + rest for p, rest in zip(parts, pieces[1:], strict=True))
                    break
    if found is None and "\n" in core:
        lines = [translate(line, lang) for line in core.split("\n")]
        found = None if any(line is None for line in lines) else "\n".join(lines)
    if found is None:
        return None
    start = len(text) - len(text.lstrip())
    return text[:start] + found + text[start + len(core):]


def _note(seen: dict[str, str | None], text: str, lang: str) -> str | None:
    """``text`` translated, and recorded in ``seen`` (stripped) when it had words to translate."""
    out = translate(text, lang)
    if out != text:
        seen[text.strip()] = translate(text.strip(), lang)
    return out


@functools.cache
def cjk_font() -> str | None:
    """The family name of a CJK font matplotlib can use, or None. Fonts installed after matplotlib built its font
    list are added from the system's font folders."""
    from matplotlib import font_manager

    def usable() -> str | None:
        names = {f.name for f in font_manager.fontManager.ttflist}
        return next((f for f in CJK_FONTS if f in names), None)

    if usable() is None:
        for path in font_manager.findSystemFonts():
            if re.search(r"cjk|wqy|han ?sans|yahei|pingfang|simhei|notosanssc", os.path.basename(path), re.I):
                with contextlib.suppress(Exception):
                    font_manager.fontManager.addfont(path)
    return usable()


class _Translated(Formatter):
    """A tick formatter that translates what the formatter it wraps writes (and records the words)."""

    def __init__(self, inner: Formatter, lang: str, seen: dict[str, str | None]):
        self.inner, self.lang, self.seen, self.axis = inner, lang, seen, inner.axis

    def _tr(self, s: str) -> str:
        out = _note(self.seen, s, self.lang)
        return s if out is None else out

    def __call__(self, x, pos=None):
        return self._tr(self.inner(x, pos))

    def format_ticks(self, values):
        return [self._tr(s) for s in self.inner.format_ticks(values)]

    def set_locs(self, locs):
        self.inner.set_locs(locs)

    def get_offset(self):
        return self.inner.get_offset()

    def format_data_short(self, value):
        return self.inner.format_data_short(value)


def _artists(fig) -> tuple[list, list]:
    """The Axes of ``fig`` (its subfigures' and insets' too) and every text artist that holds words: titles,
    axis labels, texts, annotations, legends, colorbar labels. Each once; tick labels are left out (the
    formatters write them at every draw, so they are translated there)."""
    from matplotlib.axes import Axes
    from matplotlib.text import Text

    axes = list({id(a): a for a in fig.findobj(Axes)}.values())
    ticks = {id(t) for ax in axes for axis in (ax.xaxis, ax.yaxis)
             for tick in axis.majorTicks + axis.minorTicks for t in (tick.label1, tick.label2)}
    texts = [t for t in {id(t): t for t in fig.findobj(Text)}.values() if id(t) not in ticks]
    return axes, texts


def _cjk_first(text: str) -> bool:
    """mathtext draws the words around $math$ in a text's first font alone, with no fallback: a Chinese text with
    math needs the CJK font first."""
    return bool(_MATH.search(text)) and not text.isascii()


@contextlib.contextmanager
def translated(fig, lang: str, font: str | None) -> Iterator[dict[str, str | None]]:
    """``fig`` with its words in ``lang`` (and ``font`` for the glyphs its fonts lack) inside the block; as it
    was after, also if this fails half-way. Yields the words met: English -> translation (None: not in the
    table)."""
    import matplotlib as mpl

    seen: dict[str, str | None] = {}
    undo = []

    def set_font(t) -> None:
        undo.append((t.set_fontfamily, t.get_fontfamily()))
        family = [f for f in t.get_fontfamily() if f != font]
        t.set_fontfamily([font, *family] if _cjk_first(t.get_text()) else [*family, font])

    try:
        axes, texts = _artists(fig)
        for t in texts:
            text = t.get_text()
            out = _note(seen, text, lang)
            if out is not None and out != text:
                undo.append((t.set_text, text))
                t.set_text(out)
            if font:
                set_font(t)
        wrapped = set()
        for ax in axes:
            for axis in (ax.xaxis, ax.yaxis):
                for ticker in (axis.major, axis.minor):
                    if id(ticker) in wrapped:            # shared axes share their tickers: wrap each once
                        continue
                    wrapped.add(id(ticker))
                    undo.append((functools.partial(setattr, ticker, "formatter"), ticker.formatter))
                    ticker.formatter = _Translated(ticker.formatter, lang, seen)
                if font:
                    locs = axis.get_majorticklocs()
                    labels = axis.major.formatter.format_ticks(locs)
                    for tick, label in zip(axis.get_major_ticks(len(locs)), labels, strict=False):
                        for t in (tick.label1, tick.label2):
                            undo.append((t.set_text, t.get_text()))
                            t.set_text(label)           # what the draw will write: set_font reads it
                            set_font(t)
                    for tick in axis.minorTicks:
                        for t in (tick.label1, tick.label2):
                            set_font(t)
        with mpl.rc_context({"font.family": [*mpl.rcParams["font.family"], font]} if font else {}):
            yield seen
    finally:
        for setter, value in reversed(undo):
            setter(value)


def render_png(fig, lang: str) -> tuple[str, dict[str, str | None]]:
    """``fig`` drawn with its words in ``lang``, as the inline backend draws it: (base64 PNG, the words met)."""
    from IPython.core.pylabtools import print_figure

    with translated(fig, lang, cjk_font()) as seen:
        png = print_figure(fig, "png", bbox_inches="tight")
    return base64.b64encode(png).decode("ascii"), seen


def _warn_no_font(lang: str) -> None:
    # on the kernel's own stderr, which the build's log shows: not a warning in the cell's output, which would put
    # it on the English page too (and fail the build under -W)
    print(f"genviz_utils.editions: no CJK font found ({', '.join(CJK_FONTS[:2])}; on Debian: apt-get install "
          f"fonts-noto-cjk): the figures of the {lang} edition keep their English words.", file=sys.__stderr__)


def register(lang: str = "zh_CN") -> bool:
    """Make every matplotlib figure displayed in this IPython kernel also carry an image in ``lang``. Returns
    whether it did (False outside IPython, or without a CJK font)."""
    from IPython import get_ipython
    from IPython.core.formatters import BaseFormatter, catch_format_error
    from matplotlib.figure import Figure

    ip = get_ipython()
    if ip is None:
        return False
    table(lang)                                   # fails now, not at the first figure, if the table is broken
    if cjk_font() is None:
        _warn_no_font(lang)
        return False

    class EditionFormatter(BaseFormatter):
        """Figures only. It tests the type itself: the inline backend, once it starts, removes every printer
        registered for Figure from every formatter."""

        @catch_format_error
        def __call__(self, obj):
            if not isinstance(obj, Figure):
                return None
            png, seen = render_png(obj, lang)
            return png, {"words": seen}

    mime = figure_mime(lang)
    ip.display_formatter.formatters[mime] = EditionFormatter(parent=ip.display_formatter, format_type=mime)
    return True


def register_for_website() -> None:
    """What ``import genviz_utils`` does when the notebooks are executed for the website
    (``GENVIZ_FOR_WEBSITE=1``): every figure carries its image in each edition's language."""
    for lang in LANGS:
        register(lang)


def _with_cached_outputs(path: Path, nb):
    """MyST-NB (1.4) writes a notebook it took from its execution cache to ``jupyter_execute`` without the outputs
    (it saves the notebook it parsed, not the cache's merged copy): take them from the cache beside that folder
    (``<build>/.jupyter_cache``), which matches the notebook by its code."""
    from jupyter_cache import get_cache

    for folder in path.resolve().parents:
        if (folder / ".jupyter_cache").is_dir():
            try:
                return get_cache(folder / ".jupyter_cache").merge_match_into_notebook(nb)[1]
            except KeyError:          # not in the cache (changed since): as it is
                return nb
    return nb


def figure_outputs(notebook, lang: str = "zh_CN") -> Iterator[tuple[str, dict[str, str | None]]]:
    """(base64 PNG, the words it drew) of each figure image in ``lang`` that the executed ``notebook`` carries
    (a file; one of ``jupyter_execute`` without outputs gets them from the execution cache beside it)."""
    import nbformat

    mime = figure_mime(lang)
    nb = nbformat.read(notebook, as_version=4)
    if not any(cell.get("outputs") for cell in nb.cells):
        nb = _with_cached_outputs(Path(notebook), nb)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if mime in output.get("data", {}):
                yield output["data"][mime], output.get("metadata", {}).get(mime, {}).get("words", {})


class FigureRenderer:
    """MyST-NB's renderer of the translated figures (entry point ``myst_nb.mime_renderers``): the image, and a
    warning for each word drawn without a translation or with a translation that has changed since."""

    mime_priority_overrides: list = []            # the edition's build gives the priority (tools/i18n.py config)

    @staticmethod
    def handle_mime(renderer, data, inline: bool):
        match = re.fullmatch(r"image/x-genviz-(\w+)\+png", data.mime_type)
        if match is None:
            return None
        import dataclasses

        lang, meta = match[1], dict(data.output_metadata.get(data.mime_type, {}))
        env = getattr(renderer.renderer, "sphinx_env", None)
        build = (env.config.language or "en").replace("-", "_") if env is not None else "en"
        if build.split("_")[0] != lang.split("_")[0]:
            return []                               # another edition's image: that edition's build shows it
        for english, drawn in meta.pop("words", {}).items():
            now = translate(english, lang)
            if now is None:
                renderer.logger.warning(f"a figure word without a {lang} translation: {english!r} (add it to "
                                        f"genviz_utils/words_{lang}.json)", subtype="genviz_words", line=data.line)
            elif drawn != now:
                renderer.logger.warning(
                    f"a figure word drawn as {drawn!r}, translated {now!r} now: execute this notebook again "
                    f"(python tools/i18n.py uncache {env.doc2path(env.docname, False)} --cache "
                    f"{renderer.config.execution_cache_path or '_build/.jupyter_cache'}, then build)",
                    subtype="genviz_words", line=data.line)
        png = dataclasses.replace(data, mime_type="image/png", output_metadata={"image/png": meta})
        return renderer.render_image_inline(png) if inline else renderer.render_image(png)
