"""Load the models that chapters 1-6 saved, or train a short stand-in when a chapter's checkpoint is absent.

The comparison chapter (7) must also run on its own (e.g. on Colab). Each loader (:func:`load_ae`, :func:`load_vae`,
:func:`load_vqvae`, :func:`load_gan`, :func:`load_vqgan`, :func:`load_ldm`) looks for the chapter's checkpoint(s) in
``ckpt_dir`` and rebuilds the model with :func:`genviz_utils.models.registry.load_model`, from the config that
:func:`genviz_utils.training.train` stored in the file. Only when the chapter's files are absent does it train the
chapter's reference model for ``steps`` steps with the chapter's recipe, into ``<name>_quick_v3.pt`` (the version
goes up whenever a stand-in's recipe or checkpoint format changes, so an old file is never reused), never into the
chapter's own file, so a later run of that chapter is not disturbed, and says so in ``Loaded.source``.

A chapter checkpoint that is present but cannot be used (written by an older version of the course, without its
config, or for another model) raises a :class:`~genviz_utils.checkpoint.CheckpointError` that names the file and the
fix (delete it and rerun the chapter); it is never silently replaced by a stand-in. So does a chapter that left only
some of its files (the VQ-VAE without its prior). Every loader returns a :class:`Loaded`.

Chapter 5 starts from chapter 3's VQ-VAE: :func:`load_base_vqvae` loads it, or trains one with chapter 3's recipe
when chapter 3 has not run, and :func:`drop_stale` deletes chapter 5's checkpoints that were trained from another
starting point (the marker ``vqgan_base.txt`` it writes is what :func:`load_vqgan` reads the base's seconds from).

Images are (N, 1, 28, 28) in [0, 1]; every ``sample`` function returns images in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .features import PERCEPTUAL_SEED, perceptual_network, perceptual_steps  # noqa: F401  (re-exported)
from .models.ae import ConvAutoencoder
from .models.diffusion import (
    Denoiser,
    KLAutoencoder,
    MLPDenoiser,
    Schedule,
    ddim_sample,
    encode_all,
    train_denoiser,
    train_klae,
)
from .models.gan import DCGAN_BETAS, DCGAN_LR_D, DCGAN_LR_G, Discriminator, Generator, dcgan_optimizers, dcgan_step
from .models.registry import load_model
from .models.vae import VAE_LR, ConvVAE, neg_elbo
from .models.vq import VQVAE, VQVAE_LR, TokenPrior, drop_stale_prior, tokenize_all
from .models.vqgan import VQGAN, generator_objective, vqgan_step
from .runtime import apply_batched
from .training import History, Milestone, milestone_steps, milestones, minimize_step, train

STAND_IN = "quick_v3"    # stand-in files are <name>_quick_v3.pt


@dataclass
class Loaded:
    """A model, where it came from, and how long its training took (``History.seconds`` in its checkpoint)."""

    model: nn.Module
    train_seconds: float
    source: str                       # "chapter N" or "quick stand-in (chapter N not run)"
    # the second stage, a generative model of the codes: the token prior of the VQ-VAE or VQ-GAN, the latent
    # diffusion model's denoiser (its moving average)
    prior: nn.Module | None = None
    path: Path | None = None          # the checkpoint file the model was rebuilt from (VQ models and the LDM)
    # copies of the weights kept along the training (the prior's, for the VQ-VAE and the VQ-GAN; the denoiser's,
    # for the LDM), their seconds
    # counted from the start of the whole model's training; ``milestone_name`` is their entry in the files
    milestones: list[Milestone] = field(default_factory=list)
    milestone_name: str = "model"
    # training images seen by the stages that train on images (steps x batch size; the priors see token maps
    # besides), None when a checkpoint predates the batch size in checkpoints
    images_seen: int | None = None
    base_path: Path | None = None     # the VQ-GAN's: the VQ-VAE checkpoint chapter 5 fine-tuned (its marker's)
    latent_scale: float | None = None  # the latent diffusion model's: latents are multiplied by it for the denoiser


def checkpoint_seconds(path: Path) -> float:
    return float(load_checkpoint(path).get("history", {}).get("seconds", math.nan))


def checkpoint_images(*paths: Path) -> int | None:
    """Training images seen by the runs that wrote ``paths``: the sum of step x batch size (None if a file lacks
    the batch size, i.e. was written by an older version of the course)."""
    total = 0
    for path in paths:
        saved = load_checkpoint(path)
        if saved.get("batch_size") is None:
            return None
        total += int(saved["step"]) * int(saved["batch_size"])
    return total


def _milestones_after(path: Path, offset: float = 0.0) -> list[Milestone]:
    """The milestones of ``path`` with ``offset`` seconds (an earlier stage's training) added to theirs."""
    return [replace(m, seconds=offset + m.seconds) for m in milestones(path)]


def _chapter_ran(chapter: int, *paths: Path) -> bool:
    """Whether chapter ``chapter`` left its checkpoint files ``paths``: True if all are there, False if none is; an
    error if only some are (a stand-in would silently stand for a chapter that did run)."""
    present = [p.exists() for p in paths]
    if all(present) or not any(present):
        return all(present)
    missing = ", ".join(p.name for p, ok in zip(paths, present, strict=True) if not ok)
    there = ", ".join(str(p) for p, ok in zip(paths, present, strict=True) if ok)
    raise CheckpointError(f"chapter {chapter} left {there} but not {missing}: rerun chapter {chapter} to the end, or "
                          f"delete {there} so that a short stand-in is trained instead.")


def _from_chapter(chapter: int, path: Path, expect: type[nn.Module] | tuple[type[nn.Module], ...],
                  device: torch.device | str,
                  name: str = "model") -> nn.Module:
    """Chapter ``chapter``'s model ``name`` rebuilt from ``path``, or a CheckpointError that says what to do."""
    fix = (f"delete {path} and rerun chapter {chapter} (or only delete it: this chapter then trains a short "
           "stand-in)")
    return load_model(path, name, device, expect=expect, fix=fix)


def _stand_in(ckpt_dir: Path, name: str) -> Path:
    return ckpt_dir / f"{name}_{STAND_IN}.pt"


def _quick_train(model: nn.Module, model_loss, data: torch.Tensor, steps: int, path: Path, desc: str,
                 lr: float = 2e-3) -> None:
    """Adam (``lr``, batch 128) on ``model_loss(x) -> {"loss": ...}`` for ``steps`` steps, checkpointed at ``path``.
    A stand-in written with another ``lr`` is deleted first (:func:`drop_stale`): it is another model."""
    drop_stale(path.parent, f"{path.stem}_recipe.txt", f"Adam {lr!r}", (path.stem,))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    train(minimize_step(model_loss, opt), data, steps=steps, batch_size=128, state={"model": model, "opt": opt},
          checkpoint=path, desc=desc, milestones=milestone_steps(steps))


def _quick_prior(tokens: torch.Tensor, num_codes: int, steps: int, path: Path, desc: str) -> None:
    """Chapter 3's token prior (AdamW lr 3e-3, batch 32) on ``tokens`` (N, H, W), checkpointed at ``path``.
    In float32: this small transformer trains slower in bfloat16 on a CPU (``precision`` of :func:`train`)."""
    prior = TokenPrior(num_codes).to(tokens.device)
    popt = torch.optim.AdamW(prior.parameters(), lr=3e-3, weight_decay=0.01)
    train(minimize_step(lambda t: {"loss": prior.nll(t)}, popt), tokens, steps=steps, batch_size=32,
          state={"model": prior, "opt": popt}, checkpoint=path, desc=desc, precision="fp32",
          milestones=milestone_steps(steps))


def _train_chapter3_vqvae(x_train: torch.Tensor, steps: int, batch_size: int, path: Path, desc: str,
                          device: torch.device | str, *, lr: float = VQVAE_LR, progress: bool = True, seed: int = 0,
                          **config: int | float | bool | str) -> VQVAE:
    """Chapter 3's VQ-VAE recipe, checkpointed at ``path``: ``seed`` (chapter 3's 0; others for ``tools/tune.py``)
    for the initial weights and the training's random draws, ``VQVAE(**config)`` (EMA codes, dead-code
    restarts), squared error + VQ terms, Adam at ``lr`` (chapter 3's ``MAIN_LR``), ``steps`` steps of ``batch_size``
    images (N, 1, 28, 28)."""
    torch.manual_seed(seed)
    model = VQVAE(**config).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def vq_loss(x):
        x_hat, _, stats = model(x)
        recon = F.mse_loss(x_hat, x)
        return {"loss": recon + stats["loss"], "recon": recon.detach(), "usage": stats["usage"]}

    train(minimize_step(vq_loss, opt), x_train, steps=steps, batch_size=batch_size, state={"model": model, "opt": opt},
          checkpoint=path, desc=desc, progress=progress)
    return model


def train_chapter3_prior(tokens: torch.Tensor, num_codes: int, steps: int, batch_size: int, lr: float, path: Path,
                         desc: str, *, n_layer: int = 2, n_embd: int = 64,
                         progress: bool = True, seed: int = 0) -> tuple[TokenPrior, History]:
    """Chapter 3's prior recipe on ``tokens`` (N, 7, 7), checkpointed at ``path`` with its milestones: seed 0,
    ``TokenPrior(num_codes)`` (2 layers, width 64, 4 heads), AdamW (weight decay 0.01) with a one-cycle schedule
    peaking at ``lr`` (10 % warm-up), ``steps`` steps of ``batch_size`` maps, in float32. Chapter 5 trains both its
    priors with it, chapter 7 the continued VQ-VAE's; ``tools/tune.py`` varies ``n_layer`` and ``n_embd``. Returns the
    prior (eval mode) and its loss history. ``seed``: as for :func:`_train_chapter3_vqvae`.

    A checkpoint at ``path`` trained with another budget (:func:`chapter3_prior_recipe`; an earlier version's, say)
    is deleted first: its one-cycle schedule was planned for its own number of steps and cannot be resumed to these.
    """
    wanted = {"maps": len(tokens), "steps": steps, "batch": batch_size, "lr": float(lr)}
    if path.exists() and chapter3_prior_recipe(path) != wanted:
        path.unlink()
    torch.manual_seed(seed)
    prior = TokenPrior(num_codes, grid=(7, 7), n_layer=n_layer, n_embd=n_embd, n_head=4).to(tokens.device)
    opt = torch.optim.AdamW(prior.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)

    def step(batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        nll = prior.nll(batch[0])
        opt.zero_grad(set_to_none=True)
        nll.backward()
        opt.step()
        sched.step()
        return {"bits_per_token": nll / math.log(2)}

    history = train(step, tokens, steps=steps, batch_size=batch_size,
                    state={"model": prior, "opt": opt, "sched": sched}, checkpoint=path, desc=desc,
                    precision="fp32", milestones=milestone_steps(steps), progress=progress)   # fp32: see make bench
    return prior.eval(), history


def chapter3_prior_recipe(path: Path) -> dict[str, int | float] | None:
    """The budget a prior of :func:`train_chapter3_prior` (or of chapter 3's cell) is trained with, read from its
    checkpoint ``path``: ``{"maps", "steps", "batch", "lr"}`` (token maps learnt from, the steps its one-cycle
    schedule plans, maps per step, the schedule's peak rate), the arguments that train another prior the same way;
    a run stopped half-way gives its whole budget. None when ``path`` is missing or predates these entries."""
    if not path.exists():
        return None
    saved = load_checkpoint(path)
    state = saved.get("state", {})
    groups = state.get("opt", {}).get("param_groups", [{}])
    total = state.get("sched", {}).get("total_steps")
    if saved.get("examples") is None or saved.get("batch_size") is None or "max_lr" not in groups[0] or total is None:
        return None
    return {"maps": int(saved["examples"]), "steps": int(total), "batch": int(saved["batch_size"]),
            "lr": float(groups[0]["max_lr"])}


def continue_vqvae(ckpt_dir: Path, base: Path, x_train: torch.Tensor, extra_images: int, *, prior_maps: int,
                   prior_steps: int, prior_batch: int, prior_lr: float, device: torch.device | str) -> Loaded:
    """The VQ-VAE of ``base`` (a checkpoint of chapter 3's recipe, :func:`_train_chapter3_vqvae`) trained on with the
    same recipe, config and batch size for ``extra_images`` more images (rounded to whole steps), into
    ``vqvae_continued.pt``; then :func:`train_chapter3_prior` on the tokens of the first ``prior_maps`` training
    images, into ``vqvae_continued_prior.pt``. Both are reused when they fit; the continuation starts again from
    ``base`` when ``base`` was written after it or it holds another number of steps, and the prior is trained afresh
    whenever the continuation is newer (:func:`~genviz_utils.models.vq.drop_stale_prior`). The batches continue
    ``base``'s run exactly when ``x_train`` holds the images ``base`` was trained on. ``train_seconds`` adds the
    base's seconds (in the history the continuation resumed), the continuation's and the prior's; ``source`` says
    how many steps were added."""
    saved = load_checkpoint(base)
    if saved.get("batch_size") is None:
        raise CheckpointError(f"{base} predates batch sizes in checkpoints: delete it and rerun its chapter.")
    batch, done = int(saved["batch_size"]), int(saved["step"])
    target = done + max(1, round(extra_images / batch))
    path, prior_path = ckpt_dir / "vqvae_continued.pt", ckpt_dir / "vqvae_continued_prior.pt"
    if path.exists() and (path.stat().st_mtime_ns < base.stat().st_mtime_ns   # a retrained base
                          or int(load_checkpoint(path)["step"]) != target):   # another budget
        path.unlink()
    if not path.exists():
        save_checkpoint(path, saved)           # resume from the base: same weights, optimizer, RNG, history
    cfg = load_model(base, device=device).config
    model = _train_chapter3_vqvae(x_train, target, batch, path, "VQ-VAE, continued", device, **cfg)
    drop_stale_prior(prior_path, path)
    tokens = tokenize_all(model.eval(), x_train[:prior_maps])
    prior, _ = train_chapter3_prior(tokens, cfg["num_codes"], prior_steps, prior_batch, prior_lr, prior_path,
                                    "prior (VQ-VAE, continued)")
    seconds = checkpoint_seconds(path)
    return Loaded(load_model(path, device=device), seconds + checkpoint_seconds(prior_path),
                  f"{base.name} + {int(load_checkpoint(path)['step']) - done} steps", prior=prior,
                  milestones=_milestones_after(prior_path, seconds), images_seen=checkpoint_images(path), path=path)


def _chapter_or_quick(chapter: int, ckpt_dir: Path, name: str, cls: type[nn.Module], args: tuple,
                      model_loss: Callable[[nn.Module], Callable], data: torch.Tensor, steps: int,
                      device: torch.device | str, lr: float = 2e-3) -> Loaded:
    """Chapter ``chapter``'s ``<name>.pt`` if it ran; otherwise ``cls(*args)`` (seed 0) trained by
    :func:`_quick_train` (Adam at ``lr``) for ``steps`` steps on ``model_loss(model)`` into its stand-in file."""
    path = ckpt_dir / f"{name}.pt"
    if _chapter_ran(chapter, path):
        return Loaded(_from_chapter(chapter, path, cls, device), checkpoint_seconds(path), f"chapter {chapter}",
                      milestones=milestones(path), images_seen=checkpoint_images(path))
    path = _stand_in(ckpt_dir, name)
    torch.manual_seed(0)
    model = cls(*args).to(device)
    _quick_train(model, model_loss(model), data, steps, path, f"{name.upper()} (stand-in)", lr)
    return Loaded(load_model(path, device=device), checkpoint_seconds(path),
                  f"quick stand-in (chapter {chapter} not run)", milestones=milestones(path),
                  images_seen=checkpoint_images(path))


def load_ae(ckpt_dir: Path, x_train: torch.Tensor, steps: int, device: torch.device | str) -> Loaded:
    """Chapter 1's 2-D ConvAutoencoder (``ae.pt``), trained on grey images with the summed squared error."""
    def squared_error(model: nn.Module) -> Callable:
        return lambda x: {"loss": ((model(x) - x) ** 2).flatten(1).sum(1).mean()}
    return _chapter_or_quick(1, ckpt_dir, "ae", ConvAutoencoder, (2,), squared_error, x_train, steps, device)


def load_vae(ckpt_dir: Path, x_train_binary: torch.Tensor, steps: int, device: torch.device | str) -> Loaded:
    """Chapter 2's ConvVAE (``vae.pt``, 16-D latent, Bernoulli decoder on binarised images)."""
    def elbo(model: nn.Module) -> Callable:
        return lambda x: {"loss": neg_elbo(model, x)[0].mean()}
    return _chapter_or_quick(2, ckpt_dir, "vae", ConvVAE, (16,), elbo, x_train_binary, steps, device, VAE_LR)


def load_vqvae(ckpt_dir: Path, x_train: torch.Tensor, steps: int, prior_steps: int,
               device: torch.device | str) -> Loaded:
    """Chapter 3's VQ-VAE (``vqvae.pt``) and its token prior (``vqvae_prior.pt``) in ``prior``.
    ``train_seconds`` is the sum of both trainings."""
    path, prior_path = ckpt_dir / "vqvae.pt", ckpt_dir / "vqvae_prior.pt"
    if _chapter_ran(3, path, prior_path):
        model, prior = _from_chapter(3, path, VQVAE, device), _from_chapter(3, prior_path, TokenPrior, device)
        return Loaded(model, checkpoint_seconds(path) + checkpoint_seconds(prior_path), "chapter 3", prior=prior,
                      milestones=_milestones_after(prior_path, checkpoint_seconds(path)),
                      images_seen=checkpoint_images(path), path=path)
    path, prior_path = _stand_in(ckpt_dir, "vqvae"), _stand_in(ckpt_dir, "vqvae_prior")
    drop_stale(ckpt_dir, f"{path.stem}_recipe.txt", f"Adam {VQVAE_LR!r}", (path.stem,))   # another rate: another model
    model = _train_chapter3_vqvae(x_train, steps, 128, path, "VQ-VAE (stand-in)", device, num_codes=64, code_dim=16)
    _quick_prior(tokenize_all(model.eval(), x_train), 64, prior_steps, prior_path, "token prior (stand-in)")
    return Loaded(load_model(path, device=device), checkpoint_seconds(path) + checkpoint_seconds(prior_path),
                  "quick stand-in (chapter 3 not run)", prior=load_model(prior_path, device=device),
                  milestones=_milestones_after(prior_path, checkpoint_seconds(path)),
                  images_seen=checkpoint_images(path), path=path)


def load_gan(ckpt_dir: Path, x_train: torch.Tensor, steps: int, device: torch.device | str) -> Loaded:
    """Chapter 4's DCGAN generator (``gan.pt``, state ``"G"``), trained on images scaled to [-1, 1]. The stand-in
    uses chapter 4's recipe (G and D of width 32, BatchNorm in D, :func:`dcgan_optimizers`, batch 64)."""
    path = ckpt_dir / "gan.pt"
    if _chapter_ran(4, path):
        return Loaded(_from_chapter(4, path, Generator, device, name="G"), checkpoint_seconds(path), "chapter 4",
                      milestones=milestones(path), milestone_name="G", images_seen=checkpoint_images(path))
    # chapter 4's discriminator (BatchNorm after its second convolution, ``norm=True``); without it the stand-in
    # collapsed (recall 0 at every temperature after 600 steps in the book profile)
    path = _stand_in(ckpt_dir, "gan")
    drop_stale(ckpt_dir, f"gan_{STAND_IN}_recipe.txt", f"Adam: G {DCGAN_LR_G}, D {DCGAN_LR_D}, betas {DCGAN_BETAS}",
               (path.stem,))   # a stand-in of an earlier recipe is another model
    torch.manual_seed(0)
    G, D = Generator(64, width=32).to(device), Discriminator(width=32, norm=True).to(device)
    opt_g, opt_d = dcgan_optimizers(G, D)
    state = {"G": G, "D": D, "opt_g": opt_g, "opt_d": opt_d}
    train(lambda batch: dcgan_step(G, D, opt_g, opt_d, batch[0]), x_train, steps=steps, batch_size=64,
          state=state, checkpoint=path, desc="GAN (stand-in)", milestones=milestone_steps(steps))
    return Loaded(load_model(path, "G", device), checkpoint_seconds(path), "quick stand-in (chapter 4 not run)",
                  milestones=milestones(path), milestone_name="G", images_seen=checkpoint_images(path))


def load_vqgan(ckpt_dir: Path, x_train: torch.Tensor, vqvae: VQVAE, steps: int, prior_steps: int,
               device: torch.device | str, *, perceptual_net: nn.Module | None = None,
               vqvae_path: Path | None = None) -> Loaded:
    """Chapter 5's VQ-GAN (``vqgan.pt``) and its token prior (``vqgan_prior.pt``) in ``prior``.

    ``train_seconds`` adds the VQ-VAE it started from (recorded by chapter 5 in ``vqgan_base.txt``), the
    adversarial fine-tuning and the prior. The stand-in starts from ``vqvae`` and fine-tunes it for ``steps`` steps
    with the reference objective (L1 + perceptual distance + adaptive-weight hinge GAN term, the critic switched on
    after a third of the steps), then trains a prior for ``prior_steps``. Its perceptual distance uses chapter 5's
    perceptual network, :func:`perceptual_network` (loaded, or trained once, only when the stand-in is needed),
    never the metric network; ``perceptual_net`` replaces it (the tests pass an untrained one). ``vqvae_path``, the
    checkpoint ``vqvae`` was loaded from, adds its seconds and images to the stand-in's (without it they are left
    out and ``images_seen`` is None).
    """
    path, prior_path = ckpt_dir / "vqgan.pt", ckpt_dir / "vqgan_prior.pt"
    if _chapter_ran(5, path, prior_path):
        model, prior = _from_chapter(5, path, VQGAN, device), _from_chapter(5, prior_path, TokenPrior, device)
        marker = ckpt_dir / BASE_MARKER
        stamp = marker.read_text().split() if marker.exists() else []
        base = float(stamp[-1]) if stamp else math.nan
        base_file = ckpt_dir / stamp[0] if stamp else None
        images = (checkpoint_images(base_file, path) if base_file is not None and base_file.exists() else None)
        return Loaded(model, base + checkpoint_seconds(path) + checkpoint_seconds(prior_path), "chapter 5",
                      prior=prior, milestones=_milestones_after(prior_path, base + checkpoint_seconds(path)),
                      images_seen=images, path=path, base_path=base_file)
    path, prior_path = _stand_in(ckpt_dir, "vqgan"), _stand_in(ckpt_dir, "vqgan_prior")
    net = perceptual_network(device) if perceptual_net is None else perceptual_net
    torch.manual_seed(0)
    model = VQGAN.from_vqvae(vqvae).train()
    opt_g = torch.optim.Adam(model.vq.parameters(), 2e-4, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(model.disc.parameters(), 2e-4, betas=(0.5, 0.9))

    def objective(x, x_hat, vq_loss, fake_logits, last_layer, disc_on):
        return generator_objective(x, x_hat, vq_loss, fake_logits, last_layer, net, disc_on=disc_on)

    state = {"model": model, "opt_g": opt_g, "opt_d": opt_d}
    for stop, disc_on in ((steps // 3, False), (steps, True)):
        train(lambda batch, on=disc_on: vqgan_step(model, opt_g, opt_d, batch[0], objective, on), x_train,
              steps=stop, batch_size=64, state=state, checkpoint=path, desc="VQ-GAN (stand-in)")
    _quick_prior(tokenize_all(model.vq.eval(), x_train), model.num_codes, prior_steps, prior_path,
                 "VQ-GAN prior (stand-in)")
    base = checkpoint_seconds(vqvae_path) if vqvae_path is not None else 0.0
    return Loaded(load_model(path, device=device), base + checkpoint_seconds(path) + checkpoint_seconds(prior_path),
                  "quick stand-in (chapter 5 not run)", prior=load_model(prior_path, device=device),
                  milestones=_milestones_after(prior_path, base + checkpoint_seconds(path)),
                  images_seen=checkpoint_images(vqvae_path, path) if vqvae_path is not None else None,
                  path=path, base_path=vqvae_path)


# ----- chapter 6's latent diffusion model ------------------------------------------------------------------------

# Chapter 6's recipe and sampler, for its stand-in and its samples: the KL term's weight, the schedule, the MLP
# denoiser's size, DDIM steps, the guidance scale and the clamp of x0_hat (its KL_WEIGHT, sched, HIDDEN, DEPTH,
# DDIM_STEPS, GUIDANCE, clip)
LDM_KL_WEIGHT = 1e-4
LDM_SCHEDULE = Schedule(1000, "cosine")
LDM_DENOISER = dict(channels=4, size=7, hidden=256, depth=4)
LDM_SAMPLER = dict(steps=25, w=2.0, clip=3.0)


LDM_SCALE_FILE = "ldm_scale.txt"      # chapter 6 writes its scale factor next to ``ldm.pt``; chapter 7 reads it


def latent_scale(ae: KLAutoencoder, x_train: torch.Tensor) -> float:
    """1 / the standard deviation of the posterior means of ``x_train`` (N, 1, 28, 28): chapter 6's scale factor."""
    return 1 / float(encode_all(ae, x_train).std())


def save_latent_scale(ckpt_dir: Path, scale: float) -> None:
    """Write the factor that the denoiser's latents were scaled by (atomically), for :func:`load_ldm` to read."""
    tmp = ckpt_dir / f"{LDM_SCALE_FILE}.tmp"
    tmp.write_text(repr(float(scale)))
    tmp.replace(ckpt_dir / LDM_SCALE_FILE)


def load_ldm(ckpt_dir: Path, x_train: torch.Tensor, y_train: torch.Tensor, ae_steps: int, denoiser_steps: int,
             device: torch.device | str, *, perceptual_net: nn.Module | None = None) -> Loaded:
    """Chapter 6's latent diffusion model: the KL autoencoder (``ldm_autoencoder.pt``) in ``model``, the moving
    average of its denoiser (``ldm.pt``, state ``"ema"``) in ``prior``, the scale of the latents read from
    ``LDM_SCALE_FILE``, which chapter 6 writes (computed from ``x_train`` as chapter 6 computes it when the file is
    missing: the same number when both hold the 60,000 training images).

    ``train_seconds`` adds both stages; the milestones are the denoiser's, after the autoencoder's seconds. The
    stand-in trains chapter 6's recipe shortly: the autoencoder for ``ae_steps`` (the critic on for the last third,
    as in chapter 6's book profile; chapter 5's perceptual network as the coach, or ``perceptual_net``), then the
    denoiser for ``denoiser_steps`` on the scaled latents of ``x_train`` with labels ``y_train`` (N,).
    """
    path, prior_path = ckpt_dir / "ldm_autoencoder.pt", ckpt_dir / "ldm.pt"
    if _chapter_ran(6, path, prior_path):
        model = _from_chapter(6, path, KLAutoencoder, device)
        prior = _from_chapter(6, prior_path, (MLPDenoiser, Denoiser), device, name="ema")
        source = "chapter 6"
        scale_file = ckpt_dir / LDM_SCALE_FILE
        scale = float(scale_file.read_text()) if scale_file.exists() else latent_scale(model, x_train)
    else:
        path, prior_path = _stand_in(ckpt_dir, "ldm_autoencoder"), _stand_in(ckpt_dir, "ldm")
        recipe = f"KL-AE {ae_steps} steps, kl {LDM_KL_WEIGHT}; MLP {LDM_DENOISER}, {denoiser_steps} steps"
        drop_stale(ckpt_dir, f"ldm_{STAND_IN}_recipe.txt", recipe, (path.stem, prior_path.stem))
        net = perceptual_network(device) if perceptual_net is None else perceptual_net
        if not path.exists():                      # a new autoencoder: the denoiser of an earlier one is not its own
            prior_path.unlink(missing_ok=True)
        torch.manual_seed(0)
        model = train_klae(x_train, path, net, steps=ae_steps, disc_start=2 * ae_steps // 3,
                           kl_weight=LDM_KL_WEIGHT)
        torch.manual_seed(0)
        z = encode_all(model, x_train)
        scale = 1 / float(z.std())                 # latent_scale's factor, without encoding twice
        train_denoiser(MLPDenoiser(**LDM_DENOISER).to(x_train.device), z * scale, y_train.to(x_train.device),
                       LDM_SCHEDULE, prior_path, steps=denoiser_steps, milestones=milestone_steps(denoiser_steps))
        model, prior = load_model(path, device=device), load_model(prior_path, "ema", device)
        source = "quick stand-in (chapter 6 not run)"
    seconds = checkpoint_seconds(path)
    return Loaded(model, seconds + checkpoint_seconds(prior_path), source, prior=prior,
                  milestones=_milestones_after(prior_path, seconds), milestone_name="ema",
                  images_seen=checkpoint_images(path), path=path, latent_scale=scale)


# ----- chapter 5's starting point: chapter 3's VQ-VAE -------------------------------------------------------------

# chapter 5's checkpoints that start from its base VQ-VAE; "vqgan_vqvae_prior" is the prior chapter 5 trains on the
# tokens of a base it trained itself (with chapter 3's base it uses chapter 3's own prior, which is never dropped)
VQGAN_CHECKPOINTS = ("vqgan", "vqgan_ablation_mse", "vqgan_ablation_perceptual", "vqgan_metric_coach",
                     "vqgan_prior", "vqgan_vqvae_prior")
BASE_MARKER = "vqgan_base.txt"


def drop_stale(ckpt_dir: Path, marker_name: str, stamp: str, names: tuple[str, ...]) -> list[Path]:
    """Delete the checkpoints ``<name>.pt`` and ``<name>_seed*.pt`` of every name in ``names`` unless the marker file
    ``ckpt_dir / marker_name`` says that they were trained from what ``stamp`` names; then write ``stamp`` into the
    marker. Returns the files deleted (a retrained starting point makes them stale)."""
    if not stamp or "\n" in stamp:
        raise ValueError(f"stamp must be one non-empty line naming what the checkpoints start from, got {stamp!r}.")
    marker, dropped = ckpt_dir / marker_name, []
    if not marker.exists() or marker.read_text() != stamp:
        for name in names:
            for path in (ckpt_dir / f"{name}.pt", *sorted(ckpt_dir.glob(f"{name}_seed*.pt"))):
                if path.exists():
                    path.unlink()
                    dropped.append(path)
    marker.write_text(stamp)
    return dropped


def _fitting_vqvae(path: Path, config: tuple[int, int, int], device: torch.device | str) -> VQVAE | None:
    """The VQ-VAE in ``path`` if it exists, loads, and has (num_codes, code_dim, width) == ``config``; else None."""
    if not path.exists():
        return None
    try:
        model = load_model(path, device=device)
    except (CheckpointError, ValueError, RuntimeError, KeyError):    # written by an older version of chapter 3
        return None
    fits = isinstance(model, VQVAE) and (model.config["num_codes"], model.config["code_dim"],
                                         model.config["width"]) == config
    return model if fits else None


def load_base_vqvae(ckpt_dir: Path, x_train: torch.Tensor, steps: int, batch_size: int, device: torch.device | str,
                    *, num_codes: int = 64, code_dim: int = 16, width: int = 32) -> Loaded:
    """The VQ-VAE chapter 5 fine-tunes, in eval mode, with ``path`` set: chapter 3's ``vqvae.pt`` when it exists and
    has this codebook (``num_codes`` x ``code_dim``) and ``width``; otherwise one trained with chapter 3's recipe
    (MSE + VQ terms, EMA codes, dead-code restarts; Adam at :data:`~genviz_utils.models.vq.VQVAE_LR`, ``steps`` steps
    of ``batch_size`` images (N, 1, 28, 28) from ``x_train``) into ``vqgan_base_vqvae.pt`` (one trained at another
    rate, by an earlier version, is trained again: :func:`drop_stale`).

    Chapter 5's checkpoints (:data:`VQGAN_CHECKPOINTS`) start from this model: when it is not the one that the marker
    ``vqgan_base.txt`` names (say chapter 3 has run in between), :func:`drop_stale` deletes them so they are
    trained afresh. ``source`` says which of the two it is; ``train_seconds`` is its training time.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive, got {steps} and {batch_size}.")
    path, source = ckpt_dir / "vqvae.pt", "chapter 3's checkpoint"
    model = _fitting_vqvae(path, (num_codes, code_dim, width), device)
    if model is None:
        path, source = ckpt_dir / "vqgan_base_vqvae.pt", "trained here with chapter 3's recipe"
        drop_stale(ckpt_dir, "vqgan_base_vqvae_recipe.txt", f"Adam {VQVAE_LR!r}", (path.stem,))
        model = _train_chapter3_vqvae(x_train, steps, batch_size, path, "VQ-VAE (chapter 3 recipe)", device,
                                      num_codes=num_codes, code_dim=code_dim, width=width)
    seconds = checkpoint_seconds(path)
    drop_stale(ckpt_dir, BASE_MARKER, f"{path.name} {seconds!r}", VQGAN_CHECKPOINTS)
    return Loaded(model.eval(), seconds, source, path=path)


# ----- samplers: n images in [0, 1] ------------------------------------------------------------------------------


@torch.no_grad()
def sample_vae(vae: ConvVAE, n: int, temperature: float = 1.0) -> torch.Tensor:
    """z ~ N(0, t^2 I), decoded to Bernoulli means (grey values in [0, 1])."""
    dev = next(vae.parameters()).device
    return vae.decode(temperature * torch.randn(n, vae.latent_dim, device=dev))


@torch.no_grad()
def sample_vqvae(vqvae: VQVAE | VQGAN, prior: TokenPrior, n: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Token maps drawn by the prior, one token at a time, decoded by the VQ-VAE (or the VQ-GAN)."""
    return vqvae.decode_tokens(prior.sample(n, temperature=temperature, generator=generator))


@torch.no_grad()
def sample_gan(G: Generator, n: int, temperature: float = 1.0) -> torch.Tensor:
    """G(z), z ~ N(0, t^2 I), mapped from [-1, 1] to [0, 1]."""
    dev = next(G.parameters()).device
    return (G(temperature * torch.randn(n, G.z_dim, device=dev)) + 1) / 2


@torch.no_grad()
def sample_ldm(ae: KLAutoencoder, denoiser: nn.Module, scale: float, n: int, *,
               generator: torch.Generator | None = None, steps: int = LDM_SAMPLER["steps"],
               w: float = LDM_SAMPLER["w"]) -> torch.Tensor:
    """Chapter 6's sampler: DDIM with guidance ``w`` from z_T ~ N(0, I) in the scaled latent, unscaled and decoded.
    Each sample's class is drawn uniformly from the 10 (Fashion-MNIST's training split has 6,000 of each): at w = 1
    the class-conditional model is sampled as p(y) p(x | y), like the models that know no classes; at w > 1 each
    class is sharpened towards p(x | y) p(y | x)^(w - 1)."""
    dev = next(denoiser.parameters()).device
    y = torch.randint(0, denoiser.num_classes, (n,), generator=generator).to(dev)
    lat = ddim_sample(denoiser, (n, ae.latent_channels, 7, 7), LDM_SCHEDULE, steps, y=y, w=w,
                      null=denoiser.num_classes, clip=LDM_SAMPLER["clip"], generator=generator, device=dev)
    return ae.decode(lat / scale)


@torch.no_grad()
def fit_code_gaussian(ae: ConvAutoencoder, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (k,) and Cholesky factor (k, k) of a Gaussian fitted to the AE's codes of ``images``."""
    z = apply_batched(ae.encode, images, 1000).double()
    cov = torch.cov(z.T) + 1e-6 * torch.eye(z.shape[1], dtype=z.dtype, device=z.device)
    return z.mean(0).float(), torch.linalg.cholesky(cov).float()


@torch.no_grad()
def sample_ae_gaussian(ae: ConvAutoencoder, mean: torch.Tensor, chol: torch.Tensor, n: int) -> torch.Tensor:
    """Decode codes drawn from the Gaussian fitted by :func:`fit_code_gaussian` (not a model the AE learned)."""
    return ae.decode(mean + torch.randn(n, len(mean), device=mean.device) @ chol.T)
