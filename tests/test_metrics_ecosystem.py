"""Our FD and KID against torchmetrics' (the course's feature network plugged into its metrics), and the
properties of :func:`kid` and :func:`bootstrap_interval` on Gaussians with known answers.

Run with ``-s`` to see the measured relative differences to torchmetrics.
"""

import pytest
import torch
from torch import nn

from genviz_utils.data import load_images
from genviz_utils.features import FEATURE_DIM, FMNISTClassifier, embed
from genviz_utils.metrics import bootstrap_interval, frechet_distance, gaussian_stats, kid

torchmetrics_fid = pytest.importorskip("torchmetrics.image.fid")
torchmetrics_kid = pytest.importorskip("torchmetrics.image.kid")

# torchmetrics' KID warns on construction that it keeps every feature in memory (a few hundred here)
pytestmark = pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance`:UserWarning")

REL = 1e-5


class CourseFeatures(nn.Module):
    """The course's features as a torchmetrics feature extractor: (B, 1, 28, 28) in [0, 1] -> (B, 64) float64.

    ``num_features`` spares torchmetrics' probe, which otherwise calls the module on a dummy (1, 3, 299, 299)
    uint8 image (our network rejects it: it wants grey 28x28); FID's other way out is ``input_img_size=(1, 28, 28),
    normalize=True``. float64 output: FID casts its result to the features' dtype, and KID's kernel is computed in
    it, so float32 features would cap the agreement near 1e-7 relative for reasons that are not the definitions.
    """

    num_features = FEATURE_DIM

    def __init__(self, net: FMNISTClassifier):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).double()


@pytest.fixture(scope="module")
def net() -> FMNISTClassifier:
    """An untrained, seeded classifier (the definitions are compared, which needs no trained network) whose batch
    norms are set to the statistics of 1000 training images: features of order 1, not the tiny ones of fresh
    running statistics, so that the distances compared are not all near 0."""
    torch.manual_seed(0)
    net = FMNISTClassifier()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None                        # cumulative average: one pass sets the batch's statistics
    with torch.no_grad():
        net.train()(load_images("fashion-mnist", "train", limit=1000).images)
    return net.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def image_sets() -> dict[str, torch.Tensor]:
    """Fashion-MNIST images (N, 1, 28, 28) in [0, 1]: real training images, test images (close to them), and a
    "poor generator" (test images blurred and mixed with noise)."""
    g = torch.Generator().manual_seed(0)
    train = load_images("fashion-mnist", "train", limit=400).images
    test = load_images("fashion-mnist", "test", limit=300).images
    blurred = nn.functional.avg_pool2d(test, 3, stride=1, padding=1)
    poor = (0.7 * blurred + 0.3 * torch.rand(test.shape, generator=g)).clamp(0, 1)
    return {"train": train, "test": test, "poor": poor}


def _feed(metric, images: torch.Tensor, real: bool, batch: int = 128) -> None:
    for i in range(0, len(images), batch):             # several updates: exercises torchmetrics' accumulation
        metric.update(images[i:i + batch], real=real)


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


@pytest.mark.parametrize("fake_name", ["test", "poor"])
def test_fd_matches_torchmetrics(net, image_sets, fake_name):
    real, fake = image_sets["train"], image_sets[fake_name]          # 400 vs 300 images
    ours = frechet_distance(*gaussian_stats(embed(net, real)), *gaussian_stats(embed(net, fake)))
    metric = torchmetrics_fid.FrechetInceptionDistance(feature=CourseFeatures(net))
    _feed(metric, real, True)
    _feed(metric, fake, False)
    theirs = float(metric.compute())
    print(f"\nFD train vs {fake_name}: ours {ours:.10g}, torchmetrics {theirs:.10g}, rel diff {_rel(ours, theirs):.2e}")
    assert ours > 0 and ours == pytest.approx(theirs, rel=REL)


@pytest.mark.parametrize("fake_name", ["test", "poor"])
def test_kid_matches_torchmetrics_on_whole_sets(net, image_sets, fake_name):
    """One subset = the whole sets (300 each): torchmetrics' own random draw is then only a permutation, so both
    compute the same number, and both stds are 0."""
    real, fake = image_sets["train"][:300], image_sets[fake_name]
    ours_mean, ours_std = kid(embed(net, real), embed(net, fake), n_subsets=1, subset_size=300)
    metric = torchmetrics_kid.KernelInceptionDistance(feature=CourseFeatures(net), subsets=1, subset_size=300)
    _feed(metric, real, True)
    _feed(metric, fake, False)
    theirs_mean, theirs_std = (float(t) for t in metric.compute())
    print(f"\nKID train vs {fake_name}, whole sets: ours {ours_mean:.10g}, torchmetrics {theirs_mean:.10g}, "
          f"rel diff {_rel(ours_mean, theirs_mean):.2e}")
    assert ours_mean == pytest.approx(theirs_mean, rel=REL)
    assert ours_std == 0 and theirs_std == 0


def test_kid_matches_torchmetrics_on_random_subsets_with_the_same_seed(net, image_sets):
    """Random subsets: torchmetrics 1.9 draws torch.randperm(N), then torch.randperm(M), per subset, from the global
    RNG, as ``kid(generator=None)`` does; the same seed gives the same subsets, which also checks the std's ddof."""
    f_real, f_fake = embed(net, image_sets["train"]), embed(net, image_sets["poor"])
    metric = torchmetrics_kid.KernelInceptionDistance(feature=CourseFeatures(net), subsets=20, subset_size=100)
    _feed(metric, image_sets["train"], True)
    _feed(metric, image_sets["poor"], False)
    torch.manual_seed(123)
    theirs_mean, theirs_std = (float(t) for t in metric.compute())
    torch.manual_seed(123)
    ours_mean, ours_std = kid(f_real, f_fake, n_subsets=20, subset_size=100)
    print(f"\nKID train vs poor, 20 subsets of 100: mean rel diff {_rel(ours_mean, theirs_mean):.2e}, "
          f"std rel diff {_rel(ours_std, theirs_std):.2e} (std {ours_std:.4g})")
    assert ours_mean == pytest.approx(theirs_mean, rel=REL)
    assert ours_std == pytest.approx(theirs_std, rel=REL) and ours_std > 0


def _gaussian(n: int, g: torch.Generator, shift: float = 0.0, d: int = 16) -> torch.Tensor:
    return torch.randn(n, d, generator=g, dtype=torch.float64) + shift


def test_kid_std_is_zero_on_whole_sets_and_positive_on_subsets():
    g = torch.Generator().manual_seed(0)
    a, b = _gaussian(300, g), _gaussian(300, g, 0.3)
    whole = kid(a, b, n_subsets=5, subset_size=300, generator=g)     # every subset is the whole set, permuted
    assert whole[1] < 1e-12 * abs(whole[0])
    assert kid(a, b, n_subsets=5, subset_size=5000, generator=g)[0] == pytest.approx(whole[0])  # capped at 300
    assert kid(a, b, n_subsets=5, subset_size=100, generator=g)[1] > 0
    # the generator makes the subsets reproducible
    assert kid(a, b, 5, 100, torch.Generator().manual_seed(7)) == kid(a, b, 5, 100, torch.Generator().manual_seed(7))


def test_kid_is_near_zero_for_the_same_law_and_rises_with_a_shift():
    g = torch.Generator().manual_seed(0)
    real = _gaussian(1000, g)
    same_law = _gaussian(1000, g)                                    # a fresh sample of the same Gaussian
    for other in (same_law, real[torch.randperm(1000, generator=g)]):   # ... and the set itself, shuffled
        mean, std = kid(real, other, n_subsets=50, subset_size=200, generator=g)
        assert abs(mean) < 3 * std, (mean, std)
    means = [kid(real, _gaussian(1000, g, s), n_subsets=50, subset_size=200, generator=g) for s in (0.1, 0.3, 1.0)]
    assert means[0][0] < means[1][0] < means[2][0], means
    assert means[2][0] > 3 * means[2][1], means


def test_bootstrap_interval_covers_the_truth_and_shrinks_as_one_over_sqrt_n():
    """stat = difference of the first coordinate's means of two Gaussians (true value 0.5): the intervals cover
    it about 95% of the time, and 4x the samples halve their width."""
    def mean_difference(real: torch.Tensor, fake: torch.Tensor) -> float:
        return float(fake[:, 0].mean() - real[:, 0].mean())

    g = torch.Generator().manual_seed(0)
    widths, covered = {200: [], 800: []}, 0
    for _ in range(20):
        for n in widths:
            low, high = bootstrap_interval(mean_difference, _gaussian(n, g, d=2), _gaussian(n, g, 0.5, d=2),
                                           generator=g)
            widths[n].append(high - low)
            covered += n == 200 and low <= 0.5 <= high
    assert covered >= 17, covered                                    # expected 19 of 20; P(<= 16) is about 2%
    ratio = sum(widths[200]) / sum(widths[800])
    print(f"\nbootstrap width at N=200 / N=800: {ratio:.3f} (1/sqrt(N) predicts 2)")
    assert 1.7 < ratio < 2.3, ratio
    # the width itself: 2 * 1.96 * sqrt(2 / N) for two unit-variance means
    assert sum(widths[200]) / 20 == pytest.approx(2 * 1.96 * (2 / 200) ** 0.5, rel=0.15)


def test_bad_inputs_raise_and_name_the_fix():
    x, images = torch.randn(50, 8), torch.rand(50, 1, 28, 28)
    with pytest.raises(ValueError, match=r"embed\(net, images\)"):
        kid(images, images)
    with pytest.raises(ValueError, match="same network and layer"):
        kid(x, torch.randn(50, 9))
    with pytest.raises(ValueError, match="at least 2 rows.*pass more samples"):
        kid(x, x[:1])
    with pytest.raises(ValueError, match="n_subsets"):
        kid(x, x, n_subsets=0)
    stat = lambda a, b: float(a.mean() - b.mean())                 # noqa: E731
    with pytest.raises(ValueError, match=r"embed\(net, images\)"):
        bootstrap_interval(stat, x, images)
    with pytest.raises(ValueError, match="same network and layer"):
        bootstrap_interval(stat, x, torch.randn(50, 9))
    with pytest.raises(ValueError, match="level is a probability"):
        bootstrap_interval(stat, x, x, level=95)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_interval(stat, x, x, n_boot=1)


def test_half_sample_interval_has_the_width_of_the_sampling_spread():
    """The mean difference of two Gaussian sets: the halves' interval has the analytic width 2 * 1.96 * sqrt(2 / N)
    (no scaling), and it is centred on the value on the whole sets."""
    from genviz_utils.metrics import half_sample_interval

    g = torch.Generator().manual_seed(0)
    n = 800
    a, b = torch.randn(n, 1, generator=g, dtype=torch.float64), torch.randn(n, 1, generator=g, dtype=torch.float64)

    def diff(x, y):
        return float(x.mean() - y.mean())

    low, high = half_sample_interval(diff, a, b, n_splits=400, generator=torch.Generator().manual_seed(1))
    width = high - low
    print(f"half-sample width {width:.4f}, analytic {2 * 1.96 * (2 / n) ** 0.5:.4f}")
    assert abs(width / (2 * 1.96 * (2 / n) ** 0.5) - 1) < 0.15
    assert low < diff(a, b) < high


def test_half_sample_interval_of_precision_is_centred_where_the_bootstrap_is_not():
    """Precision of one Gaussian set against another: the bootstrap's copies pull its interval off the value, the
    halves' interval contains it; and its width is of the order of the spread of precision over fresh sets."""
    from genviz_utils.metrics import bootstrap_interval, half_sample_interval, precision_recall

    def precision(real, fake):
        return precision_recall(real, fake)[0]

    g = torch.Generator().manual_seed(0)
    sets = [(torch.randn(300, 8, generator=g), torch.randn(300, 8, generator=g) * 1.1) for _ in range(12)]
    fresh = torch.tensor([precision(r, f) for r, f in sets])
    real, fake = sets[0]
    value = precision(real, fake)
    boot = bootstrap_interval(precision, real, fake, n_boot=40, generator=torch.Generator().manual_seed(1))
    half = half_sample_interval(precision, real, fake, n_splits=40, generator=torch.Generator().manual_seed(1))
    print(f"precision {value:.3f}; bootstrap {boot}; halves {half}; sd over fresh sets {float(fresh.std()):.4f}")
    assert not boot[0] <= value <= boot[1]
    assert half[0] <= value <= half[1]
    assert 0.4 < (half[1] - half[0]) / (2 * 1.96 * float(fresh.std())) < 2.5


def test_half_sample_interval_bounds_hold_both_ends():
    """A statistic at the edge of its range: with bounds, neither end leaves the range."""
    from genviz_utils.metrics import half_sample_interval

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(40, 2, generator=g), torch.randn(40, 2, generator=g)
    low, high = half_sample_interval(lambda x, y: float(x.mean() - y.mean()) * 1e-18, a, b, n_splits=10,
                                     generator=g, bounds=(0.0, 1.0))
    assert 0.0 <= low <= high <= 1.0
