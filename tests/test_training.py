"""The training loop: NaN guard, exact resume, checkpoint errors, history."""

import contextlib
import itertools
import math

import pytest
import torch

from genviz_utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from genviz_utils.models.ae import ConvAutoencoder
from genviz_utils.models.registry import load_model
from genviz_utils.training import (
    History,
    NonFiniteLossError,
    milestone_dir,
    milestone_steps,
    milestones,
    train,
)

X = torch.rand(256, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def _setup(seed=0):
    torch.manual_seed(seed)
    model = ConvAutoencoder(latent_dim=2, width=4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    return model, opt


def _step_fn(model, opt, crash_at=None, counter=None):
    def step(batch):
        if counter is not None:
            counter.append(1)
            if len(counter) == crash_at:
                raise KeyboardInterrupt  # the reader stops the kernel
        (x,) = batch
        noisy = x + 0.1 * torch.randn_like(x)  # randomness inside the step: the RNG state must be restored
        loss = ((model(noisy) - x) ** 2).sum((1, 2, 3)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss}
    return step


def _run(model, opt, ckpt, steps, **kw):
    return train(_step_fn(model, opt, **kw.pop("fn_kw", {})), X, steps=steps, batch_size=32,
                 state={"model": model, "opt": opt}, checkpoint=ckpt, log_every=1, progress=False, **kw)


def _assert_same_weights(m1, m2):
    for (name, p1), p2 in zip(m1.state_dict().items(), m2.state_dict().values(), strict=True):
        assert torch.equal(p1, p2), f"{name} differs after resume"


def test_resume_equals_uninterrupted(tmp_path):
    m1, o1 = _setup()
    h1 = _run(m1, o1, tmp_path / "a.pt", 20)
    m2, o2 = _setup()
    h2 = _run(m2, o2, tmp_path / "b.pt", 10)
    assert h2.steps == list(range(10)) and load_checkpoint(tmp_path / "b.pt")["step"] == 10
    torch.manual_seed(999)  # a different global RNG state in the "new session"
    m3, o3 = _setup(seed=5)  # fresh objects, different init: everything must come from the checkpoint
    h3 = _run(m3, o3, tmp_path / "b.pt", 20)
    _assert_same_weights(m1, m3)
    for k in o1.state_dict()["state"]:
        assert torch.equal(o1.state_dict()["state"][k]["exp_avg"], o3.state_dict()["state"][k]["exp_avg"])
    assert h3.steps == list(range(20)) and h3["loss"] == h1["loss"]
    # a finished run does no more steps and changes nothing
    m4, o4 = _setup(seed=7)
    calls = []
    h4 = _run(m4, o4, tmp_path / "b.pt", 20, fn_kw={"counter": calls})
    assert calls == [] and h4.steps == h1.steps
    _assert_same_weights(m1, m4)


def test_resume_after_a_crash_between_checkpoints(tmp_path):
    m1, o1 = _setup()
    _run(m1, o1, None, 16)
    m2, o2 = _setup()
    with pytest.raises(KeyboardInterrupt):  # crash during step 12: the last checkpoint is at step 10
        _run(m2, o2, tmp_path / "c.pt", 16, checkpoint_every=5, fn_kw={"counter": [], "crash_at": 13})
    assert load_checkpoint(tmp_path / "c.pt")["step"] == 10
    m3, o3 = _setup(seed=3)
    h3 = _run(m3, o3, tmp_path / "c.pt", 16, checkpoint_every=5)
    _assert_same_weights(m1, m3)
    assert h3.steps == list(range(16))


def test_resume_false_starts_from_scratch(tmp_path):
    m1, o1 = _setup()
    _run(m1, o1, tmp_path / "r.pt", 4)
    m2, o2 = _setup()
    _run(m2, o2, None, 2)
    m3, o3 = _setup()
    h3 = _run(m3, o3, tmp_path / "r.pt", 2, resume=False)
    assert h3.steps == [0, 1] and load_checkpoint(tmp_path / "r.pt")["step"] == 2
    _assert_same_weights(m2, m3)


def test_nan_loss_names_loss_step_and_checkpoint(tmp_path):
    model, _ = _setup()
    calls = []

    def step(batch):
        calls.append(1)
        return {"recon": torch.tensor(1.0), "kl": math.nan if len(calls) == 8 else 0.5}

    with pytest.raises(NonFiniteLossError) as err:
        train(step, X[:64], steps=20, batch_size=16, state={"m": model}, checkpoint=tmp_path / "c.pt",
              checkpoint_every=5, progress=False)
    msg = str(err.value)
    assert "'kl'" in msg and "nan" in msg and "step 7" in msg and str(tmp_path / "c.pt") in msg
    assert "learning rate" in msg
    assert len(calls) == 8  # stopped at once
    saved = load_checkpoint(tmp_path / "c.pt")
    assert saved["step"] == 5 and all(math.isfinite(v) for v in saved["history"]["values"]["kl"])


def test_inf_loss_without_checkpoint():
    def step(batch):
        return {"loss": torch.tensor(float("inf"))}

    with pytest.raises(NonFiniteLossError, match="'loss' became inf at step 0") as err:
        train(step, X[:8], steps=3, batch_size=4, state={}, progress=False)
    assert "checkpoint" not in str(err.value)
    assert isinstance(err.value, FloatingPointError)


def test_nan_before_first_checkpoint_names_none(tmp_path):
    def step(batch):
        return {"loss": math.nan}

    with pytest.raises(NonFiniteLossError) as err:
        train(step, X[:8], steps=3, batch_size=4, state={}, checkpoint=tmp_path / "c.pt", progress=False)
    assert "last good checkpoint" not in str(err.value) and not (tmp_path / "c.pt").exists()


def test_resume_from_corrupt_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "c.pt").write_bytes(b"garbage")
    model, opt = _setup()
    with pytest.raises(CheckpointError, match="corrupt.*Delete it"):
        _run(model, opt, tmp_path / "c.pt", 2)


def test_resume_from_another_models_checkpoint(tmp_path):
    other = ConvAutoencoder(latent_dim=3, width=4)
    other_opt = torch.optim.Adam(other.parameters())
    _run(other, other_opt, tmp_path / "c.pt", 1)
    model, opt = _setup()
    with pytest.raises(CheckpointError, match="different model"):
        _run(model, opt, tmp_path / "c.pt", 2)


def test_resume_from_checkpoint_without_entry(tmp_path):
    save_checkpoint(tmp_path / "c.pt", {"state": {}, "rng": {}, "history": {}, "step": 0})
    model, opt = _setup()
    with pytest.raises(CheckpointError, match="no entry 'model'"):
        _run(model, opt, tmp_path / "c.pt", 2)


def test_mismatched_data_lengths():
    with pytest.raises(ValueError, match="same first dimension"):
        train(lambda b: {"l": 0.0}, (torch.zeros(4, 1), torch.zeros(5)), steps=1, batch_size=2, state={},
              progress=False)


def test_batches_follow_batch_indices_and_tuples_pass_through():
    from genviz_utils.data import batch_indices

    x, y = torch.arange(12.0), torch.arange(12)
    seen = []

    def step(batch):
        bx, by = batch
        assert torch.equal(bx.long(), by)
        seen.append(by)
        return {"loss": 0.0}

    train(step, (x, y), steps=5, batch_size=4, state={}, seed=2, progress=False)
    assert all(torch.equal(b, batch_indices(12, 4, s, 2)) for s, b in enumerate(seen))


def test_log_every_keeps_the_last_step():
    h = train(lambda b: {"loss": 1.0, "aux": torch.tensor(2.0)}, X[:8], steps=25, batch_size=4, state={},
              log_every=10, progress=False)
    assert h.steps == [0, 10, 20, 24] and h["aux"] == [2.0] * 4 and h.seconds >= 0


def test_history_helpers():
    h = History()
    for s, v in enumerate([4.0, 2.0, 1.0]):
        h.log(s, {"loss": v})
    assert h.last("loss") == 1.0 and h.last("loss", 2) == 1.5 and h["loss"] == [4.0, 2.0, 1.0]
    h2 = History.from_state(h.state_dict())
    assert h2.steps == h.steps and h2.values == h.values and h2.values is not h.values
    with pytest.raises(KeyError):
        h["missing"]


def test_minimize_step_takes_one_optimizer_step():
    from genviz_utils.training import minimize_step

    w = torch.nn.Parameter(torch.tensor([3.0]))
    step = minimize_step(lambda x: {"loss": ((w - x) ** 2).sum(), "extra": w.detach()},
                         torch.optim.SGD([w], lr=0.25))
    losses = step((torch.tensor([1.0]),))
    assert set(losses) == {"loss", "extra"} and float(losses["loss"].detach()) == 4.0
    assert torch.allclose(w.detach(), torch.tensor([2.0]))   # 3 - 0.25 * 2 * (3 - 1)


def test_precision_sets_autocast_and_keeps_fp32_state():
    from genviz_utils.training import autocast, native_bf16

    seen = {}

    def probe(precision):
        model, opt = _setup()

        def step(batch):
            seen[precision] = torch.is_autocast_enabled("cpu")
            loss = ((model(batch[0]) - batch[0]) ** 2).mean()
            seen[precision + "_conv"] = model.encoder.net[0](batch[0]).dtype
            opt.zero_grad()
            loss.backward()
            opt.step()
            return {"loss": loss}
        train(step, X, steps=2, batch_size=32, state={"model": model}, progress=False, precision=precision)
        assert all(p.dtype == torch.float32 for p in model.parameters())    # weights stay fp32

    for precision in ("fp32", "bf16", "auto"):
        probe(precision)
    assert seen["fp32"] is False and seen["fp32_conv"] == torch.float32
    assert seen["bf16"] is True and seen["bf16_conv"] == torch.bfloat16
    assert seen["auto"] is native_bf16(torch.device("cpu"))
    with pytest.raises(ValueError, match="precision must be one of auto, bf16, fp32"):
        autocast(torch.device("cpu"), "fp16")
    with pytest.raises(ValueError, match="precision must be one of"):   # checked before any step runs
        train(lambda b: {"loss": 0.0}, X, steps=1, batch_size=32, state={}, progress=False, precision="half")


def test_mixed_precision_resumes_exactly(tmp_path):
    m1, o1 = _setup()
    _run(m1, o1, tmp_path / "a.pt", 12, precision="bf16")
    m2, o2 = _setup()
    _run(m2, o2, tmp_path / "b.pt", 6, precision="bf16")
    m3, o3 = _setup(seed=3)
    _run(m3, o3, tmp_path / "b.pt", 12, precision="bf16")
    _assert_same_weights(m1, m3)


def test_precision_env_var_replaces_auto_only(monkeypatch):
    from genviz_utils.training import autocast

    cpu = torch.device("cpu")
    monkeypatch.setenv("GENVIZ_PRECISION", "fp32")
    assert isinstance(autocast(cpu), contextlib.nullcontext)
    assert isinstance(autocast(cpu, "bf16"), torch.autocast)          # an explicit choice wins
    monkeypatch.setenv("GENVIZ_PRECISION", " BF16 ")
    assert isinstance(autocast(cpu), torch.autocast)
    monkeypatch.setenv("GENVIZ_PRECISION", "half")
    with pytest.raises(ValueError, match="GENVIZ_PRECISION must be one of auto, bf16, fp32"):
        autocast(cpu)


def test_milestone_steps():
    assert milestone_steps(480) == (0, 15, 30, 60, 120, 240, 480)
    assert milestone_steps(3) == (0, 1, 2, 3)
    with pytest.raises(ValueError):
        milestone_steps(0)


def test_milestones_hold_the_weights_of_a_shorter_run(tmp_path):
    m1, o1 = _setup()
    _run(m1, o1, tmp_path / "a.pt", 20, milestones=(0, 5, 12, 20))
    kept = milestones(tmp_path / "a.pt")
    assert [k.step for k in kept] == [0, 5, 12, 20]
    assert kept[0].seconds == 0 and all(a.seconds <= b.seconds for a, b in itertools.pairwise(kept))
    assert all(k.path.parent == milestone_dir(tmp_path / "a.pt") for k in kept)
    _assert_same_weights(m1, load_model(kept[-1].path))
    m2, o2 = _setup()
    _run(m2, o2, tmp_path / "b.pt", 12)
    _assert_same_weights(m2, load_model(kept[2].path))
    m0, _ = _setup()
    _assert_same_weights(m0, load_model(kept[0].path))


def test_milestones_across_resumed_segments(tmp_path):
    m1, o1 = _setup()
    _run(m1, o1, tmp_path / "a.pt", 20, milestones=(0, 8, 16))
    m2, o2 = _setup()
    for stop in (6, 13, 20):   # segments, as chapter 4 trains; counts past `stop` wait for a later segment
        _run(m2, o2, tmp_path / "b.pt", stop, milestones=(0, 8, 16))
    a, b = milestones(tmp_path / "a.pt"), milestones(tmp_path / "b.pt")
    assert [k.step for k in b] == [0, 8, 16]
    for ka, kb in zip(a, b, strict=True):
        _assert_same_weights(load_model(ka.path), load_model(kb.path))


def test_a_run_from_scratch_drops_an_earlier_runs_milestones(tmp_path):
    m1, o1 = _setup()
    _run(m1, o1, tmp_path / "a.pt", 10, milestones=(0, 5, 10))
    (tmp_path / "a.pt").unlink()                      # the reader deletes the checkpoint to train again
    m2, o2 = _setup()
    _run(m2, o2, tmp_path / "a.pt", 6, milestones=(0, 3, 6))
    assert [k.step for k in milestones(tmp_path / "a.pt")] == [0, 3, 6]


def test_milestones_belong_to_their_checkpoints_run(tmp_path):
    import shutil

    for name in ("a", "b"):
        m, o = _setup()
        _run(m, o, tmp_path / name / "x.pt", 10, milestones=(0, 5, 10))
    assert [k.step for k in milestones(tmp_path / "a" / "x.pt")] == [0, 5, 10]
    shutil.copy(tmp_path / "b" / "x.pt", tmp_path / "a" / "x.pt")   # another run's checkpoint over this run's files
    assert milestones(tmp_path / "a" / "x.pt") == []                 # its milestones are not these
    m, o = _setup()
    _run(m, o, tmp_path / "c.pt", 4, milestones=(0, 4))
    _run(m, o, tmp_path / "c.pt", 8, milestones=(0, 4, 8))          # a resumed run keeps its id
    assert [k.step for k in milestones(tmp_path / "c.pt")] == [0, 4, 8]


def test_milestones_need_a_checkpoint():
    m, o = _setup()
    with pytest.raises(ValueError, match="checkpoint"):
        _run(m, o, None, 4, milestones=(0, 4))
    assert milestones("/nonexistent/x.pt") == []
