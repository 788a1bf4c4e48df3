"""Unit tests of chapter 5's plumbing in genviz_utils.model_zoo: the base VQ-VAE it fine-tunes (loaded from chapter 3
or trained with chapter 3's recipe), the stale-checkpoint markers, and the VQ-GAN stand-in's training step."""

from __future__ import annotations

import shutil

import pytest
import torch

from genviz_utils import model_zoo as zoo
from genviz_utils.features import FMNISTClassifier
from genviz_utils.models.vq import VQVAE

SMALL = {"num_codes": 8, "code_dim": 4, "width": 8}


def _images(n: int = 48) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def _touch(path):
    path.write_bytes(b"stand-in")
    return path


def test_drop_stale_deletes_every_seed_of_the_named_checkpoints_only_when_the_stamp_changes(tmp_path):
    files = [_touch(tmp_path / name) for name in ("vqgan.pt", "vqgan_seed1.pt", "vqgan_prior.pt", "other.pt")]
    dropped = zoo.drop_stale(tmp_path, "marker.txt", "base A", ("vqgan", "vqgan_prior"))   # no marker yet: stale
    assert sorted(p.name for p in dropped) == ["vqgan.pt", "vqgan_prior.pt", "vqgan_seed1.pt"]
    assert (tmp_path / "other.pt").exists() and (tmp_path / "marker.txt").read_text() == "base A"
    for p in files[:3]:
        _touch(p)
    assert zoo.drop_stale(tmp_path, "marker.txt", "base A", ("vqgan", "vqgan_prior")) == []   # same base: kept
    assert all(p.exists() for p in files)
    assert len(zoo.drop_stale(tmp_path, "marker.txt", "base B", ("vqgan",))) == 2             # another base
    assert (tmp_path / "vqgan_prior.pt").exists() and not (tmp_path / "vqgan_seed1.pt").exists()
    with pytest.raises(ValueError, match="one non-empty line"):
        zoo.drop_stale(tmp_path, "marker.txt", "", ("vqgan",))


def test_load_base_vqvae_trains_reuses_prefers_chapter_3_and_drops_stale_checkpoints(tmp_path):
    x = _images()
    base = zoo.load_base_vqvae(tmp_path, x, 2, 16, "cpu", **SMALL)
    assert base.source == "trained here with chapter 3's recipe" and base.path == tmp_path / "vqgan_base_vqvae.pt"
    assert isinstance(base.model, VQVAE) and not base.model.training and base.train_seconds > 0
    marker = tmp_path / zoo.BASE_MARKER
    assert marker.read_text() == f"vqgan_base_vqvae.pt {base.train_seconds!r}"    # what load_vqgan reads
    assert float(marker.read_text().split()[-1]) == base.train_seconds
    stale = _touch(tmp_path / "vqgan.pt")
    again = zoo.load_base_vqvae(tmp_path, x, 2, 16, "cpu", **SMALL)                 # resumed, not retrained
    assert again.train_seconds == base.train_seconds and stale.exists()
    assert all(torch.equal(a, b) for a, b in zip(base.model.state_dict().values(),
                                                 again.model.state_dict().values(), strict=True))
    shutil.copy(base.path, tmp_path / "vqvae.pt")                                  # chapter 3 has run since
    ch3 = zoo.load_base_vqvae(tmp_path, x, 2, 16, "cpu", **SMALL)
    assert ch3.source == "chapter 3's checkpoint" and ch3.path == tmp_path / "vqvae.pt"
    assert not stale.exists()                                                      # trained from another base
    fresh = tmp_path / "other_profile"
    fresh.mkdir()
    shutil.copy(base.path, fresh / "vqvae.pt")                 # a chapter 3 checkpoint of another codebook size
    other = zoo.load_base_vqvae(fresh, x, 2, 16, "cpu", num_codes=16, code_dim=4, width=8)
    assert other.source.startswith("trained here") and other.model.config["num_codes"] == 16
    with pytest.raises(ValueError, match="positive"):
        zoo.load_base_vqvae(tmp_path, x, 0, 16, "cpu", **SMALL)


def test_the_vqgan_stand_in_trains_with_vqgan_step_critic_off_then_on(tmp_path, monkeypatch):
    calls = []
    real_step = zoo.vqgan_step

    def counting_step(model, opt_g, opt_d, x, generator_loss, disc_on):
        calls.append(disc_on)
        return real_step(model, opt_g, opt_d, x, generator_loss, disc_on)

    monkeypatch.setattr(zoo, "vqgan_step", counting_step)
    torch.manual_seed(0)
    vq = VQVAE(**SMALL).eval()
    net = FMNISTClassifier().eval().requires_grad_(False)                          # untrained: plumbing only
    loaded = zoo.load_vqgan(tmp_path, _images(64), vq, 6, 2, "cpu", perceptual_net=net)
    assert calls == [False] * 2 + [True] * 4                                       # warm-up: a third of the steps
    assert loaded.source.startswith("quick stand-in") and loaded.prior is not None and not loaded.model.training


