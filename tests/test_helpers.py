"""The small named helpers used across the package: eval_mode, apply_batched, check_images, sample_rows."""

from __future__ import annotations

import pytest
import torch

from genviz_utils.models.ae import check_images
from genviz_utils.models.vq import sample_rows
from genviz_utils.runtime import apply_batched, eval_mode


def test_eval_mode_restores_each_modules_mode_even_after_an_error():
    a, b = torch.nn.Linear(2, 2).train(), torch.nn.Linear(2, 2).eval()
    with eval_mode(a, b):
        assert not a.training and not b.training
    assert a.training and not b.training
    with pytest.raises(KeyError), eval_mode(a):
        raise KeyError("inside")
    assert a.training


def test_apply_batched_equals_one_call_and_sees_at_most_a_batch():
    x = torch.arange(23.0).view(23, 1)
    seen = []
    out = apply_batched(lambda xb: seen.append(len(xb)) or 2 * xb, x, 5)
    assert torch.equal(out, 2 * x) and seen == [5, 5, 5, 5, 3]
    assert torch.equal(apply_batched(lambda xb: xb.sum().reshape(1), x, 10), torch.tensor([45.0, 145.0, 63.0]))
    with pytest.raises(ValueError, match="positive"):
        apply_batched(lambda xb: xb, x, 0)


def test_check_images_names_the_fix():
    check_images(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"unsqueeze\(1\)"):
        check_images(torch.zeros(2, 28, 28))


def test_sample_rows_draws_rows_without_repeats_when_it_can():
    x = torch.arange(10.0)[:, None].repeat(1, 3)
    rows = sample_rows(x, 4)
    assert rows.shape == (4, 3) and len(set(rows[:, 0].tolist())) == 4
    assert sample_rows(x[:2], 5).shape == (5, 3)                # fewer rows than asked: with repeats
