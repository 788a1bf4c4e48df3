"""A Colab-like run of every notebook: Colab's package set, each notebook's own install cell, the smoke profile.

    python ci/colab_check.py [--python PYTHON3.12] [--venv .cache/venv-colab] [notebooks/*.ipynb]
    make colab-check

1. A separate venv with Colab's Python and packages (``ci/colab-constraints.txt``, with every dependency held to
   Colab's version by ``ci/colab-pip-freeze.txt``); made once, remade when those files change.
2. A wheel of the checkout. It is installed only by each notebook's own install cell, through
   ``GENVIZ_INSTALL_SPEC``; it is uninstalled again after each notebook, as a fresh Colab runtime would not have it.
3. Every notebook executed top to bottom with nbclient (the same runner Colab preinstalls) in the smoke profile,
   from a folder without the course's source, offline (``GENVIZ_DATA``: ``.data`` under ``make``).
4. Asserted: every cell ran; ``pip freeze`` of the preinstalled packages is the same after each notebook as
   before (the install cell upgraded nothing); every cell that shows a widget (it calls an explorer, or creates a
   DOM widget) produced an ``application/vnd.jupyter.widget-view+json`` output.
5. ``tests/test_widgets_compat.py`` (every explorer built on tiny fake models) passes under Colab's ipywidgets.

The orchestrating part uses the standard library only; ``--execute`` runs inside the venv (nbclient).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "ci" / "colab-constraints.txt"
FREEZE = ROOT / "ci" / "colab-pip-freeze.txt"
PACKAGE = "genviz-utils"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# Colab's pins that the substituted torch 2.14.1 conflicts with (see colab-constraints.txt): not used as constraints.
SUBSTITUTED = re.compile(r"^(torch|torchvision|torchaudio|torchcodec|setuptools|triton|nvidia-.*|cuda-.*)$")
# A cell whose last statement calls one of these shows a widget box (genviz_utils.widgets, vq_widgets, chapter 5).
EXPLORER = re.compile(r"^(\w+_explorer|token_editor)$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_freeze(text: str) -> dict[str, str]:
    """``{normalised name: version or URL}`` from ``pip freeze`` output (comments and blank lines skipped)."""
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==|@)\s*(\S+)", line)
        if m:
            out[_norm(m.group(1))] = m.group(2)
    return out


def freeze_diff(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Human-readable changes between two freezes (added, removed, changed version)."""
    lines = []
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        if a != b:
            lines.append(f"{name}: {a or '(absent)'} -> {b or '(removed)'}")
    return lines


def colab_constraints(freeze_text: str) -> tuple[list[str], list[str]]:
    """(lines usable as pip constraints, the lines dropped and why) from Colab's ``pip freeze``."""
    keep, dropped = [], []
    for line in freeze_text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(==|@)", s)
        if not m:
            dropped.append(f"{s} (not a requirement)")
        elif m.group(2) == "@":
            dropped.append(f"{s.split(' @ ')[0]} (a URL or file, which pip does not take as a constraint)")
        elif SUBSTITUTED.match(_norm(m.group(1))):
            dropped.append(f"{s} (SUBSTITUTED: conflicts with this machine's torch 2.14.1)")
        else:
            keep.append(s)
    return keep, dropped


def _source_as_python(src: str) -> str:
    """A code cell's source with IPython magics and shell escapes replaced by ``pass``."""
    return "\n".join(line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!"))
                     else line for line in src.splitlines())


def calls_explorer(src: str) -> bool:
    """Whether the cell's last statement is a bare call of an explorer (whose box the cell then displays)."""
    if src.rstrip().endswith(";"):  # IPython displays nothing after a trailing semicolon
        return False
    try:
        body = ast.parse(_source_as_python(src)).body
    except SyntaxError:
        return False
    if not body or not isinstance(body[-1], ast.Expr) or not isinstance(body[-1].value, ast.Call):
        return False
    f = body[-1].value.func
    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
    return bool(EXPLORER.match(name))


def widget_problems(cells: list[dict], created_dom: dict[int, int]) -> tuple[int, list[str]]:
    """(number of cells that showed a widget view, the cells that should have and did not).

    ``created_dom``: cell index -> how many DOM widgets (sliders, boxes, outputs) the cell created.
    """
    shown, problems = 0, []
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        has_view = any(WIDGET_VIEW in o.get("data", {}) for o in cell.get("outputs", [])
                       if o.get("output_type") in ("display_data", "execute_result"))
        shown += has_view
        expects = calls_explorer(src) or created_dom.get(i, 0) > 0
        if expects and not has_view:
            why = "calls an explorer" if calls_explorer(src) else f"created {created_dom[i]} DOM widget(s)"
            problems.append(f"cell [{i}] {why} but produced no {WIDGET_VIEW} output: {src.strip()[:80]!r}")
    return shown, problems


