"""The one training loop of the course.

Every chapter writes a ``step(batch) -> dict of losses`` function that does its own forward,
backward and optimizer update; :func:`train` runs it with a progress bar, stops with a clear message
when a loss turns NaN/inf, writes checkpoints atomically and resumes exactly where it stopped.

Exact resume: batches depend only on ``(seed, step)`` (see :func:`genviz_utils.data.batch_indices`)
and the checkpoint stores the torch RNG state, so ``train(steps=200)`` gives the same weights as
``train(steps=100)`` followed by ``train(steps=200)`` on the same checkpoint.

Milestones: ``train(..., milestones=milestone_steps(steps))`` also keeps a copy of the modules' weights at those step
counts (0: before the first step), each in its own file of ``milestone_dir(checkpoint)`` with the step and the
training seconds it took to get there; :func:`milestones` lists them. Chapter 7 scores the models along their
training from them (quality against CPU seconds). By exact resume, the milestone at step s holds the weights that
``train(steps=s)`` would end with.

Rebuilding: every checkpoint also stores, under ``"configs"``, the class name and ``config`` (constructor arguments) of
each module in ``state`` that has one (every course model does), so that
:func:`genviz_utils.models.registry.load_model` rebuilds the model from the file alone.

Mixed precision: with ``precision="auto"`` (the default) the step runs under ``torch.autocast`` in bfloat16 where
the hardware multiplies bfloat16 natively (x86 CPUs with AVX512-BF16 or AMX, NVIDIA GPUs from Ampere on), and in
plain float32 everywhere else. Convolutions and matrix products then take bfloat16 inputs, while weights and optimizer
state stay float32; ``make bench`` measures the gain.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from .checkpoint import CheckpointError, load_checkpoint, load_state, save_checkpoint
from .data import batch_indices
from .runtime import keep_freed_memory

Stateful = torch.nn.Module | torch.optim.Optimizer


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite."""


@dataclass
class History:
    """Logged losses. ``steps[i]`` is the step at which each ``values[k][i]`` was measured."""

    steps: list[int] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    def log(self, step: int, losses: Mapping[str, float]) -> None:
        self.steps.append(step)
        for k, v in losses.items():
            self.values.setdefault(k, []).append(float(v))

    def __getitem__(self, key: str) -> list[float]:
        return self.values[key]

    def last(self, key: str, n: int = 1) -> float:
        """Mean of the last ``n`` logged values of ``key``."""
        vals = self.values[key][-n:]
        return sum(vals) / len(vals)

    def state_dict(self) -> dict:
        return {"steps": self.steps, "values": self.values, "seconds": self.seconds}

    @classmethod
    def from_state(cls, d: dict) -> History:
        return cls(list(d["steps"]), {k: list(v) for k, v in d["values"].items()}, float(d["seconds"]))


@dataclass(frozen=True)
class Milestone:
    """A copy of the modules' weights kept by :func:`train` after ``step`` steps and ``seconds`` of training."""

    step: int
    seconds: float
    path: Path


