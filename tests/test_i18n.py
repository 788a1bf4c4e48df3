"""The Chinese edition's catalogues (tools/i18n.py) and the language switch (book/_ext/editions.py).

The first test extracts the English messages afresh (about 10 s, no notebook runs) and fails when a changed English
paragraph has no translation, or when a translation is missing, fuzzy or lost its English's markup: a changed
paragraph cannot land without its translation. Pages still being translated are listed in locale/zh_CN/PENDING.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


i18n = _load("genviz_i18n", ROOT / "tools" / "i18n.py")
editions = _load("genviz_editions", ROOT / "book" / "_ext" / "editions.py")


def test_the_catalogues_are_current_and_translated():
    problems = i18n.check()
    assert not problems, "\n".join(problems) + "\n" + i18n.report()


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_the_tables_of_the_notebooks_are_in_their_catalogues(notebook):
    """MyST-NB builds a notebook table's cells without a source, which Sphinx's gettext skips: book/_ext/editions.py
    gives them one. Every cell with words is then a message of the page's catalogue, with a translation."""
    import json

    cells = [cell.strip() for c in json.loads(notebook.read_text(encoding="utf-8"))["cells"]
             if c["cell_type"] == "markdown" for line in "".join(c["source"]).splitlines()
             if line.startswith("|") and not line.startswith("|---") for cell in line.strip("|").split(" | ")]
    wording = [c for c in cells if c and not i18n.markup_only(c)]
    po = polib.pofile(str(ROOT / "locale" / "zh_CN" / "LC_MESSAGES" / "notebooks" / f"{notebook.stem}.po"))
    translated = {e.msgid for e in po if e.msgstr and not e.fuzzy}
    missing = [c for c in wording if c not in translated]
    assert not missing, f"{notebook.name}: table cells not in its catalogue (tools/i18n.py update): {missing[:5]}"


def test_every_page_has_a_catalogue_and_pending_names_real_pages():
    pages = set(i18n.stats())
    toc = {"book/intro"} | {line.split("file:")[1].strip() for line in (ROOT / "_toc.yml").read_text().splitlines()
                            if "file:" in line}
    assert toc <= pages, f"pages without a catalogue: {sorted(toc - pages)} (python tools/i18n.py update)"
    assert i18n.pending() <= pages, f"PENDING names pages that do not exist: {sorted(i18n.pending() - pages)}"


GOOD = ("The **prior** $p(z)$ of {cite}`kingma2014auto` is set in `BUDGET` ([chapter 1](01_autoencoder)).",
        "{cite}`kingma2014auto` 的**先验** $p(z)$ 在 `BUDGET` 中设定（[第 1 章](01_autoencoder)）。")


@pytest.mark.parametrize("wrong, names", [
    ("{cite}`kingma2014auto` 的**先验** $p(x)$ 在 `BUDGET` 中设定（[第 1 章](01_autoencoder)）。", "inline math"),
    ("Kingma 的**先验** $p(z)$ 在 `BUDGET` 中设定（[第 1 章](01_autoencoder)）。", "role"),
    ("{cite}`kingma2014auto` 的**先验** $p(z)$ 在预算中设定（[第 1 章](01_autoencoder)）。", "code"),
    ("{cite}`kingma2014auto` 的**先验** $p(z)$ 在 `BUDGET` 中设定（[第 1 章](02_vae)）。", "link target"),
    ("{cite}`kingma2014auto` 的先验 $p(z)$ 在 `BUDGET` 中设定（[第 1 章](01_autoencoder)）。", "bold"),
    ("{cite}`kingma2014auto` 的**先验（prior）**在 `BUDGET` 中设定 $p(z)$（[第 1 章](01_autoencoder)）。",
     "punctuation"),
])
def test_lint_names_what_a_translation_lost(wrong, names):
    assert i18n.lint_entry(*GOOD) == []
    problems = i18n.lint_entry(GOOD[0], wrong)
    assert problems and any(names in p for p in problems), problems


def test_lint_catches_a_heading_that_would_become_a_list():
    msgid = "2. Variational autoencoders"
    assert "numbered list" in " ".join(i18n.lint_entry(msgid, "2. 变分自编码器"))
    assert i18n.lint_entry(msgid, "2\\. 变分自编码器") == []


