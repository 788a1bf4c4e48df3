"""Metrics of chapter 7: Frechet distance, k-NN precision/recall, PSNR, the feature classifier, the checkers."""

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

from genviz_utils.data import load_images
from genviz_utils.exercises import ExerciseFailed
from genviz_utils.exercises.metrics import check_frechet_distance, check_precision, check_psnr
from genviz_utils.features import FMNISTClassifier, accuracy, embed, feature_extractor, train_classifier
from genviz_utils.metrics import (
    fd_from_features,
    frechet_distance,
    gaussian_stats,
    knn_radii,
    mse,
    precision_recall,
    psnr,
)

# The accuracy test uses the real cache (read before the autouse fixture redirects it): trained once, then reused.
_REAL_CACHE = os.environ.get("GENVIZ_CACHE", str(Path.home() / ".cache" / "genviz"))


def _scipy_fd(mu1, c1, mu2, c2):
    covmean = scipy.linalg.sqrtm(c1 @ c2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.trace(covmean))


def test_frechet_matches_scipy_on_gaussian_features():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2000, 16, generator=g, dtype=torch.float64) @ torch.randn(16, 16, generator=g, dtype=torch.float64)
    b = torch.randn(1500, 16, generator=g, dtype=torch.float64) @ torch.randn(16, 16, generator=g, dtype=torch.float64)
    b = b + 0.5
    ours = fd_from_features(a, b)
    (mu1, c1), (mu2, c2) = gaussian_stats(a), gaussian_stats(b)
    ref = _scipy_fd(mu1.numpy(), c1.numpy(), mu2.numpy(), c2.numpy())
    assert ours == pytest.approx(ref, rel=1e-6)
    assert fd_from_features(a, a) == pytest.approx(0.0, abs=1e-6)


def test_frechet_closed_forms_and_symmetry():
    d = 5
    # equal covariances: only the means count
    assert frechet_distance(torch.zeros(d), torch.eye(d), torch.ones(d), torch.eye(d)) == pytest.approx(d)
    # isotropic: d (s1 - s2)^2
    assert frechet_distance(torch.zeros(d), 4 * torch.eye(d), torch.zeros(d), torch.eye(d)) == pytest.approx(d)
    g = torch.Generator().manual_seed(1)
    A, B = torch.randn(d, d, generator=g, dtype=torch.float64), torch.randn(d, d, generator=g, dtype=torch.float64)
    m1, m2 = torch.randn(d, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64)
    c1, c2 = A @ A.T, B @ B.T
    assert frechet_distance(m1, c1, m2, c2) == pytest.approx(frechet_distance(m2, c2, m1, c1), rel=1e-9)
    # a singular covariance (rank 1) stays finite and non-negative
    v = torch.randn(d, 1, generator=g, dtype=torch.float64)
    assert 0 <= frechet_distance(m1, v @ v.T, m1, v @ v.T) < 1e-6


def test_gaussian_stats_needs_more_samples_than_dims():
    with pytest.raises(ValueError, match="more samples than feature dimensions"):
        gaussian_stats(torch.randn(10, 64))


def _mixture(n, modes, g, centers):
    idx = torch.tensor(modes)[torch.randint(0, len(modes), (n,), generator=g)]
    return centers[idx] + 0.3 * torch.randn(n, centers.shape[1], generator=g, dtype=torch.float64)


def test_precision_recall_identical_disjoint_and_mode_dropping():
    g = torch.Generator().manual_seed(0)
    centers = 5 * torch.randn(10, 8, generator=g, dtype=torch.float64)
    real = _mixture(600, range(10), g, centers)
    assert precision_recall(real, real.clone()) == (1.0, 1.0)
    p, r = precision_recall(real, _mixture(600, range(10), g, centers))     # a fresh sample of the same law
    assert p > 0.75 and r > 0.75
    assert precision_recall(real, real + 1000.0) == (0.0, 0.0)              # disjoint, far away
    p, r = precision_recall(real, _mixture(600, [0, 1, 2], g, centers))     # only 3 of 10 modes
    assert p > 0.85 and r < 0.45, (p, r)