def test_continue_vqvae_trains_the_base_on_exactly_and_counts_its_images(tmp_path):
    x = _images()
    zoo._train_chapter3_vqvae(x, 3, 16, tmp_path / "vqvae.pt", "base", "cpu", **SMALL)
    assert zoo.checkpoint_images(tmp_path / "vqvae.pt") == 3 * 16
    cont = zoo.continue_vqvae(tmp_path, tmp_path / "vqvae.pt", x, 32, prior_maps=48, prior_steps=4, prior_batch=8,
                              prior_lr=1e-3, device="cpu")
    assert cont.source == "vqvae.pt + 2 steps" and cont.images_seen == 5 * 16
    longer = zoo._train_chapter3_vqvae(x, 5, 16, tmp_path / "longer.pt", "one run", "cpu", **SMALL)
    for a, b in zip(cont.model.state_dict().values(), longer.state_dict().values(), strict=True):
        assert torch.equal(a, b)                         # the continuation is the base's run, trained longer
    assert [m.step for m in cont.milestones] == [0, 1, 2, 4]
    assert cont.milestones[0].seconds == zoo.checkpoint_seconds(tmp_path / "vqvae_continued.pt")
    again = zoo.continue_vqvae(tmp_path, tmp_path / "vqvae.pt", x, 32, prior_maps=48, prior_steps=4, prior_batch=8,
                               prior_lr=1e-3, device="cpu")
    assert again.train_seconds == cont.train_seconds     # loaded, not trained again


def test_train_chapter3_prior_is_chapter_3s_prior_cell(tmp_path):
    """model_zoo's copy of chapter 3's prior recipe (chapters 5 and 7 train with it) gives the weights the
    chapter's own cell gives, run here on a few random token maps."""
    import math
    from pathlib import Path

    import nbformat

    from genviz_utils.training import train

    nb = nbformat.read(Path(__file__).parents[1] / "notebooks" / "03_vqvae.ipynb", as_version=4)
    cell = next(c.source for c in nb.cells if c.get("id") == "4c711e0a")
    tokens = torch.randint(0, 8, (40, 7, 7), generator=torch.Generator().manual_seed(0))
    (tmp_path / "lesson").mkdir()
    scope = {"torch": torch, "math": math, "train": train, "K": 8, "PRIOR_LR": 3e-3, "PRIOR_STEPS": 6,
             "PRIOR_BATCH": 8, "tok_train": tokens, "device": "cpu", "CKPT": tmp_path / "lesson"}
    exec(compile(cell.replace("prior.eval();", "prior.eval()"), "chapter 3, cell 4c711e0a", "exec"), scope)
    ours, history = zoo.train_chapter3_prior(tokens, 8, 6, 8, 3e-3, tmp_path / "zoo.pt", "prior", progress=False)
    for (name, a), b in zip(scope["prior"].state_dict().items(), ours.state_dict().values(), strict=True):
        assert torch.equal(a, b), f"{name} differs: chapter 3's cell and train_chapter3_prior are two recipes"
    assert history.values["bits_per_token"] == scope["prior_hist"].values["bits_per_token"]
    assert [m.step for m in zoo.milestones(tmp_path / "zoo.pt")] == [0, 1, 2, 3, 6]


def test_the_vqgan_stand_in_counts_the_vqvae_it_started_from(tmp_path):
    x = _images(64)
    vq = zoo._train_chapter3_vqvae(x, 3, 16, tmp_path / "base.pt", "base", "cpu", progress=False, **SMALL).eval()
    net = FMNISTClassifier().eval().requires_grad_(False)                          # untrained: plumbing only
    alone = zoo.load_vqgan(tmp_path, x, vq, 3, 2, "cpu", perceptual_net=net)
    counted = zoo.load_vqgan(tmp_path, x, vq, 3, 2, "cpu", perceptual_net=net, vqvae_path=tmp_path / "base.pt")
    base = zoo.checkpoint_seconds(tmp_path / "base.pt")
    assert counted.train_seconds == pytest.approx(alone.train_seconds + base)     # loaded the second time
    assert counted.images_seen == 3 * 16 + 3 * 64 and alone.images_seen is None
    assert counted.milestones[0].seconds == pytest.approx(alone.milestones[0].seconds + base)
    assert counted.base_path == tmp_path / "base.pt"


