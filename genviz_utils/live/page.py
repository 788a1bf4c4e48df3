"""The page element of a live explorer: an HTML template of this folder, the runtime and a JSON config.

Every element is self-contained (the runtime ``engine.js`` travels with it), so that it works in a static web page,
in Jupyter and in Colab (whose outputs are separate frames) alike; on a page that holds several, the runtime sets
itself up once. Its root element has the class ``genviz-live`` (the browser tests find the explorers by it).
"""

from __future__ import annotations

import html
import json
import uuid
from importlib import resources

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]


def asset(name: str) -> str:
    """The text of a file of this folder (a template or a script)."""
    return resources.files("genviz_utils.live").joinpath(name).read_text()


def element(template: str, cfg: dict, *, title: str, scripts: tuple[str, ...] = ("engine.js",), **fields: str):
    """``IPython.display.HTML`` of ``template`` with its fields filled in.

    The template's fields are names in capitals between double underscores: ``__UID__`` (a fresh element id),
    ``__TITLE__`` (escaped), ``__JS_LIB__`` (the ``scripts``), ``__CFG__`` (``cfg`` as JSON, ``</`` written
    ``<\\/`` so that no string in it can close the script) and any of ``fields``
    (inserted as given: HTML). The library and the config go in last, so the fields filled in before them
    cannot appear inside them.
    """
    from IPython.display import HTML

    page = asset(template)
    uid = "gv" + uuid.uuid4().hex[:10]
    values = [("__UID__", uid), ("__TITLE__", html.escape(title)),
              *((f"__{k.upper()}__", v) for k, v in fields.items()),
              ("__JS_LIB__", "\n".join(asset(s) for s in scripts)), ("__CFG__", json.dumps(cfg).replace("</", "<\\/"))]
    for field, value in values:
        if field not in page:
            raise KeyError(f"the template {template} has no field {field}.")
        page = page.replace(field, value)
    return HTML(page)


def legend(class_names: list[str] | None) -> str:
    """Coloured dots and class names, in :data:`PALETTE`'s colours."""
    return "".join(f'<span style="color:{PALETTE[i % 10]}">&#9679;</span>&nbsp;{html.escape(n)} &nbsp;'
                   for i, n in enumerate(class_names or []))
