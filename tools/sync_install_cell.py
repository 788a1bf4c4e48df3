"""The install cell of every notebook, stored once, and the one place for the repository URL.

The first code cell of every chapter installs the course package where it is missing (Colab). Its text is
:data:`TEMPLATE`, rendered with ``repository.url`` and ``repository.branch`` from ``_config.yml``, the one line a
fork that publishes the course changes (Jupyter Book's launch buttons read the same keys).

    python tools/sync_install_cell.py                      # rewrite the install cell of notebooks/*.ipynb
    python tools/sync_install_cell.py --check              # exit 1 if any notebook's cell differs
    python tools/sync_install_cell.py /tmp/nb/*.ipynb      # other notebooks

Only the install cell's ``source`` changes; its id, metadata (the ``remove-cell`` tag) and every other cell stay.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Rendered with @URL@ and @BRANCH@. GENVIZ_INSTALL_SPEC replaces the spec (ci/colab_check.py points it at a wheel of
# the checkout). pip keeps every preinstalled package that satisfies the package's ranges (pyproject.toml's lower
# bounds are at or below Colab's versions), so Colab's torch, numpy and ipywidgets stay as they are. The data needs
# nothing installed: genviz_utils.data downloads it with the standard library (two sources, SHA-256 checked).
TEMPLATE = '''\
# On Colab (or anywhere the course package is missing) install it; elsewhere this does nothing.
# Colab's own torch, numpy and ipywidgets stay; GENVIZ_INSTALL_SPEC installs something else.
import os

try:
    import genviz_utils  # noqa: F401
except ImportError:
    _url = "git+@URL@@@BRANCH@"
    _spec = os.environ.get("GENVIZ_INSTALL_SPEC", f"genviz-utils @ {_url}")
    %pip install -q "{_spec}"
'''


def repository(config: Path = ROOT / "_config.yml") -> tuple[str, str]:
    """(url, branch) from ``_config.yml``'s ``repository`` section: the course's one place for them."""
    import yaml

    repo = (yaml.safe_load(config.read_text()) or {}).get("repository") or {}
    url, branch = repo.get("url"), repo.get("branch", "main")
    if not url or not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise SystemExit(f"{config}: repository.url must be https://github.com/<owner>/<name> (Colab and the "
                         f"install cell need a GitHub repository), got {url!r}.")
    return url, branch


def render(url: str, branch: str) -> str:
    return TEMPLATE.replace("@URL@", url).replace("@BRANCH@", branch)


def colab_link(url: str, branch: str, notebook: str) -> str:
    """The Colab address of ``notebook`` (e.g. ``notebooks/01_autoencoder.ipynb``) in the repository."""
    return f"https://colab.research.google.com/github/{url.removeprefix('https://github.com/')}/blob/{branch}/{notebook}"


def _lines(text: str) -> list[str]:
    """nbformat's source layout: lines keep their newline, the last has none."""
    return text.rstrip("\n").splitlines(keepends=True)


def install_cell(nb: dict, path: Path) -> dict:
    """The first code cell, which must be the install cell."""
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            src = "".join(cell["source"])
            if "import genviz_utils" not in src or "pip install" not in src:
                raise SystemExit(f"{path}: the first code cell is not the install cell (it must try `import "
                                 "genviz_utils` and `%pip install` it); put the install cell first.")
            return cell
    raise SystemExit(f"{path}: no code cell; the install cell must be the first one.")


def sync(paths: list[Path], check: bool, url: str, branch: str) -> list[Path]:
    """Rewrite (or, with ``check``, only compare) the install cell of each notebook; return those that differ."""
    want = _lines(render(url, branch))
    differ = []
    for path in paths:
        text = path.read_text()
        nb = json.loads(text)
        cell = install_cell(nb, path)
        source = cell["source"] if isinstance(cell["source"], list) else _lines(cell["source"])
        if source == want:
            continue
        differ.append(path)
        if not check:
            cell["source"] = want
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return differ


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook's cell differs")
    ap.add_argument("--config", type=Path, default=ROOT / "_config.yml")
    args = ap.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    url, branch = repository(args.config)
    differ = sync(paths, args.check, url, branch)
    for p in differ:
        print(f"{'differs' if args.check else 'rewrote'}: {p}")
    if args.check and differ:
        print("Fix: python tools/sync_install_cell.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