def test_knn_radii_excludes_the_point_itself():
    x = torch.tensor([[0.0], [1.0], [3.0]])
    assert torch.allclose(knn_radii(x, k=1), torch.tensor([1.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="k must be"):
        knn_radii(x, k=3)


def test_mse_psnr():
    x = torch.zeros(2, 1, 4, 4)
    assert mse(x, x + 0.1) == pytest.approx(0.01)
    assert psnr(x, x + 0.1) == pytest.approx(20.0)
    assert psnr(x, x) == math.inf
    with pytest.raises(ValueError, match="shapes differ"):
        mse(x, x[:1])


def test_classifier_layers_and_input_checks():
    net = FMNISTClassifier().eval()
    x = torch.rand(3, 1, 28, 28)
    c1, c2, c3, f = net.features(x, ["conv1", "conv2", "conv3", "fc"])
    assert c1.shape == (3, 32, 14, 14) and c2.shape == (3, 64, 7, 7) and c3.shape[0] == 3 and f.shape == (3, 64)
    assert torch.allclose(net(x), f)
    assert [t.shape for t in net.features(x, ["conv2", "conv1"])] == [c2.shape, c1.shape]
    with pytest.raises(ValueError, match="unknown layer"):
        net.features(x, ["pool5"])
    with pytest.raises(ValueError, match="\\(x \\+ 1\\) / 2"):
        embed(net, 2 * x - 1)


def test_feature_extractor_trains_once_and_caches(monkeypatch):
    import genviz_utils.features as features

    calls = []

    def fake_train(device, steps):
        calls.append(device)
        net, info = train_classifier(device, steps=3, batch_size=16, n_train=64, progress=False)
        return net, info | {"test_accuracy": 0.95}

    monkeypatch.setattr(features, "train_classifier", fake_train)
    monkeypatch.setattr(features, "_loaded", {})
    a = feature_extractor("cpu")
    monkeypatch.setattr(features, "_loaded", {})
    b = feature_extractor("cpu")                      # from the file, not trained again
    assert len(calls) == 1 and features.cache_path().exists()
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert features.extractor_info()["seed"] == 0
    assert not any(p.requires_grad for p in b.parameters())


def test_feature_classifier_accuracy_and_fd_sanity(monkeypatch):
    """The cached classifier (trained once, ~1 min, then reused) reaches >= 90% test accuracy, and its FD
    behaves: a split against itself ~0, train vs test small, noise and a repeated image large."""
    monkeypatch.setenv("GENVIZ_CACHE", _REAL_CACHE)
    net = feature_extractor("cpu")
    test = load_images("fashion-mnist", "test")
    assert accuracy(net, test.images, test.labels) >= 0.90
    train = load_images("fashion-mnist", "train", limit=2000)
    f_train, f_test = embed(net, train.images), embed(net, test.images[:2000])
    assert fd_from_features(f_test, f_test) < 1e-6
    d_split = fd_from_features(f_train, f_test)
    d_noise = fd_from_features(f_train, embed(net, torch.rand(2000, 1, 28, 28)))
    repeated = test.images[:1].repeat(2000, 1, 1, 1) + 0.01 * torch.rand(2000, 1, 28, 28)
    d_repeat = fd_from_features(f_train, embed(net, repeated.clamp(0, 1)))
    assert d_split * 10 < min(d_noise, d_repeat), (d_split, d_noise, d_repeat)


def _ref_fd(mu1, c1, mu2, c2):
    return frechet_distance(mu1, c1, mu2, c2)


def test_checkers_accept_references_and_reject_mistakes():
    assert check_frechet_distance(_ref_fd)
    with pytest.raises(ExerciseFailed, match="square root"):      # forgot the sqrt of the product
        check_frechet_distance(lambda m1, c1, m2, c2: float(((m1 - m2) ** 2).sum()
                                                            + torch.trace(c1 + c2 - 2 * c1 @ c2)))
    with pytest.raises(ExerciseFailed, match="squared"):          # distance of means not squared
        check_frechet_distance(lambda m1, c1, m2, c2: _ref_fd(m1, c1, m2, c2) - float(((m1 - m2) ** 2).sum())
                               + float((m1 - m2).norm()))

    def my_precision(real, fake, k=3):
        return precision_recall(real, fake, k)[0]

    assert check_precision(my_precision)
    with pytest.raises(ExerciseFailed, match="itself"):           # k-th neighbour counted the point itself
        check_precision(lambda r, f, k=3: float((torch.cdist(f, r) <= torch.cdist(r, r).kthvalue(k, 1).values)
                                                .any(1).double().mean()))
    with pytest.raises(ExerciseFailed, match="recall"):           # roles swapped
        check_precision(lambda r, f, k=3: precision_recall(r, f, k)[1])

    assert check_psnr(psnr)
    with pytest.raises(ExerciseFailed, match="10"):
        check_psnr(lambda x, y: 20 * math.log10(1 / mse(x, y)))
    with pytest.raises(ExerciseFailed, match="NotImplementedError"):
        check_psnr(lambda x, y: (_ for _ in ()).throw(NotImplementedError))


def test_model_zoo_stand_ins_and_samplers(tmp_path, monkeypatch):
    from genviz_utils import features
    from genviz_utils import model_zoo as zoo
    from genviz_utils.profiles import get_profile

    x = load_images("fashion-mnist", "train", limit=256).images
    ae = zoo.load_ae(tmp_path, x, 2, "cpu")
    vae = zoo.load_vae(tmp_path, torch.bernoulli(x), 2, "cpu")
    vq = zoo.load_vqvae(tmp_path, x, 2, 2, "cpu")
    gan = zoo.load_gan(tmp_path, x, 2, "cpu")
    asked = []                            # the VQ-GAN stand-in's coach must be chapter 5's, not the metric network
    monkeypatch.setattr(features, "feature_extractor", lambda device, **kw: asked.append(kw) or
                        FMNISTClassifier().eval().requires_grad_(False))   # untrained: only the plumbing is tested
    vqgan = zoo.load_vqgan(tmp_path, x, vq.model, 3, 2, "cpu")
    assert asked == [{"steps": zoo.perceptual_steps(), "augment": True, "seed": 1}]
    assert zoo.perceptual_steps is features.perceptual_steps and zoo.perceptual_network is features.perceptual_network
    assert [features.perceptual_steps(get_profile(p)) for p in ("smoke", "book", "full")] == [150, 500, 1_500]
    assert features.PERCEPTUAL_SEED == 1
    assert all("stand-in" in m.source and m.train_seconds > 0 for m in (ae, vae, vq, gan, vqgan))
    assert vqgan.model.num_codes == vq.model.num_codes and (tmp_path / "vqgan_quick_v3.pt").exists()
    assert (tmp_path / "gan_quick_v3.pt").exists() and not (tmp_path / "gan.pt").exists()
    assert not (tmp_path / "gan_quick_v2.pt").exists()       # an older stand-in's file is never written (or reused)
    assert all(not m.model.training for m in (ae, vae, vq, gan, vqgan)) and not vq.prior.training
    mean, chol = zoo.fit_code_gaussian(ae.model, x)
    for imgs in (zoo.sample_ae_gaussian(ae.model, mean, chol, 5), zoo.sample_vae(vae.model, 5),
                 zoo.sample_vqvae(vq.model, vq.prior, 5), zoo.sample_gan(gan.model, 5, temperature=0.5),
                 zoo.sample_vqvae(vqgan.model, vqgan.prior, 5)):
        assert imgs.shape == (5, 1, 28, 28) and 0 <= imgs.min() and imgs.max() <= 1
    assert zoo.load_ae(tmp_path, x, 2, "cpu").source.startswith("quick")   # reloaded, not retrained


def test_bench_counts_flops_and_steps():
    from genviz_utils import bench

    x = torch.rand(8, 1, 28, 28)
    for name in ("ae", "vae", "vqvae", "gan"):
        step = bench.make_step(name, torch.device("cpu"))
        assert bench.step_flops(step, x) > 1e6, name
    assert bench.peak_gflops(torch.device("cpu"), n=128, seconds=0.05) > 0
    course = bench.make_step("vqvae", torch.device("cpu"), fast=True, precision="bf16")
    course(x)                                # the quantizer keeps fp32 under autocast (index_put used to fail)
    step, batches = bench.prior_step(torch.device("cpu"), "bf16")
    step(next(batches))
    with pytest.raises(ValueError, match="unknown model"):
        bench.make_step("diffusion", torch.device("cpu"))


def test_bench_run_writes_the_promised_fields(tmp_path):
    from genviz_utils import bench

    out = tmp_path / "bench.json"
    bench.main(["--models", "ae", "--seconds", "0.2", "--sweep", "16", "--no-fresh", "--out", str(out)])
    result = json.loads(out.read_text())
    m = result["models"]["ae"]
    assert m["fresh_process"] is None and m["speedup"] == m["speedup_in_process"]
    assert set(m["ladder"]) == {"tutorial", "resident", "channels_last", "course"} and m["batch_size"] == 128
    assert m["img_s"] == m["ladder"]["course"] and m["baseline_img_s"] == m["ladder"]["tutorial"]
    assert m["speedup"] == pytest.approx(m["img_s"] / m["baseline_img_s"])
    assert 0 < m["utilization"] < 1.5 and result["peak_gflops"] > 1
    assert set(result["batch_sweep"]["rows"]) == {"16"}
    assert 0 < sum(m["top_ops"].values()) <= 1 + 1e-9 and any("conv" in op for op in m["top_ops"])
    alone = bench.fresh_process("ae", 0.2, rounds=1)          # two new processes, one per pipeline
    assert alone["tutorial"] > 0 and alone["course"] > 0 and alone["speedup"] == alone["course"] / alone["tutorial"]


def test_mmd2_biased_exceeds_the_unbiased_by_the_diagonals():
    """The V-statistic (unbiased=False) adds (1/m)(mean diagonal - mean off-diagonal) of each set's kernel matrix."""
    from genviz_utils.metrics import mmd2, poly_kernel

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 8, generator=g, dtype=torch.float64), torch.randn(30, 8, generator=g, dtype=torch.float64)

    def excess(a):
        k = poly_kernel(a, a)
        return (k.diagonal().mean() - (k.sum() - k.diagonal().sum()) / (30 * 29)) / 30

    gap = mmd2(x, y, unbiased=False) - mmd2(x, y)
    assert torch.isclose(gap, excess(x) + excess(y), rtol=1e-10)
    assert gap > 0                                   # the biased estimate leans high for equal laws
