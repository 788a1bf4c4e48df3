// GAN Lab's core for chapter 4's ring of eight Gaussians: two small MLPs with hand-written backprop and Adam train
// in the reader's browser, with no kernel and no download. Everything follows the chapter's PyTorch code
// (genviz_utils.live.ganlab.train_ring_gan): weights in PyTorch's layout and initialisation, the same losses on
// D's logits, PacGAN's packs (pack consecutive samples concatenated), Adam as torch.optim.Adam computes it, and the
// mode counter of genviz_utils.models.gan.count_modes. tests/test_live_ganlab.py checks each against PyTorch.
(function () {
  const VERSION = 1;
  if (window.genvizGanLab && window.genvizGanLab.version >= VERSION) return;  // one copy per page is enough

  // ---- random numbers: a seeded uniform (engine.js) and Gaussians from it by Box-Muller ----
  function gaussianSource(uniform) {
    let spare = null;
    return function () {
      if (spare !== null) { const s = spare; spare = null; return s; }
      const u = 1 - uniform(), v = uniform();                      // u in (0, 1]: log(u) is finite
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    };
  }

  // ---- dense layers and MLPs, weights in PyTorch's layout: W (fout, fin) row-major, b (fout) ----
  function dense(fin, fout, uniform) {
    const bound = 1 / Math.sqrt(fin);            // nn.Linear's default init: U(-1/sqrt(fin), 1/sqrt(fin)) for W, b
    const W = new Float32Array(fout * fin), b = new Float32Array(fout);
    for (let i = 0; i < W.length; i++) W[i] = (2 * uniform() - 1) * bound;
    for (let i = 0; i < fout; i++) b[i] = (2 * uniform() - 1) * bound;
    return { fin, fout, W, b, gW: new Float32Array(fout * fin), gb: new Float32Array(fout) };
  }

  // An MLP sizes[0] -> ... -> sizes[L]; between layers ReLU (slope 0) or LeakyReLU(slope).
  function makeMLP(sizes, slope, uniform) {
    const layers = [];
    for (let l = 0; l + 1 < sizes.length; l++) layers.push(dense(sizes[l], sizes[l + 1], uniform));
    return { sizes, slope, layers, cache: {} };
  }
  function params(net) { return net.layers.flatMap((L) => [L.W, L.b]); }   // PyTorch's parameters() order
  function grads(net) { return net.layers.flatMap((L) => [L.gW, L.gb]); }

  // Work buffers for a batch of n rows, allocated once per n (a training step allocates nothing).
  function buffers(net, n) {
    if (!net.cache[n]) {
      net.cache[n] = {
        out: net.layers.map((L) => new Float32Array(n * L.fout)),     // each layer's output, after its activation
        grad: net.sizes.map((s) => new Float32Array(n * s)),          // dLoss/d(input of each layer) and the output
      };
    }
    return net.cache[n];
  }

  // The three matrix products of a dense layer. Each works on a small block (two rows by four outputs, or two
  // outputs by four rows) so that every number loaded from memory is used several times and the sums are
  // independent of one another; a block that runs past the last row or output repeats a valid index with a zero
  // weight (or stores nothing), so any n and any layer size work.

  // y = x W^T + b for x (n, fin): y (n, fout).
  const SCRATCH = new Float64Array(8);
  function affine(x, n, L, y) {
    const { fin, fout, W, b } = L;
    for (let r = 0; r < n; r += 2) {
      const pair = r + 1 < n, xa = r * fin, xb = pair ? xa + fin : xa, ya = r * fout, yb = ya + fout;
      for (let o = 0; o < fout; o += 4) {
        const k1 = Math.min(o + 1, fout - 1), k2 = Math.min(o + 2, fout - 1), k3 = Math.min(o + 3, fout - 1);
        const w0 = o * fin, w1 = k1 * fin, w2 = k2 * fin, w3 = k3 * fin;
        let a0 = b[o], a1 = b[k1], a2 = b[k2], a3 = b[k3];
        let b0 = a0, b1 = a1, b2 = a2, b3 = a3;
        for (let c = 0; c < fin; c++) {
          const u = x[xa + c], v = x[xb + c];
          const m0 = W[w0 + c], m1 = W[w1 + c], m2 = W[w2 + c], m3 = W[w3 + c];
          a0 += u * m0; a1 += u * m1; a2 += u * m2; a3 += u * m3;
          b0 += v * m0; b1 += v * m1; b2 += v * m2; b3 += v * m3;
        }
        if (o + 4 <= fout) {
          y[ya + o] = a0; y[ya + o + 1] = a1; y[ya + o + 2] = a2; y[ya + o + 3] = a3;
          if (pair) { y[yb + o] = b0; y[yb + o + 1] = b1; y[yb + o + 2] = b2; y[yb + o + 3] = b3; }
        } else {                                       // the last layer's one or two outputs
          SCRATCH[0] = a0; SCRATCH[1] = a1; SCRATCH[2] = a2; SCRATCH[3] = a3;
          SCRATCH[4] = b0; SCRATCH[5] = b1; SCRATCH[6] = b2; SCRATCH[7] = b3;
          for (let k = 0; o + k < fout; k++) {
            y[ya + o + k] = SCRATCH[k];
            if (pair) y[yb + o + k] = SCRATCH[4 + k];
          }
        }
      }
    }
  }

  // dW = dy^T h (fout, fin) and db = the column sums of dy, for h (n, fin) and dy (n, fout).
  function weightGradients(L, n, h, dy) {
    const { fin, fout, gW, gb } = L;
    gW.fill(0);
    gb.fill(0);
    const g = (r, o) => (r < n && o < fout ? dy[r * fout + o] : 0);
    for (let o = 0; o < fout; o += 2) {
      const wa = o * fin, wb = Math.min(o + 1, fout - 1) * fin;   // a lone last output adds zeros to itself
      for (let r = 0; r < n; r += 4) {
        const a0 = g(r, o), a1 = g(r + 1, o), a2 = g(r + 2, o), a3 = g(r + 3, o);
        const b0 = g(r, o + 1), b1 = g(r + 1, o + 1), b2 = g(r + 2, o + 1), b3 = g(r + 3, o + 1);
        gb[o] += a0 + a1 + a2 + a3;
        if (o + 1 < fout) gb[o + 1] += b0 + b1 + b2 + b3;
        if (!(a0 || a1 || a2 || a3 || b0 || b1 || b2 || b3)) continue;   // all ReLUs off: nothing flows
        const h0 = r * fin, h1 = Math.min(r + 1, n - 1) * fin, h2 = Math.min(r + 2, n - 1) * fin;
        const h3 = Math.min(r + 3, n - 1) * fin;
        for (let c = 0; c < fin; c++) {
          const v0 = h[h0 + c], v1 = h[h1 + c], v2 = h[h2 + c], v3 = h[h3 + c];
          gW[wa + c] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3;
          gW[wb + c] += b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3;
        }
      }
    }
  }

  // dx = dy W (n, fin) for dy (n, fout).
  function inputGradients(L, n, dy, dx) {
    const { fin, fout, W } = L;
    dx.fill(0, 0, n * fin);
    const g = (r, o) => (r < n && o < fout ? dy[r * fout + o] : 0);
    for (let r = 0; r < n; r += 2) {
      const xa = r * fin, xb = Math.min(r + 1, n - 1) * fin;      // a lone last row adds zeros to itself
      for (let o = 0; o < fout; o += 4) {
        const a0 = g(r, o), a1 = g(r, o + 1), a2 = g(r, o + 2), a3 = g(r, o + 3);
        const b0 = g(r + 1, o), b1 = g(r + 1, o + 1), b2 = g(r + 1, o + 2), b3 = g(r + 1, o + 3);
        if (!(a0 || a1 || a2 || a3 || b0 || b1 || b2 || b3)) continue;
        const w0 = o * fin, w1 = Math.min(o + 1, fout - 1) * fin, w2 = Math.min(o + 2, fout - 1) * fin;
        const w3 = Math.min(o + 3, fout - 1) * fin;
        for (let c = 0; c < fin; c++) {
          const m0 = W[w0 + c], m1 = W[w1 + c], m2 = W[w2 + c], m3 = W[w3 + c];
          dx[xa + c] += a0 * m0 + a1 * m1 + a2 * m2 + a3 * m3;
          dx[xb + c] += b0 * m0 + b1 * m1 + b2 * m2 + b3 * m3;
        }
      }
    }
  }

  // Forward pass of x (n, sizes[0]); keeps every layer's output for the backward pass. Returns (n, sizes[L]).
  function forward(net, x, n) {
    const buf = buffers(net, n), last = net.layers.length - 1;
    buf.input = x;
    let h = x;
    net.layers.forEach((L, l) => {
      const y = buf.out[l];
      affine(h, n, L, y);
      if (l < last) for (let i = 0; i < y.length; i++) if (y[i] < 0) y[i] *= net.slope;
      h = y;
    });
    return h;
  }

  // Backward pass of the last forward pass with this n, from dOut = dLoss/dOutput (n, sizes[L]). With wantParams it
  // writes dLoss/dW and dLoss/db into the layers' gW, gb; with wantInput it returns dLoss/dInput (n, sizes[0]).
  function backward(net, n, dOut, wantParams, wantInput) {
    const buf = buffers(net, n);
    let dy = dOut;
    for (let l = net.layers.length - 1; l >= 0; l--) {
      const L = net.layers[l], h = l > 0 ? buf.out[l - 1] : buf.input, dx = buf.grad[l];
      if (wantParams) weightGradients(L, n, h, dy);
      if (l === 0 && !wantInput) break;
      inputGradients(L, n, dy, dx);
      if (l > 0) {                                     // through the activation: its slope where the output was <= 0
        for (let i = 0; i < dx.length; i++) if (!(h[i] > 0)) dx[i] *= net.slope;
      }
      dy = dx;
    }
    return wantInput ? dy : null;
  }

  // ---- Adam, as torch.optim.Adam computes it (bias corrections, eps added to the corrected sqrt(v)) ----
  function makeAdam(paramList, gradList, lr, betas, eps) {
    const m = paramList.map((p) => new Float32Array(p.length)), v = paramList.map((p) => new Float32Array(p.length));
    const opt = { t: 0 };
    opt.step = function () {
      opt.t += 1;
      const [b1, b2] = betas, stepSize = lr / (1 - Math.pow(b1, opt.t)), bc2 = Math.sqrt(1 - Math.pow(b2, opt.t));
      paramList.forEach((p, k) => {
        const g = gradList[k], mk = m[k], vk = v[k];
        for (let i = 0; i < p.length; i++) {
          mk[i] += (1 - b1) * (g[i] - mk[i]);
          vk[i] = b2 * vk[i] + (1 - b2) * g[i] * g[i];
          p[i] -= stepSize * mk[i] / (Math.sqrt(vk[i]) / bc2 + eps);
        }
      });
    };
    return opt;
  }

  // ---- the losses, on D's logits l (genviz_utils.models.gan), and their derivatives by l ----
  const softplus = (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
  const sigmoid = (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
  const G_LOSSES = {
    nonsaturating: { value: (l) => softplus(-l), slope: (l) => sigmoid(l) - 1 },   // -log D(G(z))
    saturating: { value: (l) => -softplus(l), slope: (l) => -sigmoid(l) },        // log(1 - D(G(z)))
  };

  // ---- the ring: centres, samples and the mode counter of count_modes ----
  function ringCenters(nModes, radius) {
    return Array.from({ length: nModes }, (_, k) => {
      const a = (k * 2 * Math.PI) / nModes;
      return [radius * Math.cos(a), radius * Math.sin(a)];
    });
  }
  function sampleRing(out, n, centers, std, uniform, gauss) {   // out (n, 2)
    for (let i = 0; i < n; i++) {
      const c = centers[Math.min(centers.length - 1, Math.floor(uniform() * centers.length))];
      out[2 * i] = c[0] + std * gauss();
      out[2 * i + 1] = c[1] + std * gauss();
    }
    return out;
  }
  // Modes covered and the high-quality fraction of samples (n, 2): a sample is high quality within 3 std of its
  // nearest centre; a mode is covered when at least minFraction of ALL samples are high-quality samples of it.
  function countModes(samples, n, centers, std, minFraction) {
    const counts = new Array(centers.length).fill(0);
    let good = 0;
    for (let i = 0; i < n; i++) {
      let best = Infinity, k = 0;
      centers.forEach((c, j) => {
        const d = Math.hypot(samples[2 * i] - c[0], samples[2 * i + 1] - c[1]);
        if (d < best) { best = d; k = j; }
      });
      if (best < 3 * std) { counts[k] += 1; good += 1; }
    }
    return [counts.filter((c) => c >= minFraction * n).length, good / n];
  }

  // ---- one GAN: both players, their optimisers and the data, all from one seed ----
  function makeGan(cfg, seed, lossName, pack) {
    const uniform = window.genvizLive.rng(seed), gauss = gaussianSource(uniform);
    const w = cfg.width, B = cfg.batch, n = B * pack;              // n samples make B packs of `pack`
    const G = makeMLP([cfg.z_dim, w, w, 2], 0, uniform);
    const D = makeMLP([2 * pack, w, w, 1], cfg.slope, uniform);
    const gan = {
      cfg, seed, lossName, pack, G, D, step: 0, uniform, gauss, centers: ringCenters(cfg.n_modes, cfg.radius),
      optG: makeAdam(params(G), grads(G), cfg.lr, cfg.betas, cfg.eps),
      optD: makeAdam(params(D), grads(D), cfg.lr, cfg.betas, cfg.eps),
      z: new Float32Array(n * cfg.z_dim), real: new Float32Array(2 * n),
      dIn: new Float32Array(2 * 2 * n), dLogits: new Float32Array(2 * B), gLogits: new Float32Array(B),
    };
    const evalUniform = window.genvizLive.rng(99), evalGauss = gaussianSource(evalUniform);   // the fixed noise
    gan.zEval = Float32Array.from({ length: cfg.n_eval * cfg.z_dim }, evalGauss);
    return gan;
  }

  // D's loss -[log D(real) + log(1 - D(fake))] on B real and B fake packs, its gradient in D's gW, gb.
  // real, fake (B * pack, 2), read as (B, 2 * pack): a pack is `pack` consecutive samples.
  function discriminatorGradients(gan, real, fake) {
    const B = gan.cfg.batch, d = gan.dIn, dl = gan.dLogits;
    d.set(real, 0);
    d.set(fake, real.length);                          // one pass over 2B rows: D has no batch statistics
    const logits = forward(gan.D, d, 2 * B);
    let loss = 0;
    for (let i = 0; i < 2 * B; i++) {
      const l = logits[i], isReal = i < B;
      loss += (isReal ? softplus(-l) : softplus(l)) / B;
      dl[i] = (isReal ? sigmoid(l) - 1 : sigmoid(l)) / B;
    }
    backward(gan.D, 2 * B, dl, true, false);
    return loss;
  }

  // G's loss on D's logits of the fakes, back through D (its weights untouched) and G into G's gW, gb.
  function generatorGradients(gan, fake) {
    const B = gan.cfg.batch, loss = G_LOSSES[gan.lossName], dl = gan.gLogits;
    const logits = forward(gan.D, fake, B);
    let value = 0;
    for (let i = 0; i < B; i++) {
      value += loss.value(logits[i]) / B;
      dl[i] = loss.slope(logits[i]) / B;
    }
    const dFake = backward(gan.D, B, dl, false, true);   // (B, 2 * pack) = (B * pack, 2)
    backward(gan.G, B * gan.pack, dFake, true, false);
    return value;
  }

  // One training step, as the chapter's toy_step: fresh real samples and noise, G's fakes, a D update on them,
  // then a G update on D's (updated) logits of the same fakes.
  function trainStep(gan) {
    const n = gan.cfg.batch * gan.pack;
    sampleRing(gan.real, n, gan.centers, gan.cfg.std, gan.uniform, gan.gauss);
    for (let i = 0; i < gan.z.length; i++) gan.z[i] = gan.gauss();
    const fake = forward(gan.G, gan.z, n);
    const lossD = discriminatorGradients(gan, gan.real, fake);
    gan.optD.step();
    const lossG = generatorGradients(gan, fake);
    gan.optG.step();
    gan.step += 1;
    return [lossD, lossG];
  }

  // A whole run without drawing, as genviz_utils.live.ganlab.train_ring_gan: records [step, modes covered,
  // high-quality fraction] every `every` steps (the tests compare them with PyTorch's).
  function trainRecords(cfg, seed, lossName, pack, steps, every) {
    const gan = makeGan(cfg, seed, lossName, pack), records = [];
    for (let s = 0; s <= steps; s++) {
      if (s % every === 0) records.push([s, ...coverage(gan)]);
      if (s === steps) break;
      trainStep(gan);
    }
    return records;
  }

  // For the tests: both losses and both players' gradients at the current weights for given noise z (B * pack,
  // z_dim) and real samples (B * pack, 2), as trainStep computes them but without updating anything.
  function lossesAndGradients(gan, z, real) {
    const fake = forward(gan.G, z, gan.cfg.batch * gan.pack);
    const lossD = discriminatorGradients(gan, real, fake), lossG = generatorGradients(gan, fake);
    return { fake: fake.slice(), lossD, lossG, gradD: grads(gan.D).map((g) => g.slice()),
             gradG: grads(gan.G).map((g) => g.slice()) };
  }
  function setParams(net, values) { params(net).forEach((p, k) => p.set(values[k])); }

  // G's samples of the fixed noise (n_eval, 2), a copy, and their coverage.
  function samples(gan) { return forward(gan.G, gan.zEval, gan.cfg.n_eval).slice(); }
  function coverage(gan, pts) {
    return countModes(pts || samples(gan), gan.cfg.n_eval, gan.centers, gan.cfg.std, gan.cfg.min_fraction);
  }

  // D's probability on a grid of side x side points over [-lim, lim]^2 (row 0 at the top). A packed D judges packs:
  // each point x goes into packs with pack - 1 of G's current samples, and the map shows D averaged over `partners`
  // such packs (what G's gradient sees when it moves one sample of a pack).
  function decisionMap(gan, side, gSamples, partners) {
    const p = gan.pack, lim = gan.cfg.lim, n = side * side, reps = p === 1 ? 1 : partners;
    const x = new Float32Array(n * reps * 2 * p), out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const px = -lim + ((i % side) + 0.5) * (2 * lim) / side, py = lim - (Math.floor(i / side) + 0.5) * (2 * lim) / side;
      for (let r = 0; r < reps; r++) {
        const row = (i * reps + r) * 2 * p;
        x[row] = px; x[row + 1] = py;
        for (let k = 1; k < p; k++) {                  // fixed partners: the map does not flicker between frames
          const s = (r * (p - 1) + k - 1) % (gSamples.length / 2);
          x[row + 2 * k] = gSamples[2 * s]; x[row + 2 * k + 1] = gSamples[2 * s + 1];
        }
      }
    }
    const logits = forward(gan.D, x, n * reps);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let r = 0; r < reps; r++) s += sigmoid(logits[i * reps + r]);
      out[i] = s / reps;
    }
    return out;
  }

  // ---- drawing: D's map (green: "real", purple: "fake"), the ring in grey, G's samples on top ----
  function mapColour(d) {                             // d in (0, 1); white at 1/2
    const t = Math.min(1, Math.abs(2 * d - 1)), to = d > 0.5 ? [46, 160, 67] : [142, 68, 173];
    return to.map((c) => Math.round(255 + (c - 255) * 0.75 * t));
  }
  function drawScene(canvas, gan, view) {
    const ctx = canvas.getContext("2d"), S = canvas.width, lim = gan.cfg.lim, side = view.side;
    const map = decisionMap(gan, side, view.samples, 2), img = new ImageData(side, side);
    for (let i = 0; i < side * side; i++) {
      const [r, g, b] = mapColour(map[i]);
      img.data[4 * i] = r; img.data[4 * i + 1] = g; img.data[4 * i + 2] = b; img.data[4 * i + 3] = 255;
    }
    view.tile.getContext("2d").putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(view.tile, 0, 0, S, S);
    const toPx = (u) => ((u + lim) / (2 * lim)) * S;
    const dots = (pts, colour, r) => {
      ctx.fillStyle = colour;
      for (let i = 0; i < pts.length; i += 2) ctx.fillRect(toPx(pts[i]) - r, S - toPx(pts[i + 1]) - r, 2 * r, 2 * r);
    };
    dots(view.ring, "rgba(90, 90, 90, 0.55)", 1.2);
    dots(view.samples, "rgba(214, 39, 40, 0.8)", 1.5);
  }
  function drawHistory(canvas, history, nModes, maxSteps) {   // modes covered against the step
    const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
    ctx.clearRect(0, 0, W, H);
    ctx.strokeStyle = "#ccc"; ctx.strokeRect(0.5, 0.5, W - 1, H - 1);
    ctx.fillStyle = "#888"; ctx.font = "10px sans-serif";
    ctx.fillText(window.genvizLive.translate("modes covered (0 to " + nModes + ") during training"), 4, 11);
    if (history.length < 2) return;
    const last = Math.max(history[history.length - 1][0], 500), span = Math.min(maxSteps, last);
    ctx.strokeStyle = "#d62728"; ctx.lineWidth = 1.5; ctx.beginPath();
    history.forEach(([s, m], i) => {
      const x = (s / span) * (W - 4) + 2, y = H - 3 - (m / nModes) * (H - 6);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }

  const old = window.genvizGanLab || {};
  window.genvizGanLab = {
    version: VERSION, makeMLP, forward, backward, params, grads, makeAdam, makeGan, trainStep,
    discriminatorGradients, generatorGradients, lossesAndGradients, setParams, trainRecords, countModes,
    ringCenters, sampleRing, gaussianSource, samples, coverage, decisionMap, drawScene, drawHistory,
    labs: old.labs || {},     // element id -> its lab, for the tests
  };
})();