def test_markup_only_messages_are_copied_but_prose_is_not():
    assert i18n.markup_only("\n\\theta^\\star = \\arg\\max_\\theta \\sum_i \\log p_\\theta(x_i)\n")
    assert i18n.markup_only("$\\beta$")
    assert i18n.markup_only("`smoke`")
    assert i18n.markup_only("1")
    assert not i18n.markup_only("The prior $p(z)$")
    assert not i18n.markup_only("chapter")


def test_todo_and_apply_round_trip_raw_latex(tmp_path):
    po = polib.POFile(wrapwidth=0)
    po.metadata = {"Content-Type": "text/plain; charset=UTF-8"}
    po.append(polib.POEntry(msgid="The prior $\\mathcal N(0, I)$.", msgstr=""))
    po.append(polib.POEntry(msgid="Done", msgstr="完成"))
    po.append(polib.POEntry(msgid="Old text", msgstr="旧译文", flags=["fuzzy"], previous_msgid="Older text"))
    path = tmp_path / "page.po"
    po.save(str(path))
    blocks = i18n.todo(path)
    assert blocks == "=== 0\nThe prior $\\mathcal N(0, I)$.\n=== 2\nOld text\n"
    assert i18n.apply(path, "=== 0\n先验 $\\mathcal N(0, I)$。\n=== 2\n新译文\n") == 0
    back = polib.pofile(str(path))
    assert [e.msgstr for e in back] == ["先验 $\\mathcal N(0, I)$。", "完成", "新译文"]
    assert not back.fuzzy_entries() and i18n.todo(path) == "" and back[2].previous_msgid is None
    # a translation that loses the math is written (to be fixed) but reported
    assert i18n.apply(path, "=== 0\n先验。\n") == 1


@pytest.mark.parametrize("page, chinese, href", [
    ("book/intro", False, "../zh/book/intro.html"),
    ("book/intro", True, "../../book/intro.html"),
    ("notebooks/02_vae", True, "../../notebooks/02_vae.html"),
    ("search", False, "zh/search.html"),
])
def test_the_switch_goes_to_the_same_page_in_the_other_edition(page, chinese, href):
    assert editions.other_edition(page, chinese) == href


def test_the_chinese_config_reads_the_english_execution_cache(tmp_path):
    import yaml

    out = i18n.edition_config("zh_CN", tmp_path / "zh.yml", cache=tmp_path / "cache")
    config = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert config["sphinx"]["config"]["language"] == "zh_CN"
    assert config["sphinx"]["config"]["locale_dirs"] == [str(ROOT / "locale")]
    assert config["execute"] == {**config["execute"], "execute_notebooks": "cache", "cache": str(tmp_path / "cache")}
    assert all(Path(p).is_absolute() for p in config["sphinx"]["local_extensions"].values())
    # the page furniture in Chinese too
    assert config["sphinx"]["config"]["togglebutton_hint"] == "点击显示"
    assert config["sphinx"]["config"]["nb_code_prompt_show"] == "显示代码"
    # the Chinese figures' images come before the English image/png
    assert config["sphinx"]["config"]["nb_mime_priority_overrides"] == [["*", "image/x-genviz-zh_CN+png", 45]]


def test_uncache_drops_only_the_named_notebooks(tmp_path):
    from jupyter_cache import get_cache

    store = get_cache(str(tmp_path / "cache"))
    for name in ("01_autoencoder", "02_vae"):
        store.cache_notebook_file(ROOT / "notebooks" / f"{name}.ipynb", check_validity=False)
    assert i18n.uncache([Path("notebooks/02_vae.ipynb")], tmp_path / "cache") == 1
    assert [Path(r.uri).name for r in store.list_cache_records()] == ["01_autoencoder.ipynb"]
    assert i18n.uncache([Path("notebooks/02_vae.ipynb")], tmp_path / "cache") == 0


def test_figure_words_lists_the_words_without_a_translation(tmp_path):
    import nbformat

    mime = i18n.figure_mime("zh_CN")
    words = {"loss": "损失", "a phrase no table holds": None}
    figure = nbformat.v4.new_output("display_data", data={mime: "iVBOR"}, metadata={mime: {"words": words}})
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("plot()", outputs=[figure])])
    nbformat.write(nb, tmp_path / "x.ipynb")
    assert i18n.figure_words(tmp_path) == {"a phrase no table holds": None}
    assert i18n.figure_words(tmp_path, everything=True)["loss"] == i18n.translate("loss", "zh_CN")
