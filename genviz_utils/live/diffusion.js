// Chapter 6's latent diffusion in the browser, on engine.js's runtime: the MLP noise predictor
// (genviz_utils.models.diffusion.MLPDenoiser) and DDIM with classifier-free guidance and the clamp of x0_hat
// (ddim_sample with clip, eta = 0), as genviz_utils.live.diffusion exports them. Checked against PyTorch on load.
(function () {
  const G = window.genvizLive;
  if (G.makeDenoiser) return;
  const silu = G.ACT.silu;
  const add = (a, b) => a.map((v, i) => v + b[i]);

  // eps(xs, t, ys): xs (n * D) latents at step t (one step for all n), ys (n) labels -> (n * D) predicted noise.
  function makeDenoiser(spec) {
    const P = G.weights(spec), H = spec.hidden, D = spec.dim, freqs = G.f32(spec.freqs), half = freqs.length;
    function embed(t, ys) {                       // e = silu(time_mlp(sinusoid(t)) + label_emb(y)): (n, H)
      const s = new Float32Array(H);              // an odd H keeps its last column 0, as F.pad does
      for (let i = 0; i < half; i++) {
        const a = Math.fround(t * freqs[i]);      // t.float() * freqs, a float32 product as in PyTorch
        s[i] = Math.cos(a);
        s[half + i] = Math.sin(a);
      }
      const h1 = G.linear(s, 1, H, P["time_mlp.0.weight"], P["time_mlp.0.bias"], H).map(silu);
      const h = G.linear(h1, 1, H, P["time_mlp.2.weight"], P["time_mlp.2.bias"], H);
      const e = new Float32Array(ys.length * H), L = P["label_emb.weight"];
      ys.forEach((y, r) => { for (let c = 0; c < H; c++) e[r * H + c] = silu(h[c] + L[y * H + c]); });
      return e;
    }
    function eps(xs, t, ys) {
      const n = ys.length, e = embed(t, ys);
      let h = G.linear(xs, n, D, P["inp.weight"], P["inp.bias"], H);                // (n, H)
      for (let k = 0; k < spec.depth; k++) {      // h + MLP(LayerNorm(h + proj_k(e)))
        const b = "blocks." + k + ".";
        const u = add(h, G.linear(e, n, H, P["emb_proj." + k + ".weight"], P["emb_proj." + k + ".bias"], H));
        const m = G.linear(G.layerNorm(u, n, H, P[b + "0.weight"], P[b + "0.bias"], 1e-5), n, H,
                           P[b + "1.weight"], P[b + "1.bias"], 2 * H).map(silu);         // (n, 2H)
        h = add(h, G.linear(m, n, 2 * H, P[b + "3.weight"], P[b + "3.bias"], H));
      }
      return G.linear(G.layerNorm(h, n, H, P["out.0.weight"], P["out.0.bias"], 1e-5), n, H,
                      P["out.1.weight"], P["out.1.bias"], D);                            // (n, D)
    }
    eps.dim = D;
    if (spec.check) {
      const c = spec.check;
      eps.checkError = G.selfCheck("denoiser", eps(Float32Array.from(c.input), c.t, c.y), c);
    }
    return eps;
  }

  // Classifier-free guidance, as guided_eps: eps_u + w (eps_c - eps_u), one batch of two (w = 0 or 1: one call).
  function guided(eps, x, t, y, w, nullLabel) {
    if (w === 1) return eps(x, t, [y]);
    if (w === 0) return eps(x, t, [nullLabel]);
    const D = x.length, both = new Float32Array(2 * D);
    both.set(x);
    both.set(x, D);
    const out = eps(both, t, [y, nullLabel]);
    return out.subarray(0, D).map((c, i) => out[D + i] + w * (c - out[D + i]));
  }

  // DDIM (eta = 0) from x_T = z over the steps `times`: the trajectory of (t, x_t, x0_hat) before each update and
  // the final latent, as ddim_sample with its trajectory list.
  function makeSampler(spec, eps) {
    const abar = G.f32(spec.alpha_bar), clip = spec.clip;
    function sample(z, y, w, times) {
      let x = Float32Array.from(z);
      const path = [];
      times.forEach((t, i) => {
        const a = abar[t], ap = i + 1 < times.length ? abar[times[i + 1]] : 1;
        const e = guided(eps, x, t, y, w, spec.null), sa = Math.sqrt(a), s1 = Math.sqrt(1 - a);
        const x0 = x.map((v, j) => {
          const u = (v - s1 * e[j]) / sa;                                   // predict_x0
          return clip === null ? u : Math.min(clip, Math.max(-clip, u));    // clamped to the latents' range
        });
        const e2 = clip === null ? e : x.map((v, j) => (v - sa * x0[j]) / s1);   // the noise that x0_hat implies
        path.push({ t, x, x0 });
        const sp = Math.sqrt(ap), sq = Math.sqrt(Math.max(0, 1 - ap));
        x = x0.map((v, j) => sp * v + sq * e2[j]);
      });
      return { path, final: x };
    }
    if (spec.sample_check) {
      const c = spec.sample_check;
      sample.checkError = G.selfCheck("sampler", sample(c.input, c.y, c.w, c.times).final, c);
    }
    return sample;
  }

  // Standard normal draws from the seeded uniform generator (Box-Muller): the page's own noise for a seed.
  function gaussian(seed, n) {
    const u = G.rng(seed), out = new Float32Array(n);
    for (let i = 0; i < n; i += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - u())), a = 2 * Math.PI * u();
      out[i] = r * Math.cos(a);
      if (i + 1 < n) out[i + 1] = r * Math.sin(a);
    }
    return out;
  }

  Object.assign(G, { makeDenoiser, makeSampler, guided, gaussian });
})();
