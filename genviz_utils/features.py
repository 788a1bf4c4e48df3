"""An in-domain feature extractor for the sample-quality metrics: a small CNN classifier of Fashion-MNIST.

FID (Heusel et al. 2017) measures distances between images in the feature space of an Inception network
trained on ImageNet. Those weights cannot be downloaded everywhere this course runs, and Inception features of
28x28 grey images upsampled to 299x299 colour are a poor fit anyway. We use a classifier trained on the
Fashion-MNIST training split instead; its 64-number penultimate layer is the feature space. Distances computed
there are called "FD-FMNIST-CNN" and must never be compared with Inception FIDs from papers.

The classifier is trained once (16 s on two CPU cores in a measured build), checked on the test split and cached in
``<cache>/features/fmnist_cnn_v2.pt`` together with its training seed and test accuracy:

    net = feature_extractor(device)          # loads, or trains with a progress bar
    f = net(x)                               # (B, 1, 28, 28) in [0, 1] -> (B, 64) features
    f = embed(net, images, "conv3")          # many images, float64 on the CPU, a chosen layer flattened
    acts = net.features(x, ["conv1", "conv2"])   # intermediate activations, e.g. for a perceptual loss

A network that a model is *trained* against must not be the one that grades it (chapter 5): its perceptual loss
uses a second classifier, trained with random shifts and another seed and cached in a file of its own,
``perceptual_network(device)`` (its settings, ``PERCEPTUAL_SEED`` and ``perceptual_steps``, live here and nowhere
else). The defaults of ``feature_extractor`` always give the metric network.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import load_checkpoint, load_state, save_checkpoint
from .data import load_images
from .models.ae import check_images
from .profiles import Profile, get_profile
from .runtime import apply_batched, cache_dir, eval_mode
from .training import fast_layout, train

FEATURE_NAME = "FD-FMNIST-CNN"
FEATURE_DIM = 64
PR_LAYER = "conv3"                  # the layer precision and recall use (1024 numbers; see chapter 7)
LAYERS = ("conv1", "conv2", "conv3", "fc")
_FILE = "fmnist_cnn_v2"          # bump the version when the architecture or recipe changes
_loaded: dict[tuple[str, str], FMNISTClassifier] = {}


class FMNISTClassifier(nn.Module):
    """(B, 1, 28, 28) in [0, 1] -> 10 class logits, through named stages:

    conv1: (B, 32, 14, 14), conv2: (B, 64, 7, 7), conv3: (B, 64, 4, 4), fc: (B, 64) = the features.
    ``config`` holds the constructor arguments, as for the models of :mod:`genviz_utils.models`.
    """

    def __init__(self, width: int = 32, feature_dim: int = FEATURE_DIM):
        super().__init__()
        self.config = dict(width=width, feature_dim=feature_dim)
        w = width
        self.conv1 = nn.Sequential(nn.Conv2d(1, w, 4, stride=2, padding=1), nn.BatchNorm2d(w), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU())
        self.conv3 = nn.Sequential(nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU())
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(2 * w * 16, feature_dim), nn.ReLU())
        self.head = nn.Linear(feature_dim, 10)

    def features(self, x: torch.Tensor, layers: Sequence[str] = LAYERS) -> list[torch.Tensor]:
        """Activations of the named stages (any of ``LAYERS``), in the order asked for."""
        unknown = set(layers) - set(LAYERS)
        if unknown:
            raise ValueError(f"unknown layer(s) {sorted(unknown)}; choose from {LAYERS}.")
        check_images(x)
        out, h = {}, x
        for name in LAYERS:
            h = getattr(self, name)(h)
            out[name] = h
            if all(n in out for n in layers):
                break
        return [out[n] for n in layers]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The feature vector used by the metrics: (B, 1, 28, 28) -> (B, 64)."""
        return self.features(x, ["fc"])[0]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self(x))


@torch.no_grad()
def embed(net: FMNISTClassifier, images: torch.Tensor, layer: str = "fc", batch_size: int = 500) -> torch.Tensor:
    """Features of many images, batch by batch, in float64 on the CPU: (N, 1, 28, 28) -> (N, F).

    ``layer="fc"``: the 64 classification features (used for the Frechet distance); a conv layer gives its
    activations flattened (``"conv3"``: 1024 numbers, used for precision and recall, which need no covariance).
    ``images`` must be in [0, 1] (map a GAN's [-1, 1] output with ``(x + 1) / 2`` first).
    """
    if images.min() < -1e-3 or images.max() > 1 + 1e-3:
        raise ValueError(f"images must be in [0, 1], got values in [{images.min():.3g}, {images.max():.3g}]; "
                         "map [-1, 1] images with (x + 1) / 2.")
    dev = next(net.parameters()).device
    return apply_batched(lambda x: net.features(x.to(dev), [layer])[0].flatten(1).double().cpu(), images, batch_size)


