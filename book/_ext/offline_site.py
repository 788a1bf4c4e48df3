"""Keep the built site free of CDN references, so that it works with no network.

- sphinx-thebe (always loaded by Jupyter Book 1.x) puts a constant with thebe's CDN address into every page,
  although live code is switched off in this book: the inline script is dropped.
- sphinx-mathjax-offline copies MathJax's ``latest.js``, a loader that looks up the newest MathJax on CDNs.
  The pages load ``tex-chtml.js`` directly, so the loader is removed from the output.
- MathJax's bundles name a CDN as the home of the optional speech-rule-engine data (spoken math, off by
  default). Those addresses are pointed at a local path instead, so that even switching speech on from
  MathJax's menu makes no request outside the site (speech is then unavailable offline).
"""

from __future__ import annotations

from pathlib import Path

from sphinx.application import Sphinx

_CDN_LOADERS = ("mathjax/latest.js",)
_CDN_PREFIX, _LOCAL_PREFIX = "https://cdn.jsdelivr.net/npm/", "./offline-unavailable/npm/"


def _drop_thebe_constant(app: Sphinx, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if scripts:
        context["script_files"] = [
            s for s in scripts if "THEBE_JS_URL" not in (getattr(s, "attributes", {}) or {}).get("body", "")
        ]


def _remove_cdn_loaders(app: Sphinx, exception) -> None:
    if exception is None and app.builder.format == "html":
        for rel in _CDN_LOADERS:
            (Path(app.outdir) / "_static" / rel).unlink(missing_ok=True)
        for js in (Path(app.outdir) / "_static" / "mathjax").rglob("*.js"):
            text = js.read_text(encoding="utf-8")
            if _CDN_PREFIX in text:
                js.write_text(text.replace(_CDN_PREFIX, _LOCAL_PREFIX), encoding="utf-8")


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", _drop_thebe_constant, priority=900)
    app.connect("build-finished", _remove_cdn_loaders)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
