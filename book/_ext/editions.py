"""Two editions of one book: English at the site's root, Chinese under ``zh/`` (``tools/i18n.py``).

Every page gets a link to the same page in the other edition, at the top of the article and as a
``<link rel="alternate" hreflang>``. A Chinese page whose catalogue is still being translated (listed in
``locale/zh_CN/PENDING``) says so above its text, since the messages without a translation stay in English.
"""

from __future__ import annotations

from pathlib import Path

from sphinx.application import Sphinx

ZH_DIR = "zh/"  # where the Chinese site sits inside the English one
_PENDING = Path(__file__).resolve().parents[2] / "locale" / "zh_CN" / "PENDING"


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


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", _add_switch)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
