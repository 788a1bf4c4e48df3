"""What the website's live explorers cost the reader: payload per page, time to the first image, time per redraw.

For every chapter page of a built site (``make book`` -> ``_build/html``) in headless Chromium, served locally:
the bytes of the live explorers' scripts (weights and code; raw, and gzip-compressed as a web server would send
them), the time from the start of navigation to each explorer's first image (``window.genvizLive.shown``; it
includes reading the page up to the explorer), the time from the explorer's own script to its first image (its own
cost: decoding its weights, building and running its networks), and the median time of one network evaluation.
Writes JSON (``make bench`` -> ``_build/bench/live.json``).

    python tools/live_bench.py --site _build/html --out _build/bench/live.json
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import json
import shutil
import threading
from pathlib import Path

REDRAW_JS = """async (uid) => {
  const n = window.genvizLive.nets[uid], times = [];
  const f = typeof n === "function" ? n : n.decoders[0];
  const x = new Array(f.inDim).fill(typeof n === "function" ? 0.1 : 1);
  for (let i = 0; i < 20; i++) { const t = performance.now(); f(x); times.push(performance.now() - t); }
  times.sort((a, b) => a - b);
  return times[10];
}"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:   # one line per request would drown the output
        pass


def serve(folder: Path) -> tuple[str, http.server.ThreadingHTTPServer]:
    """Serve ``folder`` on a free local port in a background thread: (its URL, the server to ``shutdown()``)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}", httpd


def measure(site: Path) -> dict:
    from playwright.sync_api import sync_playwright

    url, httpd = serve(site)
    pages = sorted(p.relative_to(site).as_posix() for p in (site / "notebooks").glob("*.html"))
    out = {}
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        for path in pages:
            page = browser.new_page()
            page.goto(f"{url}/{path}", wait_until="load")
            scripts = page.evaluate("Array.from(document.scripts).map(s => s.text)"
                                    ".filter(t => t.includes('genvizLive'))")
            if not scripts:
                page.close()
                continue
            ids = page.evaluate("Array.from(document.querySelectorAll('.genviz-live')).map(e => e.id)")
            shown, started = page.evaluate("[window.genvizLive.shown, window.genvizLive.started]")
            raw = sum(len(s.encode()) for s in scripts)
            out[path] = {
                "explorers": len(ids),
                "payload_bytes": raw,
                "payload_gzip_bytes": sum(len(gzip.compress(s.encode())) for s in scripts),
                "first_image_ms": {i: round(shown[i], 1) for i in ids if i in shown},
                "own_first_image_ms": {i: round(shown[i] - started[i], 1) for i in ids if i in shown and i in started},
                "redraw_ms": {i: round(page.evaluate(REDRAW_JS, i), 2) for i in ids
                              if page.evaluate(f"'{i}' in window.genvizLive.nets")},
            }
            page.close()
        browser.close()
    httpd.shutdown()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site", type=Path, default=Path("_build/html"))
    ap.add_argument("--out", type=Path, default=Path("_build/bench/live.json"))
    args = ap.parse_args()
    if not (args.site / "index.html").exists():
        raise SystemExit(f"{args.site} is not a built site: run `make book` first.")
    result = measure(args.site)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    for path, r in result.items():
        first = max(r["first_image_ms"].values(), default=float("nan"))
        own = max(r["own_first_image_ms"].values(), default=float("nan"))
        print(f"{path}: {r['explorers']} explorers, {r['payload_bytes'] / 1e6:.2f} MB "
              f"({r['payload_gzip_bytes'] / 1e6:.2f} MB gzip), last first image at {first:.0f} ms from the start "
              f"of loading, at most {own:.0f} ms after an explorer's script began; "
              f"redraw {', '.join(f'{v:.1f}' for v in r['redraw_ms'].values())} ms")


if __name__ == "__main__":
    main()