# --- inside the venv -------------------------------------------------------------------------------------------

def execute(src: Path, dst: Path, report: Path, timeout: int) -> int:
    """Run one notebook with nbclient (in the venv); write the executed notebook and a JSON report."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(src, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(src.parent)}})
    before: dict[int, set[str]] = {}
    created: dict[int, int] = {}

    def on_start(cell, cell_index):
        before[cell_index] = set(client.widget_state)

    def on_done(cell, cell_index, execute_reply):
        new = set(client.widget_state) - before.get(cell_index, set())
        created[cell_index] = sum("_dom_classes" in client.widget_state[m] for m in new)

    client.on_cell_execute = on_start
    client.on_cell_executed = on_done
    error = None
    try:
        client.execute()
    except CellExecutionError as err:
        error = str(err)[-3000:]
    except Exception as err:  # kernel died, time-out
        error = f"{type(err).__name__}: {err}"[-3000:]
    nbformat.write(nb, dst)
    shown, problems = widget_problems(nb.cells, created)
    report.write_text(json.dumps({"error": error, "widget_cells": shown, "widget_problems": problems}))
    return 0


# --- the orchestrator ------------------------------------------------------------------------------------------

def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], check=True, text=True, **kw)


@contextlib.contextmanager
def _cpu_lock(path: str | None):
    """Hold ``path`` (flock) while a notebook runs, where CPUs are shared (GENVIZ_CPU_LOCK)."""
    if not path:
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _freeze(py: Path) -> dict[str, str]:
    out = _run([py, "-m", "pip", "freeze", "--all"], capture_output=True).stdout
    return parse_freeze(out)


def find_python(given: str | None) -> str:
    cands = [given] if given else [os.environ.get("COLAB_PYTHON"),
                                   str(Path.home() / ".pyenv/versions/3.12.1/bin/python"), shutil.which("python3.12")]
    for c in cands:
        if c and Path(c).exists():
            return c
    raise SystemExit("No Python 3.12 for the Colab-like venv. Fix: `pyenv install 3.12` or pass --python "
                     "/path/to/python3.12 (COLAB_PYTHON=... for make colab-check).")


def make_venv(venv: Path, python: str) -> None:
    """Create ``venv`` with Colab's package set unless it exists for the same files and Python."""
    key = hashlib.sha256(CONSTRAINTS.read_bytes() + FREEZE.read_bytes() + python.encode()).hexdigest()
    stamp = venv / ".colab-installed"
    if stamp.exists() and stamp.read_text() == key:
        print(f"venv: {venv} is up to date")
        return
    t0 = time.perf_counter()
    shutil.rmtree(venv, ignore_errors=True)
    _run([python, "-m", "venv", venv])
    py = venv / "bin" / "python"
    colab = parse_freeze(FREEZE.read_text())
    keep, dropped = colab_constraints(FREEZE.read_text())
    cfile = venv / "colab-freeze-constraints.txt"
    cfile.write_text("\n".join(keep) + "\n")
    quiet = ["-q", "--disable-pip-version-check"]
    _run([py, "-m", "pip", "install", *quiet, f"pip=={colab['pip']}"])
    _run([py, "-m", "pip", "install", *quiet, "-r", CONSTRAINTS, "-c", cfile])
    have = _freeze(py)
    print(f"venv: {venv} made in {time.perf_counter() - t0:.0f} s with {len(have)} packages; "
          f"{len(dropped)} of Colab's pins not used as constraints:")
    for d in dropped:
        print(f"  - {d}")
    other = [f"{n}=={v}" + (f" (Colab: {colab[n]})" if n in colab else " (not on Colab)")
             for n, v in sorted(have.items()) if colab.get(n) != v]
    print(f"  packages here that differ from Colab's freeze ({len(other)}): " + ", ".join(other))
    stamp.write_text(key)