def milestone_dir(checkpoint: str | Path) -> Path:
    """The folder of the milestones of ``checkpoint``: ``<folder>/<stem>_milestones`` (``gan.pt`` ->
    ``gan_milestones``)."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(f"{checkpoint.stem}_milestones")


def milestone_steps(steps: int, n: int = 6) -> tuple[int, ...]:
    """0 and ``steps`` halved ``n - 1`` times: ``milestone_steps(480) == (0, 15, 30, 60, 120, 240, 480)``. Halvings
    put most points early, where quality changes fastest; duplicates (few steps) are dropped."""
    if steps < 1 or n < 1:
        raise ValueError(f"steps and n must be positive, got {steps} and {n}.")
    return tuple(sorted({0} | {max(1, round(steps / 2 ** k)) for k in range(n)}))


def milestones(checkpoint: str | Path) -> list[Milestone]:
    """The milestones :func:`train` kept for ``checkpoint``, by step; an empty list when it kept none.

    Each run from scratch draws a ``run`` id that its checkpoint and its milestones carry; only the milestones of the
    checkpoint's own run are listed (a checkpoint copied over another run's files, say, has none of them); while the
    checkpoint does not exist yet (a run before its first save), every milestone in the folder is listed."""
    checkpoint = Path(checkpoint)
    run = load_checkpoint(checkpoint).get("run") if checkpoint.exists() else None
    found = []
    for path in sorted(milestone_dir(checkpoint).glob("step*.pt")):
        saved = load_checkpoint(path)
        if saved.get("run") == run or not checkpoint.exists():
            found.append(Milestone(int(saved["step"]), float(saved["seconds"]), path))
    return sorted(found, key=lambda m: m.step)


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def model_configs(state: Mapping[str, Stateful]) -> dict[str, dict]:
    """``{name: {"class": class name, "args": config}}`` for every module in ``state`` that has a ``config``.

    A :class:`torch.optim.swa_utils.AveragedModel` (a moving average of a model's weights) is described by the
    model it averages, with ``"averaged": True``: :func:`~genviz_utils.models.registry.load_model` rebuilds the
    averaged weights as that model."""
    configs = {}
    for name, obj in state.items():
        inner = obj.module if isinstance(obj, AveragedModel) else obj
        if isinstance(inner, torch.nn.Module) and isinstance(getattr(inner, "config", None), Mapping):
            configs[name] = {"class": type(inner).__name__, "args": dict(inner.config)}
            if inner is not obj:
                configs[name]["averaged"] = True
    return configs


def _as_floats(losses: Mapping[str, float | torch.Tensor]) -> dict[str, float]:
    return {k: float(v.detach()) if isinstance(v, torch.Tensor) else float(v) for k, v in losses.items()}


def minimize_step(loss_fn: Callable[[torch.Tensor], Mapping[str, torch.Tensor]],
                  opt: torch.optim.Optimizer) -> Callable[[tuple[torch.Tensor, ...]], Mapping[str, torch.Tensor]]:
    """The plainest ``step_fn`` for :func:`train`: ``loss_fn(batch[0])`` returns losses by name, and one optimizer
    step is taken on ``losses["loss"]``. Chapters write their own steps; this serves stand-ins and tests."""
    def step(batch: tuple[torch.Tensor, ...]) -> Mapping[str, torch.Tensor]:
        losses = loss_fn(batch[0])
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        opt.step()
        return losses
    return step


def fast_layout(*modules: torch.nn.Module) -> None:
    """On a CPU, store the modules' 4-D (convolution) weights in channels_last order, in place.

    oneDNN's CPU kernels for convolutions, and above all for transposed convolutions, are faster in that layout
    (``make bench`` measures it). Values, ``state_dict()`` keys and the optimizer's references to the parameters
    are unchanged. On other devices nothing is done: the gain was measured on CPUs only.
    """
    for module in modules:
        p = next(module.parameters(), None)
        if p is not None and p.device.type == "cpu":
            module.to(memory_format=torch.channels_last)


PRECISIONS = ("auto", "bf16", "fp32")
PRECISION_ENV = "GENVIZ_PRECISION"


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 in hardware (so that autocast pays instead of emulating it)."""
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device)[0] >= 8
    if device.type == "cpu":
        try:   # private probes, present since torch 2.1; without them, stay in fp32
            return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
        except AttributeError:
            return False
    return False