def test_chapter3_prior_recipe_reads_the_budget_back(tmp_path):
    tokens = torch.randint(0, 8, (40, 7, 7), generator=torch.Generator().manual_seed(0))
    zoo.train_chapter3_prior(tokens, 8, 6, 8, 3e-3, tmp_path / "p.pt", "prior", progress=False)
    assert zoo.chapter3_prior_recipe(tmp_path / "p.pt") == {"maps": 40, "steps": 6, "batch": 8, "lr": 3e-3}
    assert zoo.chapter3_prior_recipe(tmp_path / "missing.pt") is None


def test_a_prior_of_another_budget_is_trained_again_and_a_stopped_one_resumed(tmp_path):
    tokens = torch.randint(0, 8, (40, 7, 7), generator=torch.Generator().manual_seed(0))
    path = tmp_path / "p.pt"
    zoo.train_chapter3_prior(tokens, 8, 6, 8, 3e-3, path, "prior", progress=False)
    # 12 steps: a one-cycle schedule planned for 6 cannot go on; the old file is replaced, not resumed
    prior, history = zoo.train_chapter3_prior(tokens, 8, 12, 8, 3e-3, path, "prior", progress=False)
    assert zoo.chapter3_prior_recipe(path)["steps"] == 12 and history.steps[0] == 0
    from genviz_utils.checkpoint import load_checkpoint, save_checkpoint

    saved = load_checkpoint(path)
    assert saved["step"] == 12
    # a run stopped half-way keeps its whole budget, so it resumes
    half = {**saved, "step": 6}
    save_checkpoint(tmp_path / "half.pt", half)
    assert zoo.chapter3_prior_recipe(tmp_path / "half.pt")["steps"] == 12
    old = {k: v for k, v in saved.items() if k != "examples"}         # written before the budget was recorded
    save_checkpoint(tmp_path / "old.pt", old)
    assert zoo.chapter3_prior_recipe(tmp_path / "old.pt") is None


def test_the_ldm_stand_in_and_chapter_6s_files(tmp_path):
    """load_ldm trains chapter 6's recipe shortly when the chapter has not run (the critic on for the last third,
    the denoiser's moving average kept at its milestones), loads the chapter's pair when it has, and refuses half a
    pair; sample_ldm returns images of classes drawn at random."""
    from genviz_utils.checkpoint import CheckpointError, load_checkpoint
    from genviz_utils.models.diffusion import MLPDenoiser

    x, y = _images(256), torch.arange(256) % 10
    net = FMNISTClassifier().eval().requires_grad_(False)                          # untrained: plumbing only
    ldm = zoo.load_ldm(tmp_path, x, y, 3, 4, "cpu", perceptual_net=net)
    assert ldm.source == "quick stand-in (chapter 6 not run)" and isinstance(ldm.prior, MLPDenoiser)
    assert load_checkpoint(tmp_path / "ldm_autoencoder_quick_v3.pt")["step"] == 3
    assert [m.step for m in ldm.milestones] == [0, 1, 2, 4] and ldm.milestone_name == "ema"
    ae_seconds = zoo.checkpoint_seconds(tmp_path / "ldm_autoencoder_quick_v3.pt")
    assert ldm.milestones[0].seconds == pytest.approx(ae_seconds)                 # after the autoencoder's seconds
    assert ldm.train_seconds == pytest.approx(ae_seconds + zoo.checkpoint_seconds(tmp_path / "ldm_quick_v3.pt"))
    assert ldm.latent_scale == pytest.approx(zoo.latent_scale(ldm.model, x))
    last = zoo.load_model(ldm.milestones[-1].path, "ema")
    assert all(torch.equal(a, b) for a, b in zip(last.state_dict().values(), ldm.prior.state_dict().values(),
                                                 strict=True))                    # the last milestone: the model
    imgs = zoo.sample_ldm(ldm.model, ldm.prior, ldm.latent_scale, 5, generator=torch.Generator().manual_seed(0),
                          steps=2)
    assert imgs.shape == (5, 1, 28, 28) and 0 <= imgs.min() and imgs.max() <= 1
    shutil.copy(tmp_path / "ldm_autoencoder_quick_v3.pt", tmp_path / "ldm_autoencoder.pt")
    with pytest.raises(CheckpointError, match="chapter 6 left .* but not ldm.pt"):
        zoo.load_ldm(tmp_path, x, y, 3, 4, "cpu", perceptual_net=net)
    shutil.copy(tmp_path / "ldm_quick_v3.pt", tmp_path / "ldm.pt")
    chapter = zoo.load_ldm(tmp_path, x, y, 3, 4, "cpu", perceptual_net=net)
    assert chapter.source == "chapter 6" and chapter.latent_scale == pytest.approx(ldm.latent_scale)   # no file yet
    zoo.save_latent_scale(tmp_path, 0.5)                  # the factor chapter 6 trained with wins over a recomputed one
    assert zoo.load_ldm(tmp_path, x[:32], y[:32], 3, 4, "cpu", perceptual_net=net).latent_scale == 0.5
