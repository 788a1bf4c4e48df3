// Forward pass of genviz_utils.models.ae.ConvDecoder in plain JavaScript, so that a latent explorer works in a
// static web page with no Python kernel. Layers: Linear(d -> 2w*7*7) + act, ConvTranspose2d(2w -> w, 4, s2, p1)
// + act, ConvTranspose2d(w -> 1, 4, s2, p1), sigmoid, where act is spec.activation: "silu" (the default, for
// specs without the field) or "relu" (the GAN generator, BatchNorm folded in and tanh turned into a sigmoid by
// live.py). Weights arrive as base64 float32 in PyTorch's layouts.
(function () {
  if (window.genvizLive && window.genvizLive.version >= 2) return;  // an older copy on the page is replaced
  function f32(b64) {
    const bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }
  const ACTIVATIONS = { silu: (v) => v / (1 + Math.exp(-v)), relu: (v) => (v > 0 ? v : 0) };
  // x: (cin, h, w) flat; weight: (cin, cout, k, k) as PyTorch stores ConvTranspose2d; stride 2, padding 1.
  function convT(x, cin, h, w, W, b, cout, k) {
    const H = 2 * h, Wd = 2 * w, out = new Float32Array(cout * H * Wd);
    for (let o = 0; o < cout; o++) out.fill(b[o], o * H * Wd, (o + 1) * H * Wd);
    for (let c = 0; c < cin; c++)
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++) {
          const v = x[(c * h + i) * w + j];
          if (v === 0) continue;
          for (let o = 0; o < cout; o++) {
            const wb = ((c * cout + o) * k) * k;
            for (let p = 0; p < k; p++) {
              const y = 2 * i - 1 + p;
              if (y < 0 || y >= H) continue;
              for (let q = 0; q < k; q++) {
                const z = 2 * j - 1 + q;
                if (z < 0 || z >= Wd) continue;
                out[(o * H + y) * Wd + z] += v * W[wb + p * k + q];
              }
            }
          }
        }
    return out;
  }
  function makeDecoder(spec) {
    const P = {};
    for (const [name, b64] of Object.entries(spec.weights)) P[name] = f32(b64);
    const d = spec.in_dim, w = spec.width, c1 = 2 * w, act = ACTIVATIONS[spec.activation || "silu"];
    if (!act) throw new Error("genvizLive: unknown activation " + spec.activation);
    return function decode(z) {          // z: array of d numbers -> Float32Array(28*28) in [0, 1]
      const h = new Float32Array(c1 * 49);
      for (let r = 0; r < c1 * 49; r++) {
        let s = P["fc.0.bias"][r];
        for (let c = 0; c < d; c++) s += P["fc.0.weight"][r * d + c] * z[c];
        h[r] = act(s);
      }
      const a = convT(h, c1, 7, 7, P["net.0.weight"], P["net.0.bias"], w, 4).map(act);
      return convT(a, w, 14, 14, P["net.2.weight"], P["net.2.bias"], 1, 4).map((v) => 1 / (1 + Math.exp(-v)));
    };
  }
  function draw(canvas, pixels) {
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(28, 28);
    for (let i = 0; i < 784; i++) {
      const g = Math.round(255 * Math.min(1, Math.max(0, pixels[i])));
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = g;
      img.data[4 * i + 3] = 255;
    }
    const tmp = document.createElement("canvas");
    tmp.width = tmp.height = 28;
    tmp.getContext("2d").putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tmp, 0, 0, canvas.width, canvas.height);
  }
  window.genvizLive = { version: 2, makeDecoder, draw, decoders: (window.genvizLive || {}).decoders || {} };
})();