def autocast(device: torch.device, precision: str = "auto") -> contextlib.AbstractContextManager:
    """The context :func:`train` runs each step in: bfloat16 autocast for ``"bf16"``, and for ``"auto"`` where
    :func:`native_bf16` holds; otherwise nothing changes (float32). ``$GENVIZ_PRECISION`` (``fp32`` or ``bf16``)
    replaces ``"auto"``, e.g. to train everything in float32 on a machine where bfloat16 misbehaves."""
    if precision == "auto":
        precision = os.environ.get(PRECISION_ENV, "auto").strip().lower() or "auto"
        if precision not in PRECISIONS:
            raise ValueError(f"{PRECISION_ENV} must be one of {', '.join(PRECISIONS)}, got {precision!r}.")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}.")
    if precision == "bf16" or (precision == "auto" and native_bf16(device)):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train(
    step_fn: Callable[[tuple[torch.Tensor, ...]], Mapping[str, float | torch.Tensor]],
    data: torch.Tensor | tuple[torch.Tensor, ...],
    *,
    steps: int,
    batch_size: int,
    state: Mapping[str, Stateful],
    seed: int = 0,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 500,
    resume: bool = True,
    log_every: int = 10,
    desc: str = "training",
    progress: bool = True,
    precision: str = "auto",
    milestones: tuple[int, ...] | list[int] = (),
) -> History:
    """Run ``step_fn`` on ``steps`` minibatches and return the loss history.

    Args:
        step_fn: called as ``step_fn(batch)`` where ``batch`` is a tuple of slices of ``data``
            (e.g. ``(x,)`` with x of shape (B, 1, 28, 28)); does forward, backward, update and returns
            floats or 0-d tensors by name (e.g. ``{"loss": ..., "kl": ...}``).
        data: one tensor or a tuple of tensors with the same first dimension, already on the device.
        steps: total number of optimisation steps (a resumed run continues up to this number).
        state: the modules and optimizers to checkpoint, by name.
        checkpoint: file to write every ``checkpoint_every`` steps and at the end; resumed from if it exists. It
            holds the states, the random number generator state, the history, the step, the batch size and the
            modules' configs (see :func:`model_configs`).
        precision: ``"auto"``, ``"bf16"`` or ``"fp32"``: the arithmetic of the step (see :func:`autocast`).
        milestones: step counts (e.g. :func:`milestone_steps`) after which a copy of the modules' weights, their
            configs, the step and the training seconds so far are written to ``milestone_dir(checkpoint)``
            (``step000480.pt``); read them with :func:`milestones`. Needs ``checkpoint``. Counts beyond ``steps`` wait
            for a later call that trains on (as chapter 4 trains in segments). A run that starts from scratch first
            deletes the milestones of an earlier run.

    On a CPU the modules in ``state`` are put into the faster memory layout of :func:`fast_layout` first. Freed
    activation memory is kept for the next step (:func:`genviz_utils.runtime.keep_freed_memory`).
    """
    tensors = data if isinstance(data, tuple) else (data,)
    n = tensors[0].shape[0]
    if any(t.shape[0] != n for t in tensors):
        raise ValueError(f"all data tensors need the same first dimension, got {[tuple(t.shape) for t in tensors]}.")
    amp = autocast(tensors[0].device, precision)   # checked before any work is done
    fast_layout(*(obj for obj in state.values() if isinstance(obj, torch.nn.Module)))
    keep_freed_memory()
    history, start, saved = History(), 0, None
    configs = model_configs(state)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    keep = {int(s) for s in milestones}
    if keep and ckpt is None:
        raise ValueError("milestones are written next to the checkpoint: pass checkpoint= as well.")
    if any(s < 0 for s in keep):
        raise ValueError(f"milestones are step counts, 0 or more, got {sorted(keep)}.")
    if ckpt is not None and resume and ckpt.exists():
        saved = load_checkpoint(ckpt)
        for name, obj in state.items():
            if name not in saved.get("state", {}):
                raise CheckpointError(f"{ckpt} has no entry {name!r}; delete it to train from scratch.")
            if isinstance(obj, torch.nn.Module):
                load_state(obj, saved["state"][name], ckpt)
            else:
                obj.load_state_dict(saved["state"][name])
        _set_rng_state(saved["rng"])
        history, start = History.from_state(saved["history"]), int(saved["step"])
    # the run's id (not from torch's generator: it changes no random number); a resumed run keeps its own
    run = saved.get("run") if saved is not None else uuid.uuid4().hex

    def save(step: int) -> None:
        if ckpt is not None:
            save_checkpoint(ckpt, {
                "state": {k: v.state_dict() for k, v in state.items()},
                "rng": _rng_state(), "history": history.state_dict(), "step": step, "seed": seed,
                "batch_size": batch_size, "examples": n, "configs": configs, "run": run,
            })

    def keep_milestone(step: int, seconds: float) -> None:
        modules = {k: v.state_dict() for k, v in state.items() if isinstance(v, torch.nn.Module)}
        save_checkpoint(milestone_dir(ckpt) / f"step{step:06d}.pt",
                        {"state": modules, "configs": configs, "step": step, "seconds": seconds, "run": run})

    if ckpt is not None and saved is None:   # a run from scratch: an earlier run's milestones are not this run's
        for old in milestone_dir(ckpt).glob("step*.pt"):
            old.unlink()
    if 0 in keep and start == 0:
        keep_milestone(0, 0.0)
    t0 = time.perf_counter() - history.seconds
    bar = tqdm(range(start, steps), desc=desc, initial=start, total=steps, disable=not progress, leave=True)
    step = start
    for step in bar:
        idx = batch_indices(n, batch_size, step, seed, tensors[0].device)
        with amp:
            losses = _as_floats(step_fn(tuple(t[idx] for t in tensors)))
        bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
        if bad:
            bar.close()
            where = f" The last good checkpoint is {ckpt}." if ckpt is not None and ckpt.exists() else ""
            name, value = next(iter(bad.items()))
            raise NonFiniteLossError(
                f"Loss {name!r} became {value} at step {step}. Lower the learning rate, check the inputs are "
                f"in the expected range, or clip gradients.{where}"
            ) from None
        if step % log_every == 0 or step == steps - 1:
            history.log(step, losses)
            bar.set_postfix({k: f"{v:.4g}" for k, v in list(losses.items())[:4]}, refresh=False)
        if step + 1 in keep:
            keep_milestone(step + 1, time.perf_counter() - t0)
        if ckpt is not None and (step + 1) % checkpoint_every == 0:
            history.seconds = time.perf_counter() - t0
            save(step + 1)
    bar.close()
    history.seconds = time.perf_counter() - t0
    if start < steps:
        save(steps)
    elif saved is not None and saved.get("configs") != configs:
        # a finished checkpoint without these configs (written by an older version of the course): its weights fit
        # these modules (they were just loaded into them), so record the modules' configs and change nothing else
        save_checkpoint(ckpt, {**saved, "configs": configs})
    return history
