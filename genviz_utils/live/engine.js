// The course's browser runtime: runs the networks that genviz_utils.live.export writes, so that an explorer works
// in a static web page, in Jupyter and in Colab alike, with no kernel and no download. A network is a list of ops
// on one tensor (a Float32Array and its shape) with named float32 weights in PyTorch's layouts; the token prior
// has its own small runner with a key/value cache. Every op is checked against PyTorch (tests/test_live.py).
(function () {
  const VERSION = 6;
  if (window.genvizLive && window.genvizLive.version >= VERSION) return;  // one copy per page is enough

  // Weights arrive as base85 text (Python's base64.b85encode of little-endian float32 bytes: 5 characters per 4
  // bytes, 6 % smaller than base64, and its alphabet has no quote, backslash or slash, so it sits safely
  // in JSON inside a <script>).
  const B85 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~";
  const B85_VALUE = new Uint8Array(128);
  for (let i = 0; i < B85.length; i++) B85_VALUE[B85.charCodeAt(i)] = i;
  function bytes(text) {
    const groups = text.length / 5, view = new DataView(new ArrayBuffer(4 * groups));
    for (let g = 0; g < groups; g++) {
      let v = 0;
      for (let j = 0; j < 5; j++) v = v * 85 + B85_VALUE[text.charCodeAt(5 * g + j)];
      view.setUint32(4 * g, v, false);            // b85 reads each 4 bytes as a big-endian number
    }
    return new Uint8Array(view.buffer);
  }
  const f32 = (text) => new Float32Array(bytes(text).buffer);
  // A rounded weight (export.b85_quantized): n codes of 4 or 8 bits, each times its group's float32 scale. The
  // product of a small integer and a float32, rounded to float32 on storing, is what PyTorch's float32 product is.
  function dequantize(e) {
    const codes = bytes(e.codes), scales = f32(e.scales), out = new Float32Array(e.n), zero = 2 ** (e.bits - 1);
    for (let i = 0; i < e.n; i++) {
      const u = e.bits === 8 ? codes[i] : (codes[i >> 1] >> (4 * (i & 1))) & 15;
      out[i] = (u - zero) * scales[Math.floor(i / e.group)];
    }
    return out;
  }

  // erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): exact GELU, as nn.GELU() computes it.
  function erf(x) {
    const s = x < 0 ? -1 : 1, a = Math.abs(x), t = 1 / (1 + 0.3275911 * a);
    const p = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
    return s * (1 - p * Math.exp(-a * a));
  }
  const ACT = {
    silu: (v) => v / (1 + Math.exp(-v)),
    relu: (v) => (v > 0 ? v : 0),
    sigmoid: (v) => 1 / (1 + Math.exp(-v)),
    tanh: Math.tanh,
    gelu: (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)),
  };

  // ---- ops: x is {data: Float32Array, shape: [F] or [C, H, W]}; weights as PyTorch stores them ----
  function linear(x, n, fin, W, b, fout) {        // x (n, fin), W (fout, fin) -> (n, fout)
    const y = new Float32Array(n * fout);
    for (let r = 0; r < n; r++)
      for (let o = 0; o < fout; o++) {
        let s = b ? b[o] : 0;
        const wo = o * fin, xr = r * fin;
        for (let c = 0; c < fin; c++) s += W[wo + c] * x[xr + c];
        y[r * fout + o] = s;
      }
    return y;
  }
  // The convolutions loop over (output channel, input channel, kernel tap) and add the tap's weight times a shifted
  // row of the input to a row of the output, over the range of positions where the tap lands inside the input:
  // no bounds test in the inner loop, which is what makes them fast enough to redraw while dragging.
  // [first, last): the positions i in [0, out) with 0 <= i * stride + tap - pad < n
  const first = (tap, pad, stride) => Math.max(0, Math.ceil((pad - tap) / stride));
  const last = (tap, pad, stride, n, out) => Math.min(out, Math.floor((n - 1 + pad - tap) / stride) + 1);
  function conv2d(x, cin, h, w, W, b, cout, k, stride, pad) {   // W (cout, cin, k, k)
    const H = Math.floor((h + 2 * pad - k) / stride) + 1, Wd = Math.floor((w + 2 * pad - k) / stride) + 1;
    const y = new Float32Array(cout * H * Wd);
    for (let o = 0; o < cout; o++) {
      const yb = o * H * Wd;
      if (b) y.fill(b[o], yb, yb + H * Wd);
      for (let c = 0; c < cin; c++) {
        const xb = c * h * w, wb = (o * cin + c) * k * k;
        for (let p = 0; p < k; p++) {
          const i0 = first(p, pad, stride), i1 = last(p, pad, stride, h, H);
          for (let q = 0; q < k; q++) {
            const wv = W[wb + p * k + q], j0 = first(q, pad, stride), j1 = last(q, pad, stride, w, Wd);
            for (let i = i0; i < i1; i++) {
              const xr = xb + (i * stride + p - pad) * w + q - pad, yr = yb + i * Wd;
              for (let j = j0; j < j1; j++) y[yr + j] += wv * x[xr + j * stride];
            }
          }
        }
      }
    }
    return { data: y, shape: [cout, H, Wd] };
  }
  // Transposed: input position i feeds output position i * stride - pad + tap.
  function convTranspose2d(x, cin, h, w, W, b, cout, k, stride, pad) {   // W (cin, cout, k, k)
    const H = (h - 1) * stride - 2 * pad + k, Wd = (w - 1) * stride - 2 * pad + k;
    const y = new Float32Array(cout * H * Wd);
    if (b) for (let o = 0; o < cout; o++) y.fill(b[o], o * H * Wd, (o + 1) * H * Wd);
    for (let c = 0; c < cin; c++) {
      const xb = c * h * w;
      for (let o = 0; o < cout; o++) {
        const wb = (c * cout + o) * k * k, yb = o * H * Wd;
        for (let p = 0; p < k; p++) {
          const i0 = first(p, pad, stride), i1 = last(p, pad, stride, H, h);     // rows that land inside y
          for (let q = 0; q < k; q++) {
            const wv = W[wb + p * k + q], j0 = first(q, pad, stride), j1 = last(q, pad, stride, Wd, w);
            for (let i = i0; i < i1; i++) {
              const yr = yb + (i * stride - pad + p) * Wd - pad + q, xr = xb + i * w;
              for (let j = j0; j < j1; j++) y[yr + j * stride] += wv * x[xr + j];
            }
          }
        }
      }
    }
    return { data: y, shape: [cout, H, Wd] };
  }
  function layerNorm(x, n, C, g, b, eps) {
    const y = new Float32Array(n * C);
    for (let r = 0; r < n; r++) {
      let m = 0, v = 0;
      for (let c = 0; c < C; c++) m += x[r * C + c];
      m /= C;
      for (let c = 0; c < C; c++) v += (x[r * C + c] - m) ** 2;
      const inv = 1 / Math.sqrt(v / C + eps);
      for (let c = 0; c < C; c++) y[r * C + c] = (x[r * C + c] - m) * inv * g[c] + b[c];
    }
    return y;
  }

  const size = (shape) => shape.reduce((a, b) => a * b, 1);

  function run(ops, x, P) {
    for (const op of ops) {
      const W = op.w && P[op.w], b = op.b && P[op.b];
      switch (op.op) {
        case "linear": {
          const fout = op.out, fin = size(x.shape);
          x = { data: linear(x.data, 1, fin, W, b, fout), shape: [fout] };
          break;
        }
        case "unflatten": x = { data: x.data, shape: op.shape.slice() }; break;
        case "flatten": x = { data: x.data, shape: [x.data.length] }; break;
        case "conv2d":
          x = conv2d(x.data, x.shape[0], x.shape[1], x.shape[2], W, b, op.out, op.k, op.stride, op.pad);
          break;
        case "conv_transpose2d":
          x = convTranspose2d(x.data, x.shape[0], x.shape[1], x.shape[2], W, b, op.out, op.k, op.stride, op.pad);
          break;
        case "act": {
          const f = op.fn === "leaky_relu" ? ((s) => (v) => (v > 0 ? v : s * v))(op.slope) : ACT[op.fn];
          if (!f) throw new Error("genvizLive: unknown activation " + op.fn);
          x = { data: x.data.map(f), shape: x.shape };
          break;
        }
        case "channel_affine": {   // y[c, ...] = x[c, ...] * scale[c] + shift[c]: a folded BatchNorm
          const s = P[op.scale], t = P[op.shift], per = x.data.length / s.length;
          const y = new Float32Array(x.data.length);
          for (let i = 0; i < y.length; i++) { const c = Math.floor(i / per); y[i] = x.data[i] * s[c] + t[c]; }
          x = { data: y, shape: x.shape };
          break;
        }
        case "affine": x = { data: x.data.map((v) => v * op.scale + op.shift), shape: x.shape }; break;
        case "residual": {
          const r = run(op.body, x, P);
          x = { data: x.data.map((v, i) => v + r.data[i]), shape: x.shape };
          break;
        }
        case "embed_grid": {       // tokens (H*W ints) -> (D, H, W) codebook rows, as lookup + permute
          const [K, D] = op.codebook_shape, [h, w] = op.grid, y = new Float32Array(D * h * w);
          for (let t = 0; t < h * w; t++) {
            const code = x.data[t];
            if (!(code >= 0 && code < K)) throw new Error("genvizLive: token " + code + " is not in 0.." + (K - 1));
            for (let d = 0; d < D; d++) y[d * h * w + t] = W[code * D + d];
          }
          x = { data: y, shape: [D, h, w] };
          break;
        }
        default: throw new Error("genvizLive: unknown op " + op.op);
      }
    }
    return x;
  }

  function weights(spec) {
    const P = {};
    for (const [name, w] of Object.entries(spec.weights)) P[name] = typeof w === "string" ? f32(w) : dequantize(w);
    return P;
  }

  // The largest difference between out and what PyTorch computed (spec.check, written by export.py); over 1e-4 it
  // is reported as an error on the console, which the site's tests fail on.
  function selfCheck(what, out, check) {
    const want = f32(check.output);
    let err = 0;
    for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(out[i] - want[i]));
    if (!(err <= 1e-4)) console.error(`genvizLive: the ${what} on this page differs from PyTorch by ${err}`);
    return err;
  }

  // A network: input numbers (latent or tokens) -> Float32Array output (an image's pixels, row by row).
  function makeNet(spec) {
    const P = weights(spec);
    const net = (input) => run(spec.ops, { data: Float32Array.from(input), shape: [input.length] }, P).data;
    net.inDim = spec.in_dim;
    if (spec.check) net.checkError = selfCheck("network", net(spec.check.input), spec.check);
    return net;
  }

  // The token prior (genviz_utils.models.vq.TokenPrior): step(cache, previous token, t) -> logits of token t.
  function makePrior(spec) {
    const P = weights(spec), C = spec.n_embd, nh = spec.n_head, hs = C / nh, K = spec.num_codes;
    const T = spec.grid[0] * spec.grid[1], L = spec.n_layer;
    function start() {
      return { k: Array.from({ length: L }, () => new Float32Array(T * C)),
               v: Array.from({ length: L }, () => new Float32Array(T * C)) };
    }
    function step(cache, token, t) {
      const x = new Float32Array(C);
      for (let c = 0; c < C; c++) x[c] = P["tok.weight"][token * C + c] + P["pos"][t * C + c];
      for (let l = 0; l < L; l++) {
        const p = "blocks." + l + ".";
        const qkv = linear(layerNorm(x, 1, C, P[p + "ln1.weight"], P[p + "ln1.bias"], 1e-5), 1, C,
                           P[p + "qkv.weight"], P[p + "qkv.bias"], 3 * C);
        cache.k[l].set(qkv.subarray(C, 2 * C), t * C);
        cache.v[l].set(qkv.subarray(2 * C, 3 * C), t * C);
        const y = new Float32Array(C), att = new Float32Array(t + 1);
        for (let h = 0; h < nh; h++) {       // attention of position t over 0..t, head h
          let mx = -Infinity, Z = 0;
          for (let s = 0; s <= t; s++) {
            let d = 0;
            for (let e = 0; e < hs; e++) d += qkv[h * hs + e] * cache.k[l][s * C + h * hs + e];
            att[s] = d / Math.sqrt(hs);
            if (att[s] > mx) mx = att[s];
          }
          for (let s = 0; s <= t; s++) { att[s] = Math.exp(att[s] - mx); Z += att[s]; }
          for (let s = 0; s <= t; s++)
            for (let e = 0; e < hs; e++) y[h * hs + e] += (att[s] / Z) * cache.v[l][s * C + h * hs + e];
        }
        const o = linear(y, 1, C, P[p + "proj.weight"], P[p + "proj.bias"], C);
        for (let c = 0; c < C; c++) x[c] += o[c];
        const m = linear(layerNorm(x, 1, C, P[p + "ln2.weight"], P[p + "ln2.bias"], 1e-5), 1, C,
                         P[p + "mlp.0.weight"], P[p + "mlp.0.bias"], 4 * C).map(ACT.gelu);
        const m2 = linear(m, 1, 4 * C, P[p + "mlp.2.weight"], P[p + "mlp.2.bias"], C);
        for (let c = 0; c < C; c++) x[c] += m2[c];
      }
      return linear(layerNorm(x, 1, C, P["ln.weight"], P["ln.bias"], 1e-5), 1, C, P["head.weight"],
                    P["head.bias"], K);
    }
    // Logits (T*K) of every position for a whole token map, teacher-forced: what TokenPrior.forward returns.
    function logits(tokens) {
      const cache = start(), out = new Float32Array(T * K);
      let prev = K;                                   // the start token
      for (let t = 0; t < T; t++) { out.set(step(cache, prev, t), t * K); prev = tokens[t]; }
      return out;
    }
    const prior = { start, step, logits, T, K };
    if (spec.check) prior.checkError = selfCheck("token prior", logits(spec.check.input), spec.check);
    return prior;
  }

  // A seeded uniform generator (mulberry32), so that a seed gives the same sample on every reload.
  function rng(seed) {
    let a = seed >>> 0;
    return function () {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  // Probabilities softmax(logits / temperature) restricted to the top k (ties at the k-th value kept), as
  // TokenPrior.sample with top_k_filter; and one draw from them with the uniform u.
  function probs(logits, temperature, topK) {
    const z = Array.from(logits, (v) => v / temperature);
    if (topK && topK < z.length) {
      const kth = z.slice().sort((a, b) => b - a)[topK - 1];
      for (let i = 0; i < z.length; i++) if (z[i] < kth) z[i] = -Infinity;
    }
    const mx = Math.max(...z), e = z.map((v) => Math.exp(v - mx)), Z = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / Z);
  }
  function draw(p, u) {
    let c = 0, last = 0;
    for (let i = 0; i < p.length; i++) {
      if (p[i] > 0) last = i;
      c += p[i];
      if (u < c && p[i] > 0) return i;
    }
    return last;            // u beyond the rounded total: the last code that can be drawn
  }

  // Paint a grey image (side x side pixels in [0, 1]) scaled up onto a canvas, pixels kept sharp.
  function paint(canvas, pixels, side) {
    side = side || Math.round(Math.sqrt(pixels.length));
    const img = new ImageData(side, side);
    for (let i = 0; i < side * side; i++) {
      const g = Math.round(255 * Math.min(1, Math.max(0, pixels[i])));
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = g;
      img.data[4 * i + 3] = 255;
    }
    const tmp = document.createElement("canvas");
    tmp.width = tmp.height = side;
    tmp.getContext("2d").putImageData(img, 0, 0);
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tmp, 0, 0, canvas.width, canvas.height);
  }

  // The Chinese edition: an explorer's words in the page's language, from window.genvizWords (the table of
  // genviz_utils/words_zh_CN.json, which only the Chinese site loads), looked up as genviz_utils.editions.translate
  // looks up a line of a figure: the whole string, else a template whose {} stand for any text (each looked up in
  // turn), the one with the most literal characters first. A page's text is compared as the page shows it, runs of
  // spaces and line breaks as one space. Elsewhere (Jupyter, Colab, the English site) the words stay English.
  const MATH = /\$[^$]*\$/g, WORD = /[A-Za-z][A-Za-z'’-]*[A-Za-z]/g;
  let book = null;
  function words() {
    const w = window.genvizWords;
    if (!w || !/^zh/i.test(document.documentElement.lang || "")) return null;
    if (!book || book.source !== w) {
      const literal = (k) => k.replaceAll("{}", "").length;
      const keys = Object.keys(w.words).filter((k) => k.includes("{}"))
        .sort((a, b) => literal(b) - literal(a) || (a < b ? -1 : a > b ? 1 : 0));
      const templates = keys.map((k) => [new RegExp("^" + k.split("{}")
        .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("(.+?)") + "$", "s"), w.words[k]]);
      book = { source: w, table: new Map(Object.entries(w.words)), keep: new Set(w.keep), templates };
    }
    return book;
  }
  const needsEntry = (b, s) => (s.replace(MATH, " ").match(WORD) || []).some((w) => !b.keep.has(w));
  function lookup(b, core) {               // core's translation, core if it needs none, null if the table lacks it
    if (!core || !needsEntry(b, core)) return core;
    if (b.table.has(core)) return b.table.get(core);
    for (const [re, value] of b.templates) {
      const m = core.match(re);
      if (!m) continue;
      const parts = m.slice(1).map((g) => lookup(b, g));
      if (parts.every((p) => p !== null)) {
        const pieces = value.split("{}");
        return pieces[0] + parts.map((p, i) => p + pieces[i + 1]).join("");
      }
    }
    return null;
  }
  const untranslated = new Set();    // words met without a translation (the browser tests read it)
  // s in the page's language (the spaces around it kept); s itself when the table lacks it, which is reported
  function translate(s) {
    const b = words();
    if (!b) return s;
    const found = lookup(b, s.trim().replace(/\s+/g, " "));
    if (found === null) {
      untranslated.add(s.trim().replace(/\s+/g, " "));
      return s;
    }
    return s.slice(0, s.length - s.trimStart().length) + found + s.slice(s.trimEnd().length);
  }
  // translate root's text and labels now and whenever the explorer rewrites them; what it wrote itself is left
  // alone (a translation may keep an English name, which is no new text to look up)
  const ATTRIBUTES = ["aria-label", "title"];
  const written = new WeakMap();     // node -> {text or attribute name: the value this code wrote}
  function put(node, key, value) {
    const mine = written.get(node) || {};
    if (mine[key] === value) return;
    const t = translate(value);
    mine[key] = t;
    written.set(node, mine);
    if (t === value) return;
    if (key === "#text") node.nodeValue = t;
    else node.setAttribute(key, t);
  }
  function visit(node) {
    if (node.nodeType === Node.TEXT_NODE) {
      put(node, "#text", node.nodeValue);
    } else if (node.nodeType === Node.ELEMENT_NODE && !/^(SCRIPT|STYLE)$/.test(node.tagName)) {
      for (const a of ATTRIBUTES) if (node.hasAttribute(a)) put(node, a, node.getAttribute(a));
      node.childNodes.forEach(visit);
    }
  }
  function localize(root) {
    if (!words()) return;
    visit(root);
    new MutationObserver((changes) => changes.forEach((c) => {
      if (c.type === "childList") c.addedNodes.forEach(visit);
      else if (c.type === "characterData") put(c.target, "#text", c.target.nodeValue);
      else if (c.target.hasAttribute(c.attributeName))
        put(c.target, c.attributeName, c.target.getAttribute(c.attributeName));
    })).observe(root, { subtree: true, childList: true, characterData: true, attributes: true,
                        attributeFilter: ATTRIBUTES });
  }
  function localizeAll() {
    document.querySelectorAll(".genviz-live:not([data-localized])").forEach((root) => {
      root.setAttribute("data-localized", "");
      localize(root);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", localizeAll);
  else setTimeout(localizeAll, 0);

  const old = window.genvizLive || {};
  window.genvizLive = {
    version: VERSION, makeNet, makePrior, rng, probs, draw, paint, weights, linear, layerNorm, f32, selfCheck, ACT,
    translate, untranslated, localizeAll,
    nets: old.nets || {},      // element id -> its network, for the tests
    shown: old.shown || {},    // element id -> performance.now() at its first image
    started: old.started || {},   // element id -> performance.now() when its script began
  };
})();
