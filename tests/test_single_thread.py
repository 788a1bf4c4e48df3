"""single_thread: one CPU thread inside the block, the old count after it, and the same numbers as two threads."""

from __future__ import annotations

import pytest
import torch

from genviz_utils.runtime import single_thread


def _tiny_training(seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(20):
        loss = net(torch.randn(256, 2)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def test_single_thread_sets_one_thread_and_restores_the_count_even_after_an_error():
    before = torch.get_num_threads()
    with single_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(KeyError), single_thread():
        raise KeyError("inside")
    assert torch.get_num_threads() == before


def test_single_thread_gives_the_numbers_of_the_default_thread_count():
    outside = _tiny_training(0)
    with single_thread():
        inside = _tiny_training(0)
    assert torch.equal(inside, outside)
