"""The Chinese edition: one source (the English notebooks and pages), message catalogues beside it.

Sphinx's gettext builder cuts every page into messages (a paragraph, a heading, a list item, a table cell);
MyST-NB (>= 1.2) does so for the notebooks' markdown too. The translations live in
``locale/zh_CN/LC_MESSAGES/<page>.po``, one catalogue per page, kept by ``sphinx-intl``. The Chinese site is a
second Sphinx build with ``language: zh_CN`` that reads the same executed notebooks from the English build's
execution cache, so no notebook runs twice.

    python tools/i18n.py update                  # extract the English messages, merge them into the catalogues
    python tools/i18n.py check                   # exit 1 if a catalogue is stale, untranslated or fuzzy
    python tools/i18n.py lint [PO ...]           # exit 1 if a translation dropped math, a role, code or a link
    python tools/i18n.py todo PO [--all]         # the messages still to translate, as blocks "=== N" + English
    python tools/i18n.py apply PO FILE           # write the blocks "=== N" + translation of FILE into PO, lint them
    python tools/i18n.py config zh_CN OUT.yml --cache DIR   # the Jupyter Book config of an edition
    python tools/i18n.py figure-words DIR [--all]   # words of the executed notebooks' figures with no translation
    python tools/i18n.py uncache NOTEBOOK ... --cache DIR   # make the next build execute these notebooks again

To translate, ``todo`` a catalogue into a text file, replace each block's English by its translation (the text
is raw: LaTeX and backslashes as they are, no escaping), and ``apply`` it; N is the message's place in the
catalogue. ``apply`` prints what a translation lost of its English's markup; fix the block and apply again.

A page that is still being translated is listed in ``locale/zh_CN/PENDING`` (one page name a line): ``check``
accepts gaps there only, and fails when a listed page is complete (take it off the list). The Chinese site marks
such a page with a note that parts of it are still in English.

The words inside figures and explorers are not in the catalogues: they are looked up in
``genviz_utils/words_zh_CN.json`` (``genviz_utils.editions``). ``figure-words`` lists those the figures of
executed notebooks (``_build/jupyter_execute``) drew without a translation; the Chinese build warns of each, and
the browser tests fail on an explorer's word without one.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from genviz_utils.editions import figure_mime, figure_outputs, translate

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "locale"
LANG = "zh_CN"
CATALOGUES = LOCALE / LANG / "LC_MESSAGES"
PENDING = LOCALE / LANG / "PENDING"
BIN = Path(sys.executable).parent  # the venv's jupyter-book and sphinx-intl

# What a translation must carry over unchanged, in the same number: display and inline math, MyST roles with
# their targets (citations, equation and section references), code spans and link targets.
_KEEP = {
    "display math": re.compile(r"\$\$.+?\$\$", re.S),
    "role": re.compile(r"\{[\w:-]+\}`[^`]+`"),
    "code": re.compile(r"`[^`]+`"),
    "inline math": re.compile(r"(?<![$\\])\$(?!\$)(?:\\.|[^$\\])+\$"),
    "link target": re.compile(r"\]\(([^)\s]+)\)"),
}


def _spans(text: str) -> dict[str, Counter]:
    """The markup of ``text`` by kind, each kind matched after the earlier ones are blanked out (a role's
    backticks are not code, a dollar sign in code is not math)."""
    found = {}
    for name, pattern in _KEEP.items():
        found[name] = Counter(pattern.findall(text))
        text = pattern.sub(lambda m: " " * len(m.group(0)), text)
    return found


_PUNCT = set("（）()“”「」《》，。：；、！？,.:;!?'\"")
# Words left after the markup is taken out: a message without any is copied as its own translation.
_WORDS = re.compile(r"[A-Za-z]{2,}")


def page_name(po: Path) -> str:
    """``notebooks/02_vae`` for ``locale/zh_CN/LC_MESSAGES/notebooks/02_vae.po``."""
    return po.relative_to(CATALOGUES).with_suffix("").as_posix()


def edition_config(language: str, out: Path, cache: Path | None, execute: str = "cache") -> Path:
    """Write the Jupyter Book config of an edition: ``_config.yml`` with ``language`` and the catalogues.

    Paths become absolute, since Jupyter Book reads them relative to the config file. ``cache`` is the English
    build's execution cache, so that the edition renders the notebooks executed there instead of running them.
    """
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    config["logo"] = str(ROOT / config["logo"])
    config["html"]["favicon"] = str(ROOT / config["html"]["favicon"])
    config["bibtex_bibfiles"] = [str(ROOT / p) for p in config["bibtex_bibfiles"]]
    sphinx = config["sphinx"]
    sphinx["local_extensions"] = {k: str(ROOT / v) for k, v in sphinx["local_extensions"].items()}
    sphinx["config"]["html_extra_path"] = [str(ROOT / p) for p in sphinx["config"]["html_extra_path"]]
    sphinx["config"].update(language=language, locale_dirs=[str(LOCALE)], gettext_compact=False,
                            gettext_uuid=False)
    if language.startswith("zh"):
        # the page furniture that the extensions write in English whatever the language (the chapters hide only
        # code cells' input, so "code" is what the prompt shows or hides)
        sphinx["config"].update(togglebutton_hint="点击显示", togglebutton_hint_hide="点击隐藏",
                                nb_code_prompt_show="显示代码", nb_code_prompt_hide="隐藏代码")
    # the figures' images with the edition's words (genviz_utils.editions), before the English image/png (50)
    overrides = sphinx["config"].get("nb_mime_priority_overrides", [])
    sphinx["config"]["nb_mime_priority_overrides"] = [*overrides, ["*", figure_mime(language), 45]]
    config["execute"]["execute_notebooks"] = execute
    if cache is not None:
        config["execute"]["cache"] = str(Path(cache).resolve())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out


def extract(work: Path) -> Path:
    """The English messages as ``.pot`` files (no notebook is executed: outputs are not translated).

    Messages of generated text (``book/_generated/``: the status page's measured tables, which change with every
    build) are left out: they are numbers and names, shown as measured in both editions.
    """
    import polib

    config = edition_config("en", work / "_config.yml", cache=None, execute="off")
    cmd = [str(BIN / "jupyter-book"), "build", str(ROOT), "--config", str(config),
           "--builder", "custom", "--custom-builder", "gettext", "--path-output", str(work / "out")]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode:
        raise SystemExit(f"extracting the messages failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    pot_dir = work / "out" / "_build" / "gettext"
    # an included file's table cells are attributed to the include's own line: those lines are generated text too
    includes = {(page.relative_to(ROOT).as_posix(), str(n)) for page in (ROOT / "book").glob("*.md")
                for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
                if line.startswith("```{include} _generated/")}

    def generated(source: str, line: str) -> bool:
        return "_generated/" in source or any(source.endswith(f) and line == n for f, n in includes)

    for path in pot_dir.rglob("*.pot"):
        pot = polib.pofile(str(path), wrapwidth=0)
        for entry in [e for e in pot if e.occurrences and all(generated(f, n) for f, n in e.occurrences)]:
            pot.remove(entry)
        for entry in pot:
            entry.occurrences = []   # the build's temporary paths: noise in the catalogues' diffs
        pot.save(str(path))
    return pot_dir


def markup_only(text: str) -> bool:
    """True when ``text`` has no words outside its math, roles, code and links (nothing to translate).

    A display equation's message is its LaTeX alone, starting on a new line (or with an environment).
    """
    if (text.startswith("\n") and "\\" in text) or text.lstrip().startswith("\\begin{"):
        return True
    for pattern in _KEEP.values():
        text = pattern.sub(" ", text)
    return not _WORDS.search(re.sub(r"\\[A-Za-z]+", " ", text))


def update() -> None:
    """Merge freshly extracted messages into the catalogues; copy the markup-only ones as their own translation."""
    import polib

    with tempfile.TemporaryDirectory() as tmp:
        pot = extract(Path(tmp))
        subprocess.run([str(BIN / "sphinx-intl"), "update", "-p", str(pot), "-d", str(LOCALE),
                        "-l", LANG, "-w", "0", "--no-obsolete"], check=True, capture_output=True)
    for path in sorted(CATALOGUES.rglob("*.po")):
        po = polib.pofile(str(path), wrapwidth=0)
        for entry in po:
            if not entry.msgstr and markup_only(entry.msgid):
                entry.msgstr = entry.msgid
        po.save(str(path))
    print(report())


def _prose(text: str) -> str:
    """``text`` with its math, roles and code blanked out (same length)."""
    for name in ("display math", "role", "code", "inline math"):
        text = _KEEP[name].sub(lambda m: " " * len(m.group(0)), text)
    return text


def lint_entry(msgid: str, msgstr: str) -> list[str]:
    """What ``msgstr`` lost or changed of the markup of ``msgid`` (empty when it kept it all)."""
    problems = []
    wanted, got_all = _spans(msgid), _spans(msgstr)
    for name in _KEEP:
        want, got = wanted[name], got_all[name]
        if want != got:
            lost, new = sorted((want - got).elements()), sorted((got - want).elements())
            problems.append(f"{name}: lost {lost}, added {new}")
    # bold is looked for outside math, roles and code (where ** is an operator)
    msgid, msgstr = _prose(msgid), _prose(msgstr)
    if msgid.count("**") != msgstr.count("**"):
        problems.append(f"bold: {msgid.count('**') // 2} spans in English, {msgstr.count('**') / 2:g} here")
    # a heading or a sentence opening with "2. " would be parsed as a numbered list, and the translation dropped
    if re.match(r"\d+\. ", msgstr):
        problems.append("starts with a number and a dot, which reads as a numbered list: write it as 2\\. ")
    # CommonMark ignores a ** with punctuation inside and a character outside (common next to Chinese punctuation)
    for span in re.finditer(r"\*\*(.+?)\*\*", msgstr):
        inner, start, end = span.group(1), span.start(), span.end()
        before = msgstr[start - 1] if start else " "
        after = msgstr[end] if end < len(msgstr) else " "
        if (inner[0] in _PUNCT and not before.isspace()) or (inner[-1] in _PUNCT and not after.isspace()):
            problems.append(f"**{inner}**: punctuation just inside the ** next to a character outside them does "
                            "not render bold: move the punctuation outside the **")
    return problems


def lint(paths: list[Path]) -> int:
    import polib

    bad = 0
    for path in paths:
        for entry in polib.pofile(str(path)):
            if entry.msgstr:
                for problem in lint_entry(entry.msgid, entry.msgstr):
                    bad += 1
                    print(f"{path.resolve().relative_to(ROOT)}: {entry.msgid[:60]!r}…: {problem}")
    return bad


_BLOCK = re.compile(r"^=== (\d+)\n", re.M)


def todo(path: Path, everything: bool = False) -> str:
    """The messages of a catalogue still to translate (all with ``everything``), as ``=== N`` blocks."""
    import polib

    po = polib.pofile(str(path))
    return "".join(f"=== {i}\n{e.msgid}\n" for i, e in enumerate(po)
                   if everything or not e.msgstr or "fuzzy" in e.flags)


def apply(path: Path, blocks: str) -> int:
    """Write the ``=== N`` blocks of ``blocks`` into the catalogue as translations; return the lint problems."""
    import polib

    po = polib.pofile(str(path), wrapwidth=0)
    parts = _BLOCK.split(blocks)
    bad = 0
    for index, text in zip(parts[1::2], parts[2::2], strict=True):
        entry = po[int(index)]
        text = text[:-1] if text.endswith("\n") else text
        text = text + "\n" if entry.msgid.endswith("\n") and not text.endswith("\n") else text
        if not text.strip():
            continue
        entry.msgstr = text
        if "fuzzy" in entry.flags:   # a translation of the changed English: no longer fuzzy, no old English kept
            entry.flags.remove("fuzzy")
            entry.previous_msgid = None
        for problem in lint_entry(entry.msgid, text):
            bad += 1
            print(f"=== {index}: {problem}")
    po.save(str(path))
    return bad


def stats() -> dict[str, tuple[int, int, int]]:
    """``{page: (translated, untranslated, fuzzy)}`` over the catalogues."""
    import polib

    out = {}
    for path in sorted(CATALOGUES.rglob("*.po")):
        po = polib.pofile(str(path))
        out[page_name(path)] = (len(po.translated_entries()), len(po.untranslated_entries()),
                                len(po.fuzzy_entries()))
    return out


def pending() -> set[str]:
    lines = PENDING.read_text(encoding="utf-8").splitlines() if PENDING.exists() else []
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def report() -> str:
    rows = [f"{'page':32} {'done':>5} {'todo':>5} {'fuzzy':>5}"]
    for page, (done, todo, fuzzy) in stats().items():
        rows.append(f"{page:32} {done:5d} {todo:5d} {fuzzy:5d}")
    return "\n".join(rows)


def check() -> list[str]:
    """Every English message has a catalogue entry, and every entry outside PENDING pages is translated."""
    import polib

    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        pot_dir = extract(Path(tmp))
        for pot in sorted(pot_dir.rglob("*.pot")):
            page = pot.relative_to(pot_dir).with_suffix("").as_posix()
            po_path = CATALOGUES / f"{page}.po"
            if not po_path.exists():
                problems.append(f"{page}: no catalogue (python tools/i18n.py update)")
                continue
            have = {e.msgid for e in polib.pofile(str(po_path)) if not e.obsolete}
            missing = [e.msgid for e in polib.pofile(str(pot)) if e.msgid not in have]
            if missing:
                problems.append(f"{page}: {len(missing)} English messages not in its catalogue, e.g. "
                                f"{missing[0][:80]!r} (python tools/i18n.py update, then translate them)")
    waiting = pending()
    for page, (_, todo, fuzzy) in stats().items():
        if page in waiting and not (todo or fuzzy):
            problems.append(f"{page}: translated, but still in {PENDING.relative_to(ROOT)}: take it off")
        elif page not in waiting and (todo or fuzzy):
            problems.append(f"{page}: {todo} untranslated and {fuzzy} fuzzy messages")
    bad = lint(sorted(CATALOGUES.rglob("*.po")))
    if bad:
        problems.append(f"{bad} translations changed the markup of their English (printed above)")
    return problems


def figure_words(folder: Path, everything: bool = False, language: str = LANG) -> dict[str, str | None]:
    """The words the figures of the executed notebooks under ``folder`` carry (their images in ``language``):
    English -> its translation now, only those without one unless ``everything``."""
    words: dict[str, str | None] = {}
    for path in sorted(Path(folder).rglob("*.ipynb")):
        for _, drawn in figure_outputs(path, language):
            for english in drawn:
                now = translate(english, language)
                if everything or now is None:
                    words[english] = now
    return words


def uncache(notebooks: list[Path], cache: Path) -> int:
    """Drop ``notebooks`` from the execution cache ``cache`` (Jupyter Book's ``_build/.jupyter_cache``) and mark
    them changed, so that the next English build reads and executes them again: their figures are drawn with the
    words of the table as it is now. Returns how many cached executions were dropped."""
    import os

    from jupyter_cache import get_cache

    store = get_cache(str(cache))
    wanted = {(ROOT / nb).resolve() for nb in notebooks}
    dropped = [r for r in store.list_cache_records() if Path(r.uri).resolve() in wanted]
    for record in dropped:
        store.remove_cache(record.pk)
    for nb in wanted:
        os.utime(nb)              # Sphinx reads again only a source newer than its last read
    return len(dropped)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("update")
    sub.add_parser("check")
    sub.add_parser("lint").add_argument("po", nargs="*", type=Path)
    todo_cmd = sub.add_parser("todo")
    todo_cmd.add_argument("po", type=Path)
    todo_cmd.add_argument("--all", action="store_true")
    apply_cmd = sub.add_parser("apply")
    apply_cmd.add_argument("po", type=Path)
    apply_cmd.add_argument("file", type=Path)
    cfg = sub.add_parser("config")
    cfg.add_argument("language")
    cfg.add_argument("out", type=Path)
    cfg.add_argument("--cache", type=Path, required=True)
    fig_cmd = sub.add_parser("figure-words")
    fig_cmd.add_argument("folder", type=Path)
    fig_cmd.add_argument("--all", action="store_true")
    uncache_cmd = sub.add_parser("uncache")
    uncache_cmd.add_argument("notebooks", nargs="+", type=Path)
    uncache_cmd.add_argument("--cache", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "update":
        update()
    elif args.command == "check":
        problems = check()
        print(report())
        for problem in problems:
            print("error:", problem)
        return 1 if problems else 0
    elif args.command == "lint":
        return 1 if lint(args.po or sorted(CATALOGUES.rglob("*.po"))) else 0
    elif args.command == "todo":
        sys.stdout.write(todo(args.po, args.all))
    elif args.command == "apply":
        return 1 if apply(args.po, args.file.read_text(encoding="utf-8")) else 0
    elif args.command == "figure-words":
        words = figure_words(args.folder, args.all)
        print(json.dumps(words, ensure_ascii=False, indent=1))
        return 1 if any(v is None for v in words.values()) else 0
    elif args.command == "uncache":
        print(f"{uncache(args.notebooks, args.cache)} cached executions dropped")
    else:
        edition_config(args.language, args.out, args.cache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
