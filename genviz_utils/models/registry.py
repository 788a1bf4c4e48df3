"""One way to rebuild any course model from its checkpoint (nanoGPT's ``model_args``, for every model).

Every course model keeps its constructor arguments in ``model.config`` (a dict of numbers, strings and booleans).
:func:`genviz_utils.training.train` writes, for each module in its ``state`` that has a ``config``, the class name and
the config into the checkpoint, at every save::

    ckpt["configs"] = {"model": {"class": "VQVAE", "args": {"num_codes": 64, ...}}, ...}

:func:`load_model` reads them back: it looks the class up in :data:`MODELS`, builds it with those arguments, loads the
weights and returns it in eval mode. A checkpoint without a config for that name, with a class that is not a course
model, or with weights that do not fit the class raises a :class:`~genviz_utils.checkpoint.CheckpointError` that
names the file and the fix; nothing is guessed from the weights' shapes.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..checkpoint import CheckpointError, load_checkpoint
from ..features import FMNISTClassifier
from .ae import ConvAutoencoder
from .diffusion import Denoiser, KLAutoencoder, MLPDenoiser
from .gan import Discriminator, Generator
from .vae import ConvVAE
from .vq import VQVAE, TokenPrior
from .vqgan import VQGAN

MODELS: dict[str, type[nn.Module]] = {cls.__name__: cls for cls in (
    ConvAutoencoder, ConvVAE, VQVAE, TokenPrior, Generator, Discriminator, VQGAN, FMNISTClassifier,
    KLAutoencoder, Denoiser, MLPDenoiser)}


def load_model(path: str | Path, name: str = "model", device: torch.device | str = "cpu", *,
               expect: type[nn.Module] | tuple[type[nn.Module], ...] | None = None,
               fix: str | None = None) -> nn.Module:
    """Rebuild the module saved as ``state[name]`` by :func:`~genviz_utils.training.train` at ``path``, in eval mode.

    E.g. ``load_model(ckpt / "vqvae.pt")``, ``load_model(ckpt / "gan.pt", "G")``. ``expect`` (a class or a tuple of
    classes) refuses a checkpoint of any other model. ``fix`` replaces the default advice in the error messages
    (say, "delete <path> and rerun chapter 3").
    """
    path = Path(path)
    fix = fix or f"delete {path} and rerun the chapter (or the code) that trains it"
    ckpt = load_checkpoint(path, map_location=device)
    entry = ckpt.get("configs", {}).get(name)
    if entry is None:
        raise CheckpointError(f"{path} has no model config for {name!r}: it was written by an older version of the "
                              f"course (or not by genviz_utils.training.train). To rebuild it, {fix}.")
    cls = MODELS.get(entry.get("class"))
    if cls is None:
        raise CheckpointError(f"{path} holds a {entry.get('class')!r} as {name!r}, which is not a course model "
                              f"(known: {', '.join(MODELS)}); rebuild it by hand, or {fix}.")
    if expect is not None and not issubclass(cls, expect):
        wanted = " or ".join(c.__name__ for c in (expect if isinstance(expect, tuple) else (expect,)))
        raise CheckpointError(f"{path} holds a {cls.__name__} as {name!r}, not a {wanted}; {fix}.")
    if name not in ckpt.get("state", {}):
        raise CheckpointError(f"{path} has a config but no weights for {name!r}; {fix}.")
    args = entry.get("args", {})
    weights = ckpt["state"][name]
    if entry.get("averaged"):     # an AveragedModel's state: the model's weights under "module.", and a counter
        weights = {k.removeprefix("module."): v for k, v in weights.items() if k.startswith("module.")}
    try:
        model = cls(**args)
        model.load_state_dict(weights)
    except (TypeError, ValueError, RuntimeError) as exc:   # arguments the class no longer takes, weights that differ
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path}: {name!r} does not rebuild as {cls.__name__}({args}) ({first}); "
                              f"{fix}.") from None
    return model.to(device).eval()