@torch.no_grad()
def predict(net: FMNISTClassifier, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The class the classifier head puts each of ``images`` (N, 1, 28, 28) in: (N,) labels on the CPU."""
    dev = next(net.parameters()).device
    with eval_mode(net):
        return apply_batched(lambda x: net.logits(x.to(dev)).argmax(1).cpu(), images, batch_size)


def accuracy(net: FMNISTClassifier, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of ``images`` (N, 1, 28, 28) whose predicted class equals ``labels`` (N,)."""
    return int((predict(net, images, batch_size) == labels.cpu()).sum()) / len(images)


def train_classifier(device: torch.device | str = "cpu", *, steps: int = 1_500, batch_size: int = 128,
                     seed: int = 0, n_train: int | None = None, augment: bool = False, lr: float = 3e-3,
                     progress: bool = True
                     ) -> tuple[FMNISTClassifier, dict]:
    """Train the classifier on the training split (3.2 epochs by default; ``augment`` adds random shifts of
    up to 2 pixels). Returns (model in eval mode, info with ``seed``, ``steps``, ``test_accuracy``,
    ``train_seconds``)."""
    torch.manual_seed(seed)
    train_set = load_images("fashion-mnist", "train", device=device, limit=n_train)
    test_set = load_images("fashion-mnist", "test", device=device)
    net = FMNISTClassifier().to(device)
    fast_layout(net)   # channels_last convolutions on a CPU: about a third less time per step
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)

    def step(batch):
        x, y = batch
        if augment:                                           # one random translation per batch
            shift = torch.randint(-2, 3, (2,)).tolist()
            x = torch.roll(F.pad(x, (2, 2, 2, 2)), shifts=shift, dims=(2, 3))[:, :, 2:30, 2:30]
        loss = F.cross_entropy(net.logits(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        return {"loss": loss}

    t0 = time.perf_counter()
    train(step, (train_set.images, train_set.labels), steps=steps, batch_size=batch_size, seed=seed,
          state={}, desc="feature classifier (once)", progress=progress,
          precision="fp32")   # the yardstick is trained the same way on every machine
    seconds = time.perf_counter() - t0
    # back to the default layout: features computed now equal those of the net loaded from its file
    net.to(memory_format=torch.contiguous_format).eval()
    info = {"seed": seed, "steps": steps, "batch_size": batch_size, "train_seconds": seconds,
            "test_accuracy": accuracy(net, test_set.images, test_set.labels)}
    return net, info


DEFAULT_STEPS = 1_500


def cache_path(steps: int = DEFAULT_STEPS, *, augment: bool = False, seed: int = 0) -> Path:
    """Cache file of the classifier trained with these settings; the defaults give the metric network's file."""
    suffix = ("_aug" if augment else "") + ("" if steps == DEFAULT_STEPS else f"_{steps}steps") + \
        ("" if seed == 0 else f"_seed{seed}")
    return cache_dir() / "features" / f"{_FILE}{suffix}.pt"


def feature_extractor(device: torch.device | str = "cpu", *, steps: int = DEFAULT_STEPS,
                      retrain: bool = False, augment: bool = False, seed: int = 0) -> FMNISTClassifier:
    """The cached classifier on ``device`` (eval mode, no gradients): loaded, or trained once and saved.

    The defaults give the metric network of the course (FD-FMNIST-CNN, precision and recall). ``steps`` other than
    the default give a quicker, weaker classifier cached under its own name (the smoke profile uses one).
    ``augment=True`` trains with random shifts of up to 2 pixels and ``seed`` changes the initialisation and the
    order of the batches; each combination has its own cache file, so a network for a *training* loss (chapter 5's
    perceptual loss) never replaces the one that grades the models. The checkpoint also holds the seed, steps,
    augmentation, test accuracy and training seconds: see :func:`extractor_info`.
    """
    path = cache_path(steps, augment=augment, seed=seed)
    key = (str(path), str(device))
    if not retrain and key in _loaded:
        return _loaded[key]
    net = FMNISTClassifier().to(device)
    if path.exists() and not retrain:
        load_state(net, load_checkpoint(path, map_location=device)["model"], path)
    else:
        if augment or seed != 0:
            net, info = train_classifier(device, steps=steps, augment=augment, seed=seed)
        else:      # the metric network: the call that tests replace by a stub, kept as it was
            net, info = train_classifier(device, steps=steps)
        info["augment"] = augment
        if steps == DEFAULT_STEPS and not augment and seed == 0 and info["test_accuracy"] < 0.9:
            raise RuntimeError(f"the feature classifier reached only {info['test_accuracy']:.3f} test accuracy "
                               "(expected >= 0.90); delete the cache folder and retry, or report a bug.")
        save_checkpoint(path, {"model": net.state_dict(), "info": info})
    net.eval().requires_grad_(False)
    _loaded[key] = net
    return net


def extractor_info(steps: int = DEFAULT_STEPS, *, augment: bool = False, seed: int = 0) -> dict:
    """Seed, steps, test accuracy and training seconds of the cached classifier (trains it if missing)."""
    path = cache_path(steps, augment=augment, seed=seed)
    if not path.exists():
        feature_extractor("cpu", steps=steps, augment=augment, seed=seed)
    return {"augment": False} | dict(load_checkpoint(path)["info"])


# Chapter 5's perceptual network (the VQ-GAN's "coach"): a second classifier, trained with random shifts and another
# seed than the metric network (seed 0, no shifts) that grades the models in chapter 7. The one place for its
# settings: chapters 5, 6 and 7 and the VQ-GAN and latent diffusion stand-ins of ``model_zoo`` use these (it coaches
# the VQ-GAN's decoder and the latent diffusion model's autoencoder).
PERCEPTUAL_SEED = 1


def perceptual_steps(profile: Profile | None = None) -> int:
    """Training steps of chapter 5's perceptual network in ``profile`` (default: the active one)."""
    return (profile or get_profile()).pick(smoke=150, book=500, full=1_500)


def perceptual_network(device: torch.device | str, profile: Profile | None = None) -> FMNISTClassifier:
    """Chapter 5's perceptual network on ``device``: cached in a file of its own, trained once if missing.
    Never the metric network: a network a model is trained against must not be the one that grades it."""
    return feature_extractor(device, steps=perceptual_steps(profile), augment=True, seed=PERCEPTUAL_SEED)
