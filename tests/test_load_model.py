"""One way to rebuild a model: train() stores each module's class and config, load_model() rebuilds it; the zoo
raises on a chapter checkpoint it cannot rebuild instead of training a stand-in."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from genviz_utils import model_zoo as zoo
from genviz_utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from genviz_utils.features import FMNISTClassifier
from genviz_utils.models.ae import ConvAutoencoder
from genviz_utils.models.diffusion import Denoiser, KLAutoencoder, MLPDenoiser
from genviz_utils.models.gan import Discriminator, Generator
from genviz_utils.models.registry import MODELS, load_model
from genviz_utils.models.vae import ConvVAE, neg_elbo
from genviz_utils.models.vq import VQVAE, TokenPrior
from genviz_utils.models.vqgan import VQGAN
from genviz_utils.training import train

IMAGES = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
TOKENS = torch.randint(0, 8, (16, 7, 7), generator=torch.Generator().manual_seed(1))
NOISE = torch.randn(16, 8, generator=torch.Generator().manual_seed(2))


def _vq_loss(m, x):
    x_hat, _, stats = m(x)
    return F.mse_loss(x_hat, x) + stats["loss"]


LATENTS = torch.randn(16, 2, 8, 8, generator=torch.Generator().manual_seed(3))
STEPS = torch.arange(16) * 60
LABELS = torch.arange(16) % 11


def _klae_loss(m, x):
    x_hat, _, stats = m(x)
    return F.mse_loss(x_hat, x) + 1e-3 * stats["kl"] + m.critic(x).mean()


def _eps_loss(m, z):
    return (m(z, STEPS[:len(z)], LABELS[:len(z)]) - z).pow(2).mean()   # any loss that moves every weight


def _vqgan_loss(m, x):
    return _vq_loss(m, x) + m.critic(x).mean()


# class: (small instance, training data, loss(model, batch) for one step, probe(model) compared after the rebuild)
CASES = {
    "ConvAutoencoder": (lambda: ConvAutoencoder(latent_dim=3, width=4), IMAGES,
                        lambda m, x: F.mse_loss(m(x), x), lambda m: m(IMAGES)),
    "ConvVAE": (lambda: ConvVAE(latent_dim=3, width=4), (IMAGES > 0.5).float(),
                lambda m, x: neg_elbo(m, x)[0].mean(), lambda m: m.decode(m.encode(IMAGES)[0])),
    "VQVAE": (lambda: VQVAE(num_codes=8, code_dim=4, width=4), IMAGES, _vq_loss,
              lambda m: torch.cat([m(IMAGES)[0].flatten(), m.tokenize(IMAGES).flatten().float()])),
    "TokenPrior": (lambda: TokenPrior(8, n_layer=1, n_embd=16, n_head=2), TOKENS,
                   lambda m, t: m.nll(t), lambda m: m(TOKENS)),
    "Generator": (lambda: Generator(z_dim=8, width=4), NOISE, lambda m, z: m(z).mean(), lambda m: m(NOISE)),
    "Discriminator": (lambda: Discriminator(width=4, spectral=True, norm=True), IMAGES * 2 - 1,
                      lambda m, x: m(x).mean(), lambda m: m(IMAGES * 2 - 1)),
    "VQGAN": (lambda: VQGAN(num_codes=8, code_dim=4, width=4, disc_width=4), IMAGES, _vqgan_loss,
              lambda m: torch.cat([m.reconstruct(IMAGES).flatten(), m.critic(IMAGES).flatten()])),
    "KLAutoencoder": (lambda: KLAutoencoder(latent_channels=2, width=4, disc_width=4), IMAGES, _klae_loss,
                      lambda m: torch.cat([m.decode(m.encode(IMAGES)[0]).flatten(), m.critic(IMAGES).flatten()])),
    "Denoiser": (lambda: Denoiser(channels=2, size=8, widths=(8, 16), blocks=1), LATENTS, _eps_loss,
                 lambda m: m(LATENTS, STEPS, LABELS)),
    "MLPDenoiser": (lambda: MLPDenoiser(channels=2, size=8, hidden=16, depth=2), LATENTS, _eps_loss,
                    lambda m: m(LATENTS, STEPS, LABELS)),
    "FMNISTClassifier": (lambda: FMNISTClassifier(width=4, feature_dim=8), IMAGES,
                         lambda m, x: m.logits(x).logsumexp(1).mean(), lambda m: m(IMAGES)),
}


def _train(model, data, loss, path, steps=2, name="model"):
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def step(batch):
        value = loss(model, batch[0])
        opt.zero_grad()
        value.backward()
        opt.step()
        return {"loss": value}

    train(step, data, steps=steps, batch_size=8, state={name: model, "opt": opt}, checkpoint=path, progress=False)
    return model


def test_every_registered_class_has_a_rebuild_case():
    assert set(CASES) == set(MODELS)


@pytest.mark.parametrize("cls_name", sorted(CASES))
def test_load_model_rebuilds_what_train_wrote(tmp_path, cls_name):
    make, data, loss, probe = CASES[cls_name]
    torch.manual_seed(0)
    model = _train(make(), data, loss, tmp_path / "m.pt")
    entry = load_checkpoint(tmp_path / "m.pt")["configs"]["model"]
    assert entry == {"class": cls_name, "args": model.config}
    assert json.loads(json.dumps(entry["args"])) == entry["args"]          # JSON-like: numbers, strings, lists
    torch.manual_seed(1)                                  # the rebuilt model starts from other random weights
    loaded = load_model(tmp_path / "m.pt")
    assert type(loaded) is type(model) and not loaded.training and loaded.config == model.config
    model.eval().to(memory_format=torch.contiguous_format)   # train() may have stored convolutions channels-last
    with torch.no_grad():
        assert torch.equal(probe(loaded), probe(model))


def test_configs_are_written_at_every_save_and_per_module(tmp_path):
    G, D = Generator(z_dim=8, width=4), Discriminator(width=4)
    opt = torch.optim.Adam(G.parameters())
    train(lambda b: {"l": 0.0}, NOISE, steps=3, batch_size=4, state={"G": G, "D": D, "opt": opt},
          checkpoint=tmp_path / "gan.pt", checkpoint_every=1, progress=False)
    configs = load_checkpoint(tmp_path / "gan.pt")["configs"]
    assert configs == {"G": {"class": "Generator", "args": G.config}, "D": {"class": "Discriminator", "args": D.config}}
    assert isinstance(load_model(tmp_path / "gan.pt", "G"), Generator)
    assert isinstance(load_model(tmp_path / "gan.pt", "D"), Discriminator)


def test_a_config_less_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "ae.pt"
    save_checkpoint(path, {"state": {"model": ConvAutoencoder(2, 4).state_dict()}})   # what older versions wrote
    with pytest.raises(CheckpointError, match=r"ae\.pt has no model config for 'model'.*older version of the course"
                                              r".*delete .*ae\.pt"):
        load_model(path)


def test_a_checkpoint_of_another_class_is_a_clear_error(tmp_path):
    path = tmp_path / "vae.pt"
    _train(ConvVAE(3, 4), (IMAGES > 0.5).float(), lambda m, x: neg_elbo(m, x)[0].mean(), path)
    with pytest.raises(CheckpointError, match=r"vae\.pt holds a ConvVAE as 'model', not a VQVAE; delete"):
        load_model(path, expect=VQVAE)
    assert isinstance(load_model(path, expect=(VQVAE, ConvVAE)), ConvVAE)
    ckpt = load_checkpoint(path)                      # a config that does not describe the weights
    ckpt["configs"]["model"] = {"class": "ConvAutoencoder", "args": {"latent_dim": 3, "width": 4}}
    save_checkpoint(path, ckpt)
    with pytest.raises(CheckpointError, match=r"'model' does not rebuild as ConvAutoencoder\(.*\).*delete"):
        load_model(path)


def test_a_class_that_is_not_a_course_model_is_named(tmp_path):
    class LinearAE(ConvAutoencoder):   # a chapter's variant: train() records it, load_model cannot build it
        pass

    _train(LinearAE(2, 4), IMAGES, lambda m, x: F.mse_loss(m(x), x), tmp_path / "lin.pt")
    with pytest.raises(CheckpointError, match="'LinearAE' as 'model', which is not a course model"):
        load_model(tmp_path / "lin.pt")


def test_train_records_configs_in_a_finished_checkpoint_of_an_older_version(tmp_path):
    path = tmp_path / "ae.pt"
    model = _train(ConvAutoencoder(2, 4), IMAGES, lambda m, x: F.mse_loss(m(x), x), path)
    old = load_checkpoint(path)
    del old["configs"]
    save_checkpoint(path, old)
    again = _train(ConvAutoencoder(2, 4), IMAGES, lambda m, x: F.mse_loss(m(x), x), path)   # resumes: no step
    new = load_checkpoint(path)
    assert new["configs"]["model"]["args"] == model.config and new["step"] == old["step"] == 2
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values(),
                                                 strict=True))


# --- the zoo: a chapter's checkpoint is used or refused, never silently replaced ------------------------------


def test_zoo_loads_a_chapter_checkpoint(tmp_path):
    model = _train(ConvAutoencoder(2, 4), IMAGES, lambda m, x: F.mse_loss(m(x), x), tmp_path / "ae.pt")
    loaded = zoo.load_ae(tmp_path, IMAGES, 2, "cpu")
    assert loaded.source == "chapter 1" and loaded.model.config == model.config and loaded.train_seconds > 0
    assert not list(tmp_path.glob("*quick*"))


def test_zoo_raises_on_a_config_less_chapter_checkpoint_instead_of_retraining(tmp_path):
    save_checkpoint(tmp_path / "ae.pt", {"state": {"model": ConvAutoencoder(2).state_dict()}})
    with pytest.raises(CheckpointError, match=r"older version of the course.*delete .*ae\.pt and rerun chapter 1"):
        zoo.load_ae(tmp_path, IMAGES, 2, "cpu")
    save_checkpoint(tmp_path / "gan.pt", {"state": {"G": Generator().state_dict()}})
    with pytest.raises(CheckpointError, match=r"no model config for 'G'.*rerun chapter 4"):
        zoo.load_gan(tmp_path, IMAGES, 2, "cpu")
    assert not list(tmp_path.glob("*quick*"))        # no stand-in was trained


def test_zoo_refuses_a_chapter_that_left_only_some_of_its_files(tmp_path):
    _train(VQVAE(8, 4, 4), IMAGES, _vq_loss, tmp_path / "vqvae.pt")
    with pytest.raises(CheckpointError, match=r"chapter 3 left .*vqvae\.pt but not vqvae_prior\.pt: rerun chapter 3"):
        zoo.load_vqvae(tmp_path, IMAGES, 2, 2, "cpu")
    assert not list(tmp_path.glob("*quick*"))
