"""Latent explorers that run in the reader's browser: the decoder's weights are embedded in the page and its
forward pass is done in JavaScript (``live_decoder.js``), so dragging works on the static website, in Jupyter
and in Colab alike, with no kernel. Supports :class:`genviz_utils.models.ae.ConvDecoder` (chapters 1 and 2).
"""

from __future__ import annotations

import base64
import html
import json
import uuid
from importlib import resources

import numpy as np
import torch

from .models.ae import ConvDecoder

_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf"]


def export_conv_decoder(decoder: ConvDecoder) -> dict:
    """Weights of a ConvDecoder as ``{"in_dim", "width", "weights": {name: base64 float32}}``."""
    if not isinstance(decoder, ConvDecoder):
        raise TypeError(f"expected a genviz_utils.models.ae.ConvDecoder, got {type(decoder).__name__}.")
    weights = {k: base64.b64encode(v.detach().cpu().float().contiguous().numpy().tobytes()).decode("ascii")
               for k, v in decoder.state_dict().items()}
    return {"in_dim": decoder.fc[0].in_features, "width": decoder.width, "weights": weights}


def live_latent_pad(
    decoder: ConvDecoder,
    *,
    center: torch.Tensor | None = None,
    scale: torch.Tensor | None = None,
    lim: float = 3.0,
    points: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    class_names: list[str] | None = None,
    title: str = "Drag in the square: the decoder runs in your browser",
    max_points: int = 1500,
):
    """A 2-D latent pad and the decoded image, as self-contained HTML (returns ``IPython.display.HTML``).

    The pad spans ``center + scale * u`` for ``u`` in ``[-lim, lim]^2``; ``points`` (N, 2), in the same latent
    units as the decoder's input, are drawn behind it, coloured by ``labels`` (N,) if given.
    """
    from IPython.display import HTML

    spec = export_conv_decoder(decoder)
    if spec["in_dim"] != 2:
        raise ValueError(f"the live pad needs a 2-D latent; this decoder takes {spec['in_dim']} numbers.")
    center = torch.zeros(2) if center is None else torch.as_tensor(center).float().cpu()
    scale = torch.ones(2) if scale is None else torch.as_tensor(scale).float().cpu()
    pts = []
    if points is not None:
        p = torch.as_tensor(points).float().cpu()
        if p.ndim != 2 or p.shape[1] != 2:
            raise ValueError(f"points must have shape (N, 2), got {tuple(p.shape)}.")
        u = ((p - center) / scale)[:max_points].numpy()
        lab = (torch.as_tensor(labels).cpu().numpy()[:max_points] if labels is not None else np.zeros(len(u), int))
        pts = [[round(float(a), 3), round(float(b), 3), int(c)] for (a, b), c in zip(u, lab, strict=True)]
    uid = "gv" + uuid.uuid4().hex[:10]
    js_lib = resources.files("genviz_utils").joinpath("live_decoder.js").read_text()
    legend = "".join(
        f'<span style="color:{_PALETTE[i % 10]}">&#9679;</span>&nbsp;{html.escape(n)} &nbsp;'
        for i, n in enumerate(class_names or [])
    )
    cfg = {"spec": spec, "center": center.tolist(), "scale": scale.tolist(), "lim": lim, "points": pts,
           "palette": _PALETTE}
    return HTML(f"""
<div id="{uid}" class="genviz-live" style="font:13px sans-serif;margin:8px 0">
  <div style="margin-bottom:4px"><b>{html.escape(title)}</b></div>
  <div style="display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap">
    <canvas class="pad" width="300" height="300"
            style="border:1px solid #888;cursor:crosshair;touch-action:none"></canvas>
    <div><canvas class="out" width="168" height="168" style="border:1px solid #888"></canvas>
      <div class="coords" style="margin-top:4px;font-family:monospace"></div></div>
  </div>
  <div style="margin-top:4px">{legend}</div>
</div>
<script>
{js_lib}
(function () {{
  const cfg = {json.dumps(cfg)};
  const root = document.getElementById("{uid}");
  const pad = root.querySelector("canvas.pad"), out = root.querySelector("canvas.out");
  const decode = window.genvizLive.makeDecoder(cfg.spec);
  window.genvizLive.decoders["{uid}"] = decode;
  const L = cfg.lim, S = pad.width;
  const toPx = (u) => ((u + L) / (2 * L)) * S, toU = (px) => (px / S) * 2 * L - L;
  function background() {{
    const ctx = pad.getContext("2d");
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, S, S);
    for (const [a, b, c] of cfg.points) {{
      ctx.fillStyle = cfg.palette[c % 10]; ctx.globalAlpha = 0.5;
      ctx.fillRect(toPx(a) - 1, S - toPx(b) - 1, 2, 2);
    }}
    ctx.globalAlpha = 1;
  }}
  function show(u1, u2) {{
    background();
    const ctx = pad.getContext("2d");
    ctx.strokeStyle = "#000"; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(toPx(u1), S - toPx(u2), 6, 0, 2 * Math.PI); ctx.stroke();
    const z = [cfg.center[0] + cfg.scale[0] * u1, cfg.center[1] + cfg.scale[1] * u2];
    window.genvizLive.draw(out, decode(z));
    root.querySelector(".coords").textContent = "z = (" + z[0].toFixed(2) + ", " + z[1].toFixed(2) + ")";
  }}
  let down = false;
  function at(ev) {{
    const r = pad.getBoundingClientRect();
    show(toU((ev.clientX - r.left) * S / r.width), toU(S - (ev.clientY - r.top) * S / r.height));
  }}
  pad.addEventListener("pointerdown", (ev) => {{ down = true; at(ev); }});
  pad.addEventListener("pointermove", (ev) => {{ if (down) at(ev); }});
  window.addEventListener("pointerup", () => {{ down = false; }});
  show(0, 0);
}})();
</script>""")
