import math

import pytest
import torch

from genviz_utils.checkpoint import CheckpointError, load_checkpoint, load_state, save_checkpoint
from genviz_utils.models.ae import ConvAutoencoder
from genviz_utils.training import NonFiniteLossError, train


def test_missing_and_corrupt_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="No checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt or truncated.*Delete it"):
        load_checkpoint(bad)
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"w": torch.arange(1000.0)})
    good.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(good)


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"v": 1})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint(path, {"v": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["v"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"], "a temporary file was left behind"


def test_load_state_names_the_mismatch(tmp_path):
    with pytest.raises(CheckpointError, match="different model"):
        load_state(ConvAutoencoder(2, width=4), ConvAutoencoder(3, width=4).state_dict(), tmp_path / "x.pt")


def _setup(seed=0):
    torch.manual_seed(seed)
    model = ConvAutoencoder(2, width=4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    return model, opt


def _step_fn(model, opt):
    def step(batch):
        (x,) = batch
        noisy = x + 0.1 * torch.randn_like(x)  # randomness inside the step: the RNG state must be restored
        loss = ((model(noisy) - x) ** 2).sum((1, 2, 3)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss}
    return step


def test_resume_equals_uninterrupted(tmp_path):
    x = torch.rand(256, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    m1, o1 = _setup()
    h1 = train(_step_fn(m1, o1), x, steps=20, batch_size=32, state={"m": m1, "o": o1},
               checkpoint=tmp_path / "a.pt", log_every=1, progress=False)
    m2, o2 = _setup()
    train(_step_fn(m2, o2), x, steps=10, batch_size=32, state={"m": m2, "o": o2},
          checkpoint=tmp_path / "b.pt", log_every=1, progress=False)
    torch.manual_seed(999)  # a different global RNG state in the "new session"
    m3, o3 = _setup(seed=5)  # fresh objects, different init: everything must come from the checkpoint
    h3 = train(_step_fn(m3, o3), x, steps=20, batch_size=32, state={"m": m3, "o": o3},
               checkpoint=tmp_path / "b.pt", log_every=1, progress=False)
    for (name, p1), p3 in zip(m1.state_dict().items(), m3.state_dict().values(), strict=True):
        assert torch.equal(p1, p3), f"{name} differs after resume"
    assert h3.steps == list(range(20)) and h3["loss"] == h1["loss"]
    # a finished run does no more steps
    m4, o4 = _setup(seed=7)
    h4 = train(_step_fn(m4, o4), x, steps=20, batch_size=32, state={"m": m4, "o": o4},
               checkpoint=tmp_path / "b.pt", progress=False)
    assert torch.equal(next(m4.parameters()), next(m1.parameters())) and len(h4.steps) == len(h1.steps)


def test_nan_loss_names_loss_step_and_checkpoint(tmp_path):
    x = torch.rand(64, 1, 28, 28)
    model, opt = _setup()
    calls = {"n": 0}

    def step(batch):
        calls["n"] += 1
        return {"recon": 1.0, "kl": math.nan if calls["n"] == 8 else 0.5}

    with pytest.raises(NonFiniteLossError) as err:
        train(step, x, steps=20, batch_size=16, state={"m": model}, checkpoint=tmp_path / "c.pt",
              checkpoint_every=5, progress=False)
    msg = str(err.value)
    assert "'kl'" in msg and "step 7" in msg and "c.pt" in msg
    assert load_checkpoint(tmp_path / "c.pt")["step"] == 5  # the last good checkpoint is intact


def test_resume_from_corrupt_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "c.pt").write_bytes(b"garbage")
    model, opt = _setup()
    with pytest.raises(CheckpointError, match="corrupt"):
        train(_step_fn(model, opt), torch.rand(32, 1, 28, 28), steps=2, batch_size=8,
              state={"m": model, "o": opt}, checkpoint=tmp_path / "c.pt", progress=False)


def test_mismatched_data_lengths():
    with pytest.raises(ValueError, match="same first dimension"):
        train(lambda b: {"l": 0.0}, (torch.zeros(4, 1), torch.zeros(5)), steps=1, batch_size=2, state={},
              progress=False)
