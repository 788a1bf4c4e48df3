"""Vector quantisation (VQ-VAE, van den Oord et al. 2017): quantizer, codebook statistics, model, token prior.

Read top to bottom:

1. :func:`nearest_codes`, :func:`straight_through`, :func:`vq_losses` -- the three ideas of the chapter.
2. :func:`codebook_usage`, :func:`perplexity` -- codebook health.
3. :class:`VectorQuantizer` -- the layer: nearest neighbour + straight-through + losses, with optional EMA
   codebook updates, data initialisation and dead-code restart (both take encoder outputs from
   :func:`sample_rows`).
4. :class:`VQVAE` -- conv encoder to a 7x7 grid of D-dim vectors, quantizer, conv decoder;
   :func:`drop_stale_prior` keeps a VQ-VAE's checkpoint and its prior's consistent.
5. :class:`TokenPrior` -- a tiny causal transformer over the token grid (train with :meth:`TokenPrior.nll`,
   generate with :meth:`TokenPrior.sample`, one token at a time with a :class:`KVCache`, optionally truncated by
   :func:`top_k_filter`), built from :class:`TransformerBlock`.

:class:`VQVAE` and :class:`TokenPrior` keep their constructor arguments in ``config``, which every checkpoint of
:func:`genviz_utils.training.train` stores, so :func:`genviz_utils.models.registry.load_model` rebuilds them.

Shapes: images (B, 1, 28, 28); encoder output z_e (B, D, H, W); token map (B, H, W) of int64 in [0, K).
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime import apply_batched, eval_mode
from .ae import check_images

# The Adam learning rate of chapter 3's main VQ-VAE (and of chapter 5's base when it trains one). Measured by chapter
# 7's protocol (``python tools/tune.py vqvae lr4e3_s960_p2400_60k s960_p2400_60k``; 960 steps of 128 images, 2 CPU
# cores): with chapter 3's prior budget (2,400 steps on the maps of 60,000 images), FD-FMNIST-CNN 16.7 -> 14.6 against
# 2e-3, its reconstructions' FD 6.5 -> 5.0.
VQVAE_LR = 4e-3

# ----------------------------------------------------------------------------------------------------------
# 1. The three ideas


def nearest_codes(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest codebook row for every row of ``z``.

    z: (N, D); codebook: (K, D) -> (N,) int64. Uses ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2, so memory is
    O(N K) rather than the O(N K D) of broadcasting the differences.
    """
    if z.ndim != 2 or codebook.ndim != 2 or z.shape[1] != codebook.shape[1]:
        raise ValueError(f"expected z (N, D) and codebook (K, D) with the same D, got {tuple(z.shape)} and "
                         f"{tuple(codebook.shape)}. Flatten a (B, D, H, W) map with "
                         "z.permute(0, 2, 3, 1).reshape(-1, D).")
    d2 = z.pow(2).sum(1, keepdim=True) - 2 * z @ codebook.t() + codebook.pow(2).sum(1)
    return d2.argmin(1)


