"""Two editions of one book: English at the site's root, Chinese under ``zh/`` (``tools/i18n.py``).

Every page gets a link to the same page in the other edition, at the top of the article and as a
``<link rel="alternate" hreflang>``. A Chinese page whose catalogue is still being translated (listed in
``locale/zh_CN/PENDING``) says so above its text, since the messages without a translation stay in English.
The Chinese site also loads the table of the words inside explorers (``_static/genviz-words.js``, from
``genviz_utils/words_zh_CN.json``), which the explorers' runtime reads to translate their labels.
"""

from __future__ import annotations

import gettext
import json
from pathlib import Path

from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform

from genviz_utils import editions

ZH_DIR = "zh/"  # where the Chinese site sits inside the English one
_LOCALE = Path(__file__).resolve().parents[2] / "locale"
_PENDING = _LOCALE / "zh_CN" / "PENDING"


def is_chinese(app: Sphinx) -> bool:
    return (app.config.language or "en").lower().replace("-", "_").startswith("zh")


def other_edition(pagename: str, chinese: bool) -> str:
    """The relative address of ``pagename`` in the other edition, from ``pagename`` in this one."""
    up = "../" * pagename.count("/")
    return f"{up}../{pagename}.html" if chinese else f"{up}{ZH_DIR}{pagename}.html"


def _pending() -> set[str]:
    lines = _PENDING.read_text(encoding="utf-8").splitlines() if _PENDING.exists() else []
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def _add_switch(app: Sphinx, pagename, templatename, context, doctree) -> None:
    if doctree is None or "body" not in context:
        return
    chinese = is_chinese(app)
    href = other_edition(pagename, chinese)
    label, lang = ("English", "en") if chinese else ("中文版", "zh-CN")
    context["metatags"] = context.get("metatags", "") + f'<link rel="alternate" hreflang="{lang}" href="{href}">\n'
    switch = (f'<p class="genviz-edition" style="text-align:right;margin:0"><a class="genviz-edition-switch" '
              f'href="{href}" hreflang="{lang}" lang="{lang}">{label}</a></p>\n')
    note = ""
    if chinese and pagename in _pending():
        note = ('<div class="admonition note genviz-untranslated"><p class="admonition-title">翻译进行中</p>'
                '<p>本页的中文译文尚未完成，未译的段落暂以英文显示。</p></div>\n')
    context["body"] = switch + note + context["body"]


def _translate_captions(app: Sphinx, doctree) -> None:
    """The sidebar's part captions ("Chapters", "About"), from the root page's catalogue: sphinx-external-toc
    adds its toctrees after Sphinx has translated the page, so their captions would stay English."""
    if not is_chinese(app):
        return
    catalogue = gettext.translation(app.env.docname, localedir=_LOCALE, languages=[app.config.language],
                                    fallback=True)
    for toctree in doctree.findall(addnodes.toctree):
        if toctree.get("caption"):
            toctree["caption"] = catalogue.gettext(toctree["caption"])


class ExerciseTitles(SphinxTransform):
    """sphinx-exercise builds an exercise's own title ("(Error per image)") without a source or a raw text, and
    Sphinx's gettext skips a text without them: give it the page's source and its text (math back between $), so
    that it is extracted and translated like a heading."""

    default_priority = 5   # before Sphinx's Locale transform (20), which translates

    def apply(self, **kwargs) -> None:
        from docutils import nodes
        from sphinx_exercise.nodes import exercise_subtitle

        for node in self.document.findall(exercise_subtitle):
            node.source = node.source or self.document["source"]
            node.line = node.line or node.parent.line or 1
            node.rawsource = node.rawsource or "".join(
                f"${c.astext()}$" if isinstance(c, nodes.math) else c.astext() for c in node.children)


class TableCells(SphinxTransform):
    """MyST-NB builds the cells of a notebook's markdown tables without a source, and Sphinx's gettext skips a text
    without one: give them the page's, so that the tables of the chapters (their tuning notes) are extracted and
    translated like the paragraphs around them."""

    default_priority = 5   # before Sphinx's Locale transform (20), which translates

    def apply(self, **kwargs) -> None:
        from docutils import nodes

        def in_output(node) -> bool:          # a table a code cell displayed: measured, not translated
            while node is not None:
                if "cell_output" in node.get("classes", []):
                    return True
                node = node.parent
            return False

        for entry in self.document.findall(nodes.entry):
            if in_output(entry):
                continue
            for node in entry.findall(nodes.TextElement):
                if not node.source and node.rawsource:
                    node.source = self.document["source"]
                    node.line = node.line or entry.line or 1


def _extract_exercise_titles(app: Sphinx, doctree) -> None:
    """The gettext builder reads a page's messages after sphinx-exercise has rebuilt its titles from nodes without a
    source: take the exercises' own titles from the page as read."""
    if app.builder.name != "gettext":
        return
    from sphinx.builders.gettext import MsgOrigin
    from sphinx.util.i18n import docname_to_domain
    from sphinx_exercise.nodes import exercise_subtitle

    catalogue = app.builder.catalogs[docname_to_domain(app.env.docname, app.config.gettext_compact)]
    for node in doctree.findall(exercise_subtitle):
        catalogue.add(node.rawsource, MsgOrigin(node.source, node.line))


def _register_translated_exercises(app: Sphinx, doctree) -> None:
    """sphinx-exercise titles a solution from the copy of its exercise it kept when the directive ran, before the
    page was translated: keep the translated exercise instead."""
    registry = getattr(app.env, "sphinx_exercise_registry", {})
    if not is_chinese(app) or not registry:
        return
    from sphinx_exercise.nodes import exercise_enumerable_node, exercise_node

    for node in doctree.findall(lambda n: isinstance(n, (exercise_node, exercise_enumerable_node))):
        if node.get("label") in registry:
            registry[node["label"]]["node"] = node.deepcopy()


WORDS_JS = "genviz-words.js"


def _load_words(app: Sphinx) -> None:
    if is_chinese(app) and app.builder.format == "html":
        app.add_js_file(WORDS_JS)


def _write_words(app: Sphinx, exception) -> None:
    if exception is None and is_chinese(app) and app.builder.format == "html":
        table = {"words": editions.table("zh_CN"), "keep": sorted(editions.KEEP)}
        out = Path(app.outdir) / "_static" / WORDS_JS
        out.write_text("window.genvizWords = " + json.dumps(table, ensure_ascii=False) + ";\n", encoding="utf-8")


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", _add_switch)
    app.connect("builder-inited", _load_words)
    app.connect("doctree-read", _translate_captions)
    app.add_transform(ExerciseTitles)
    app.add_transform(TableCells)
    app.connect("doctree-read", _extract_exercise_titles)
    app.connect("doctree-read", _register_translated_exercises)
    app.connect("build-finished", _write_words)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