def build_wheel(py: Path, out: Path) -> Path:
    """A wheel of the checkout (built from a copy, so the working tree gets no build/ folder)."""
    src = out / "src"
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "genviz_utils", src / "genviz_utils", ignore=shutil.ignore_patterns("__pycache__"))
    _run([py, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out / "wheel", src])
    (wheel,) = (out / "wheel").glob("genviz_utils-*.whl")
    return wheel


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    ap.add_argument("--python", help="Python for the venv (default: $COLAB_PYTHON, pyenv's 3.12.1, python3.12)")
    ap.add_argument("--venv", type=Path, default=ROOT / ".cache" / "venv-colab")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    ap.add_argument("--workdir", type=Path, help="keep the executed notebooks here (default: a temporary folder)")
    ap.add_argument("--lock", default=os.environ.get("GENVIZ_CPU_LOCK"),
                    help="a file to flock while each notebook runs (default: $GENVIZ_CPU_LOCK; none)")
    ap.add_argument("--execute", nargs=3, type=Path, metavar=("IN", "OUT", "REPORT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.execute:
        return execute(*args.execute, timeout=args.timeout)

    t_all = time.perf_counter()
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    venv = args.venv.resolve()
    make_venv(venv, find_python(args.python))
    py = venv / "bin" / "python"
    print(_run([py, "--version"], capture_output=True).stdout.strip(), "in", venv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="colab-check-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    if (work / "genviz_utils").exists():
        raise SystemExit(f"{work} holds genviz_utils/: the notebooks would import it instead of installing it.")
    wheel = build_wheel(py, work / "build")
    _run([py, "-m", "pip", "uninstall", "-q", "-y", PACKAGE], capture_output=True)  # a fresh runtime lacks it
    before = {k: v for k, v in _freeze(py).items() if k != PACKAGE}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "JUPYTER"))}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", GENVIZ_PROFILE="smoke",
               GENVIZ_INSTALL_SPEC=str(wheel), GENVIZ_CACHE=str(work / "cache"),
               GENVIZ_RESULTS=str(work / "results"), GENVIZ_DATA=os.environ.get("GENVIZ_DATA", str(work / "data")),
               PYDEVD_DISABLE_FILE_VALIDATION="1", PYTHONUNBUFFERED="1")
    rows, failures = [], []
    for nb in notebooks:
        name = nb.stem
        dst = work / nb.name
        shutil.copy2(nb, dst)
        with _cpu_lock(args.lock):
            t0 = time.perf_counter()
            _run([py, Path(__file__).resolve(), "--execute", dst, work / f"{name}.out.ipynb", work / f"{name}.json",
                  "--timeout", args.timeout], env=env, cwd=work)
            secs = time.perf_counter() - t0
        rep = json.loads((work / f"{name}.json").read_text())
        after = _freeze(py)
        installed = after.pop(PACKAGE, None)
        problems = []
        if rep["error"]:
            problems.append(f"a cell failed:\n{rep['error']}")
        if installed is None:
            problems.append("the install cell did not install the package (is the first code cell the install cell "
                            "of tools/sync_install_cell.py?)")
        changed = freeze_diff(before, after)
        if changed:
            problems.append("the install cell changed preinstalled packages: " + "; ".join(changed))
            (venv / ".colab-installed").unlink(missing_ok=True)  # remake the venv next time
        problems += rep["widget_problems"]
        if rep["widget_cells"] == 0:
            problems.append("no cell showed a widget (each chapter has an explorer)")
        _run([py, "-m", "pip", "uninstall", "-q", "-y", PACKAGE], capture_output=True)
        rows.append((name, secs, rep["widget_cells"], "ok" if not problems else "FAILED"))
        print(f"{name}: {secs:.1f} s, {rep['widget_cells']} widget cell(s), "
              f"{'ok' if not problems else 'FAILED'}", flush=True)
        failures += [f"{name}: {p}" for p in problems]
    # the explorers' unit test under Colab's ipywidgets (make test runs it under the .venv's 8.x)
    widgets_version = _freeze(py).get("ipywidgets")
    with _cpu_lock(args.lock):
        t0 = time.perf_counter()
        env_test = {**env, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
        test = subprocess.run([str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_widgets_compat.py"],
                              cwd=ROOT, env=env_test, text=True, capture_output=True)
    last = (test.stdout.strip().splitlines() or ["(no output)"])[-1]
    print(f"tests/test_widgets_compat.py with ipywidgets {widgets_version}: {last} "
          f"({time.perf_counter() - t0:.1f} s)")
    if test.returncode != 0:
        failures.append(f"tests/test_widgets_compat.py failed under ipywidgets {widgets_version}:\n"
                        + test.stdout[-3000:] + test.stderr[-2000:])
    total = time.perf_counter() - t_all
    print(f"\ncolab-check ({len(rows)} notebooks, {sum(r[1] for r in rows):.0f} s executing, {total:.0f} s in all; "
          f"executed notebooks in {work}):")
    for name, secs, widgets, status in rows:
        print(f"  {name:28s} {secs:6.1f} s  {widgets} widget cell(s)  {status}")
    for f in failures:
        print(f"FAILED {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
