"""TokenPrior.sample with its key/value cache draws the same tokens as the plain algorithm (the whole prefix through
the network and torch.multinomial at every step), token for token, without running the prefix again."""

import pytest
import torch

from genviz_utils.models.vq import TokenPrior, race_noise, top_k_filter


@torch.no_grad()
def uncached_sample(prior: TokenPrior, n: int, temperature: float = 1.0,
                    generator: torch.Generator | None = None, top_k: int | None = None) -> torch.Tensor:
    """The algorithm before the cache: the whole sequence through the network for every token."""
    device = prior.pos.device
    seq = torch.zeros(n, prior.seq_len, dtype=torch.long, device=device)
    for t in range(prior.seq_len):
        logits = prior.forward(seq)[:, t] / temperature                 # later positions do not matter yet
        if top_k is not None:
            logits = top_k_filter(logits, top_k)
        probs = torch.softmax(logits.float(), -1)
        seq[:, t] = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(device)
    return seq.view(n, *prior.grid)


def _random_prior(seed: int = 0, num_codes: int = 16, grid=(3, 4)) -> TokenPrior:
    torch.manual_seed(seed)
    prior = TokenPrior(num_codes, grid=grid, n_layer=2, n_embd=32, n_head=4)
    with torch.no_grad():                    # larger random weights than the init: peaked, position-dependent logits
        for p in prior.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return prior.eval()


@pytest.mark.parametrize("temperature, top_k", [(1.0, None), (0.7, 5), (1.6, None), (1.3, 2), (1.0, 1)])
def test_cached_sample_equals_the_uncached_algorithm(temperature, top_k):
    prior = _random_prior()
    new = prior.sample(64, temperature, torch.Generator().manual_seed(7), top_k)
    old = uncached_sample(prior, 64, temperature, torch.Generator().manual_seed(7), top_k)
    assert torch.equal(new, old), f"{int((new != old).sum())} of {new.numel()} tokens differ"
    other_seed = prior.sample(64, temperature, torch.Generator().manual_seed(8), top_k)
    if top_k != 1:                                      # the control: equality above is not trivially true
        assert not torch.equal(new, other_seed)


def test_global_generator_is_used_the_same_way():
    prior = _random_prior(1)
    torch.manual_seed(3)
    new = prior.sample(32)
    torch.manual_seed(3)
    assert torch.equal(new, uncached_sample(prior, 32))


def test_each_cached_step_gives_the_logits_of_the_whole_prefix():
    prior = _random_prior(2)
    tokens = torch.randint(0, prior.num_codes, (5, *prior.grid))
    full = prior(tokens)                                             # (5, T, K)
    caches = prior._empty_caches(5)
    seq = tokens.reshape(5, -1)
    prev = torch.full((5,), prior.num_codes)
    for t in range(prior.seq_len):
        step = prior._next_logits(prev, t, caches)
        torch.testing.assert_close(step, full[:, t], rtol=1e-5, atol=1e-5)
        prev = seq[:, t]


def test_race_noise_is_what_multinomial_draws():
    probs = torch.softmax(3 * torch.randn(3, 40, 10, generator=torch.Generator().manual_seed(0)), -1)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    raced = torch.stack([(p / race_noise(40, 10, g1)).argmax(-1) for p in probs])   # one step at a time
    drawn = torch.stack([torch.multinomial(p, 1, generator=g2).squeeze(1) for p in probs])
    assert torch.equal(raced, drawn)


def test_cache_takes_the_dtype_of_the_keys_under_autocast():
    prior = _random_prior(3)
    caches = prior._empty_caches(4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = prior._next_logits(torch.full((4,), prior.num_codes), 0, caches)
        tokens = prior.sample(4, generator=torch.Generator().manual_seed(0))
    assert all(c.keys.dtype == c.values.dtype == torch.bfloat16 for c in caches)
    assert torch.isfinite(logits.float()).all() and tokens.shape == (4, *prior.grid)


def test_state_dict_names_unchanged():
    """Checkpoints written before the cache still load: the cache adds no parameter or buffer."""
    prior = TokenPrior(64)
    names = {"tok.weight", "pos", "ln.weight", "ln.bias", "head.weight", "head.bias"} | {
        f"blocks.{i}.{m}.{w}" for i in range(2) for m in ("ln1", "ln2", "qkv", "proj", "mlp.0", "mlp.2")
        for w in ("weight", "bias")}
    assert set(prior.state_dict()) == names


def test_sampling_never_reruns_the_prefix(monkeypatch):
    """The cache's point, checked without a clock (speed lives in chapter 7's printout, not in a timed test): while
    sampling, no block ever sees more than the one new token, and the full forward pass is never called."""
    from genviz_utils.models import vq

    prior = _random_prior()
    widths = []
    real_step = vq.TransformerBlock.step

    def counting_step(self, x, cache, t):
        widths.append(x.shape[1])
        return real_step(self, x, cache, t)

    def no_forward(*args, **kwargs):
        raise AssertionError("sample() ran the whole prefix through the network")

    monkeypatch.setattr(vq.TransformerBlock, "step", counting_step)
    monkeypatch.setattr(vq.TransformerBlock, "forward", no_forward)
    monkeypatch.setattr(TokenPrior, "forward", no_forward)
    prior.sample(5, generator=torch.Generator().manual_seed(0))
    assert widths == [1] * (prior.seq_len * len(prior.blocks))