def straight_through(z_e: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """z_e + sg(z_q - z_e): the value of z_q (up to one rounding) with the identity's gradient in z_e."""
    return z_e + (z_q - z_e).detach()


def vq_losses(z_e: torch.Tensor, z_q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(codebook, commitment) = (||sg(z_e) - z_q||^2, ||z_e - sg(z_q)||^2), each a mean over all elements.

    The codebook term moves the codes (gradient only to z_q); the commitment term, to be weighted by beta,
    pulls the encoder towards its codes (gradient only to z_e).
    """
    return F.mse_loss(z_q, z_e.detach()), F.mse_loss(z_e, z_q.detach())


# ----------------------------------------------------------------------------------------------------------
# 2. Codebook health


def code_histogram(indices: torch.Tensor, num_codes: int) -> torch.Tensor:
    """Counts of each code in ``indices`` (any shape, int64 in [0, num_codes)) -> (num_codes,) float."""
    return torch.bincount(indices.reshape(-1), minlength=num_codes).float()


def codebook_usage(indices: torch.Tensor, num_codes: int) -> float:
    """Fraction of the ``num_codes`` codes that occur at least once in ``indices`` (in [0, 1])."""
    return float((code_histogram(indices, num_codes) > 0).float().mean())


def perplexity(indices: torch.Tensor, num_codes: int) -> float:
    """exp(entropy) of the empirical code distribution in ``indices``: the 'effective number of codes'.

    1 when a single code is used, ``num_codes`` when all are used equally often. It is a plug-in estimate:
    it can never exceed the number of tokens in ``indices``, so it grows with the batch it is measured on.
    """
    p = code_histogram(indices, num_codes)
    p = p / p.sum()
    return float(torch.exp(-(p * torch.log(p.clamp_min(1e-30))).sum()))


# ----------------------------------------------------------------------------------------------------------
# 3. The quantizer layer


class VectorQuantizer(nn.Module):
    """Nearest-neighbour quantisation of a (B, D, H, W) map onto a (K, D) codebook.

    forward(z_e) -> (z_q, indices, stats):
        z_q: (B, D, H, W), the codes, with the straight-through gradient to z_e;
        indices: (B, H, W) int64;
        stats: ``loss`` (= codebook + beta * commitment, or beta * commitment alone with EMA), ``codebook``,
        ``commitment``, ``usage`` and ``perplexity`` of this batch (0-d tensors, detached but ``loss``).

    Options (paper defaults: beta=0.25, gradient-trained codebook):
        ema: update the codes as exponential moving averages of the encoder outputs assigned to them (online
            k-means, appendix of the paper) instead of by the codebook loss.
        init: ``"normal"`` (N(0, 1), what nn.Embedding does), ``"uniform"`` (U(-1/K, 1/K)), or ``"data"``
            (K random encoder outputs of the first training batch).
        restart_dead: in training, a code whose moving-average count per batch falls below ``dead_threshold``
            is moved onto a random encoder output of the current batch.
    """

    def __init__(self, num_codes: int, dim: int, beta: float = 0.25, *, ema: bool = False,
                 decay: float = 0.99, init: str = "normal", restart_dead: bool = False,
                 dead_threshold: float = 1.0, eps: float = 1e-5):
        super().__init__()
        if init not in ("normal", "uniform", "data"):
            raise ValueError(f"init must be 'normal', 'uniform' or 'data', got {init!r}.")
        self.num_codes, self.dim, self.beta = num_codes, dim, beta
        self.ema, self.decay, self.eps = ema, decay, eps
        self.init, self.restart_dead, self.dead_threshold = init, restart_dead, dead_threshold
        weight = torch.randn(num_codes, dim) if init != "uniform" else torch.empty(num_codes, dim).uniform_(
            -1 / num_codes, 1 / num_codes)
        if ema:  # updated by hand, not by the optimizer
            self.register_buffer("codebook", weight)
            self.register_buffer("embed_sum", weight.clone())
        else:
            self.codebook = nn.Parameter(weight)
        # moving average of how often each code is picked per batch (for EMA, restarts and health stats)
        self.register_buffer("cluster_size", torch.ones(num_codes) if ema else torch.zeros(num_codes))
        self.register_buffer("initialised", torch.tensor(init != "data"))

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Token map (B, H, W) -> code vectors (B, D, H, W)."""
        return self.codebook[indices].permute(0, 3, 1, 2).contiguous()

    def forward(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        if z_e.ndim != 4 or z_e.shape[1] != self.dim:
            raise ValueError(f"expected z_e of shape (B, {self.dim}, H, W), got {tuple(z_e.shape)}.")
        with torch.autocast(z_e.device.type, enabled=False):   # distances and EMA sums in the codebook's precision
            return self._quantize(z_e.to(self.codebook.dtype))  # (fp32), also under mixed precision

    def _quantize(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)                      # (N, D), N = B*H*W
        if self.training and not bool(self.initialised):
            self._data_init(flat.detach())
        idx = nearest_codes(flat.detach(), self.codebook.detach())
        z_q = self.codebook[idx]                                            # (N, D)
        codebook_loss, commitment = vq_losses(flat, z_q)
        loss = self.beta * commitment + (0.0 if self.ema else codebook_loss)
        if self.training:
            self._update(flat.detach(), idx)
        z_q = straight_through(flat, z_q).view(b, h, w, d).permute(0, 3, 1, 2)
        idx = idx.view(b, h, w)
        stats = {"loss": loss, "codebook": codebook_loss.detach(), "commitment": commitment.detach(),
                 "usage": torch.tensor(codebook_usage(idx, self.num_codes)),
                 "perplexity": torch.tensor(perplexity(idx, self.num_codes))}
        return z_q, idx, stats

    @torch.no_grad()
    def _data_init(self, flat: torch.Tensor) -> None:
        self.codebook.data.copy_(sample_rows(flat, self.num_codes))
        if self.ema:
            self.embed_sum.copy_(self.codebook * self.cluster_size[:, None])
        self.initialised.fill_(True)

    @torch.no_grad()
    def _update(self, flat: torch.Tensor, idx: torch.Tensor) -> None:
        """Moving-average counts; EMA codebook step; dead-code restart."""
        onehot = F.one_hot(idx, self.num_codes).type(flat.dtype)           # (N, K)
        counts = onehot.sum(0)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        if self.ema:
            self.embed_sum.mul_(self.decay).add_(onehot.t() @ flat, alpha=1 - self.decay)
            n = self.cluster_size.sum()   # Laplace smoothing keeps rarely used codes away from 0/0
            size = (self.cluster_size + self.eps) / (n + self.num_codes * self.eps) * n
            self.codebook.copy_(self.embed_sum / size[:, None])
        if self.restart_dead:
            dead = self.cluster_size < self.dead_threshold
            n_dead = int(dead.sum())
            if n_dead:
                rows = sample_rows(flat, n_dead)
                self.codebook.data[dead] = rows
                self.cluster_size[dead] = 2 * self.dead_threshold   # a grace period before the next restart
                if self.ema:
                    self.embed_sum[dead] = rows * self.cluster_size[dead, None]


def sample_rows(x: torch.Tensor, k: int) -> torch.Tensor:
    """k rows of ``x`` (N, D) drawn at random, without repeats when N >= k: -> (k, D)."""
    n = x.shape[0]
    if n >= k:
        return x[torch.randperm(n, device=x.device)[:k]]
    return x[torch.randint(0, n, (k,), device=x.device)]


# ----------------------------------------------------------------------------------------------------------
# 4. The VQ-VAE


class ResBlock(nn.Module):
    """x + conv1x1(silu(conv3x3(silu(x)))), shape-preserving (B, C, H, W)."""

    def __init__(self, channels: int):
        super().__init__()
        self.net = nn.Sequential(nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
                                 nn.SiLU(), nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class VQVAE(nn.Module):
    """Encoder (B, 1, 28, 28) -> z_e (B, D, 7, 7); quantizer (K codes); decoder to (B, 1, 28, 28) in [0, 1].

    forward(x) -> (x_hat, indices (B, 7, 7), stats of the quantizer). The image is described by 49 tokens,
    i.e. 49 * log2(K) bits.
    """

    def __init__(self, num_codes: int = 64, code_dim: int = 16, width: int = 32, beta: float = 0.25, *,
                 ema: bool = True, decay: float = 0.99, init: str = "data", restart_dead: bool = True):
        super().__init__()
        self.config = dict(num_codes=num_codes, code_dim=code_dim, width=width, beta=beta, ema=ema,
                           decay=decay, init=init, restart_dead=restart_dead)
        w = width
        self.encoder = nn.Sequential(                                       # (B, 1, 28, 28) images
            nn.Conv2d(1, w, 4, stride=2, padding=1), nn.SiLU(),             # (B, w, 14, 14)
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1),                    # (B, 2w, 7, 7)
            ResBlock(2 * w), nn.SiLU(),                                     # (B, 2w, 7, 7)
            nn.Conv2d(2 * w, code_dim, 1),                                  # (B, D, 7, 7): z_e
        )
        self.quantizer = VectorQuantizer(num_codes, code_dim, beta, ema=ema, decay=decay, init=init,
                                         restart_dead=restart_dead)         # (B, D, 7, 7): z_q
        self.decoder_logits = nn.Sequential(                                # (B, D, 7, 7) codes
            nn.Conv2d(code_dim, 2 * w, 3, padding=1),                       # (B, 2w, 7, 7)
            ResBlock(2 * w), nn.SiLU(),                                     # (B, 2w, 7, 7)
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.SiLU(),  # (B, w, 14, 14)
            nn.ConvTranspose2d(w, 1, 4, stride=2, padding=1),                 # (B, 1, 28, 28) logits
        )

    @property
    def num_codes(self) -> int:
        return self.quantizer.num_codes

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) -> z_e (B, D, 7, 7)."""
        check_images(x)
        return self.encoder(x)

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """(B, D, 7, 7) -> images (B, 1, 28, 28) in [0, 1]."""
        return torch.sigmoid(self.decoder_logits(z_q))

    def tokenize(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 1, 28, 28) -> token map (B, 7, 7), without touching the codebook statistics."""
        z_e = self.encode(x)
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
        return nearest_codes(flat, self.quantizer.codebook).view(z_e.shape[0], *z_e.shape[2:])

    def decode_tokens(self, indices: torch.Tensor) -> torch.Tensor:
        """Token map (B, H, W) -> images (B, 1, 4H, 4W)."""
        return self.decode(self.quantizer.lookup(indices))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        z_q, indices, stats = self.quantizer(self.encode(x))
        return self.decode(z_q), indices, stats


def drop_stale_prior(prior_path: str | os.PathLike, tokenizer_path: str | os.PathLike) -> bool:
    """Delete the token prior's checkpoint if the tokenizer's checkpoint was written after it.

    A prior learns the tokens of one particular VQ-VAE. When ``tokenizer_path`` (e.g. ``vqvae.pt``) is newer than
    ``prior_path`` (file modification times), the VQ-VAE was trained again after the prior, so the prior models
    another VQ-VAE's tokens: delete it so that it is trained afresh. Returns True when it deleted the file, False
    when the prior is absent or at least as new as the tokenizer.
    """
    prior_path, tokenizer_path = Path(prior_path), Path(tokenizer_path)
    if not tokenizer_path.exists():
        raise FileNotFoundError(f"{tokenizer_path} does not exist: train (or load) the VQ-VAE before its prior, "
                                "so that the prior's checkpoint can be compared with it.")
    if not prior_path.exists():
        return False
    if prior_path.stat().st_mtime_ns < tokenizer_path.stat().st_mtime_ns:
        prior_path.unlink()
        return True
    return False


@torch.no_grad()
def tokenize_all(model: VQVAE, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Token maps of a whole split: (N, 1, 28, 28) -> (N, 7, 7) int64, in eval mode and batches."""
    with eval_mode(model):
        return apply_batched(model.tokenize, images, batch_size)


# ----------------------------------------------------------------------------------------------------------
# 5. A tiny autoregressive prior over the token grid


class TransformerBlock(nn.Module):
    """Pre-norm transformer block with causal self-attention. (B, T, C) -> (B, T, C)."""

    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.ln1, self.ln2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.qkv, self.proj = nn.Linear(n_embd, 3 * n_embd), nn.Linear(n_embd, n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.n_head, c // self.n_head).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)       # (B, nh, T, hs)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp(self.ln2(x))

    def step(self, x: torch.Tensor, cache: KVCache, t: int) -> torch.Tensor:
        """``forward`` for the one token at position ``t``: (B, 1, C) -> (B, 1, C).

        The keys and values of positions < t come from ``cache``, and this token's are added to it, so the result
        is row t of ``forward`` on the whole prefix at the cost of one token instead of t + 1.
        """
        b, _, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, 1, 3, self.n_head, c // self.n_head).permute(2, 0, 3, 1, 4)
        keys, values = cache.append(k, v, t)                               # (B, nh, t + 1, hs)
        y = F.scaled_dot_product_attention(q, keys, values)                # no mask: position t sees 0..t
        x = x + self.proj(y.transpose(1, 2).reshape(b, 1, c))
        return x + self.mlp(self.ln2(x))


class KVCache:
    """The keys and values one :class:`TransformerBlock` computed for the positions sampled so far.

    Two buffers (B, n_head, T, head_dim), filled left to right by :meth:`append`. They are allocated at the first
    append, in the dtype and on the device of that key, so that under autocast (bf16 keys) the cache is bf16 too
    and nothing is cast at every step.
    """

    def __init__(self, n: int, n_head: int, seq_len: int, head_dim: int):
        self.shape = (n, n_head, seq_len, head_dim)
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None

    def append(self, k: torch.Tensor, v: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Store position t's key and value (B, nh, 1, hs); return the keys and values of positions 0..t."""
        if self.keys is None:
            self.keys, self.values = k.new_empty(self.shape), v.new_empty(self.shape)
        self.keys[:, :, t:t + 1], self.values[:, :, t:t + 1] = k, v
        return self.keys[:, :, :t + 1], self.values[:, :, :t + 1]


class TokenPrior(nn.Module):
    """p(z) = prod_t p(z_t | z_<t) over a (H, W) token grid read in raster order, by a tiny GPT.

    forward(tokens (B, H, W)) -> logits (B, H*W, K): position t predicts token t from the tokens before it
    (a start token stands in front of the sequence, so token 0 is predicted from nothing).
    """

    def __init__(self, num_codes: int, grid: tuple[int, int] = (7, 7), n_layer: int = 2, n_embd: int = 64,
                 n_head: int = 4):
        super().__init__()
        self.config = dict(num_codes=num_codes, grid=list(grid), n_layer=n_layer, n_embd=n_embd,
                           n_head=n_head)   # JSON-like: the grid as a list
        self.num_codes, self.grid = num_codes, tuple(grid)
        self.seq_len = grid[0] * grid[1]                                    # T = H * W tokens
        self.tok = nn.Embedding(num_codes + 1, n_embd)     # (B, T) ids -> (B, T, C); the last id: start token
        self.pos = nn.Parameter(torch.zeros(1, self.seq_len, n_embd))       # (1, T, C), added to it
        self.blocks = nn.Sequential(*[TransformerBlock(n_embd, n_head) for _ in range(n_layer)])  # (B, T, C)
        self.ln = nn.LayerNorm(n_embd)                                      # (B, T, C)
        self.head = nn.Linear(n_embd, num_codes)                            # (B, T, K) logits
        nn.init.normal_(self.pos, std=0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        seq = tokens.reshape(tokens.shape[0], -1)
        if seq.shape[1] != self.seq_len:
            raise ValueError(f"expected token maps of {self.seq_len} tokens {self.grid}, "
                             f"got {tuple(tokens.shape)}.")
        start = torch.full_like(seq[:, :1], self.num_codes)
        x = self.tok(torch.cat([start, seq[:, :-1]], 1)) + self.pos       # shifted right by one
        return self.head(self.ln(self.blocks(x)))

    def nll(self, tokens: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood per token, in nats (divide by ln 2 for bits). tokens: (B, H, W)."""
        logits = self.forward(tokens)
        return F.cross_entropy(logits.reshape(-1, self.num_codes), tokens.reshape(-1))

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0,
               generator: torch.Generator | None = None, top_k: int | None = None) -> torch.Tensor:
        """Draw ``n`` token maps (n, H, W), one token at a time.

        ``temperature`` divides the logits (< 1 sharpens, > 1 flattens); ``top_k`` keeps only the k most likely
        codes at every step (see :func:`top_k_filter`; None or k >= K: no truncation). ``generator`` is a CPU
        generator (None: torch's global one). Each step runs the network on one new token, reusing the keys and
        values of the earlier ones (:class:`KVCache`). Each step's random numbers are drawn on the CPU, one
        (n, K) Exp(1) tensor per step (:func:`race_noise`), and copied to the device without waiting, so the loop
        never waits for the probabilities to come back to the CPU, and the noise never takes more than one step's
        (n, K) floats. The exponential race is a valid sampler whatever ``torch.multinomial`` does; that the tokens
        are also the same as running ``forward`` on the whole prefix and ``torch.multinomial`` at every step, up to
        round-off in the logits, relies on how multinomial currently draws one sample (see :func:`race_noise`).
        """
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}; use top_k=1 for greedy decoding.")
        device = self.pos.device
        caches = self._empty_caches(n)
        seq = torch.empty(n, self.seq_len, dtype=torch.long, device=device)
        token = torch.full((n,), self.num_codes, dtype=torch.long, device=device)   # the start token
        for t in range(self.seq_len):
            logits = self._next_logits(token, t, caches) / temperature
            if top_k is not None:
                logits = top_k_filter(logits, top_k)
            probs = torch.softmax(logits.float(), -1)
            noise = race_noise(n, self.num_codes, generator).to(device, non_blocking=True)      # (n, K)
            token = seq[:, t] = (probs / noise).argmax(-1)                  # = torch.multinomial(probs, 1)
        return seq.view(n, *self.grid)

    def _empty_caches(self, n: int) -> list[KVCache]:
        """One empty :class:`KVCache` per block, for ``n`` sequences."""
        n_embd = self.pos.shape[-1]
        return [KVCache(n, b.n_head, self.seq_len, n_embd // b.n_head) for b in self.blocks]

    def _next_logits(self, token: torch.Tensor, t: int, caches: list[KVCache]) -> torch.Tensor:
        """Logits (n, K) of the token at position t, given the token at t - 1 (n,) (at t = 0 the start token)
        and the caches of positions < t, which this call extends by position t."""
        x = self.tok(token)[:, None] + self.pos[:, t:t + 1]               # (n, 1, C), as in forward
        for block, cache in zip(self.blocks, caches, strict=True):
            x = block.step(x, cache, t)
        return self.head(self.ln(x))[:, 0]


def race_noise(n: int, num_codes: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Exp(1) noise (n, num_codes) on the CPU, for drawing one token for each of ``n`` sequences.

    argmax(p / E) over the codes, with E ~ Exp(1) independent, is a draw from p (the "exponential race": code i
    rings after the time E_i / p_i, exponential with rate p_i, and it is the first with probability p_i). That
    makes it a valid sampler on its own. Token-for-token equality with ``torch.multinomial(p, 1, generator)`` is a
    further fact about PyTorch's current code, not a documented guarantee: its one-sample path (n_sample == 1)
    draws exactly so, from E = ``torch.empty_like(p).exponential_(1, generator=generator)``, and making the same
    draws here, in the same order, gives the same tokens (tests/test_token_prior.py checks this, so an upgrade
    that changes it is noticed).
    """
    return torch.empty(n, num_codes, dtype=torch.float32).exponential_(1, generator=generator)


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of every row and set the others to -inf: (..., K) -> (..., K), a new tensor.

    After a softmax only the top k codes have non-zero probability, renormalised among themselves. Ties at the
    k-th value are all kept. k >= K leaves the logits unchanged.
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"top_k must be a positive integer (or None for no truncation), got {k!r}.")
    if k >= logits.shape[-1]:
        return logits.clone()
    kth = logits.topk(int(k), dim=-1).values[..., -1:]                          # (..., 1) the k-th largest logit
    return logits.masked_fill(logits < kth, float("-inf"))


@torch.no_grad()
def bits_per_token(prior: TokenPrior, tokens: torch.Tensor, batch_size: int = 1000) -> float:
    """Average NLL of a set of token maps (N, H, W) under ``prior``, in bits per token."""
    with eval_mode(prior):
        nats = apply_batched(lambda t: (prior.nll(t).double() * len(t)).reshape(1), tokens, batch_size)   # per batch
    return float(nats.sum()) / len(tokens) / math.log(2)
