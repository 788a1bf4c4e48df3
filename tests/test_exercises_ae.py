"""Exercise checkers: the shared core and chapter 1's three checkers."""

import pytest
import torch

from genviz_utils.exercises import ExerciseFailed, Passed, call, expect_close, expect_tensor, passed
from genviz_utils.exercises.ae import (
    check_pca_reconstruct,
    check_per_image_error,
    check_principal_angles,
    check_score_from_denoiser,
)

# --- core ------------------------------------------------------------------------------------------------


def test_exercise_failed_is_an_assertion_error_with_a_short_traceback():
    assert issubclass(ExerciseFailed, AssertionError)
    assert ExerciseFailed("bad")._render_traceback_() == ["\u2717 Not yet: bad"]


def test_passed_is_truthy_and_prints(capsys):
    p = passed("f", "k=3")
    assert isinstance(p, Passed) and bool(p) and repr(p) == "Passed('f')"
    assert capsys.readouterr().out == "\u2713 f: correct (k=3).\n"
    passed("g")
    assert capsys.readouterr().out == "\u2713 g: correct.\n"


def test_call_returns_the_value():
    assert call(lambda a, b: a + b, 2, 3, name="add") == 5


def test_call_turns_not_implemented_into_a_clear_message():
    def todo(x):
        raise NotImplementedError

    with pytest.raises(ExerciseFailed) as err:
        call(todo, 1, name="my_fn")
    assert str(err.value) == "my_fn still raises NotImplementedError: replace it with your code."
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_call_reports_other_errors_in_one_line():
    def broken(x):
        return x @ torch.zeros(3, 3)

    with pytest.raises(ExerciseFailed, match=r"^my_fn raised RuntimeError: .*"):
        call(broken, torch.zeros(2, 2), name="my_fn")


def test_expect_tensor():
    t = torch.zeros(2, 3)
    assert expect_tensor(t, (2, 3), "f") is t
    with pytest.raises(ExerciseFailed, match=r"^f returned shape \(2,\), expected \(3,\)\.$"):
        expect_tensor(torch.zeros(2), (3,), "f")
    with pytest.raises(ExerciseFailed, match=r"^f should return a torch.Tensor, got list\.$"):
        expect_tensor([0.0, 0.0, 0.0], (3,), "f")


def test_expect_close():
    expect_close(torch.ones(3), torch.ones(3) + 1e-7, "f")
    with pytest.raises(ExerciseFailed, match=r"^f differs from the reference by up to 0\.5\. Try harder\.$"):
        expect_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.5]), "f", "Try harder.")
    with pytest.raises(ExerciseFailed, match=r"^f differs from the reference by up to 1\.$"):  # no hint
        expect_close(torch.zeros(2), torch.ones(2), "f")


# --- per_image_error -------------------------------------------------------------------------------------

def test_per_image_error_accepts_correct_answers(capsys):
    assert check_per_image_error(lambda x, y: ((x - y) ** 2).flatten(1).sum(1))
    assert check_per_image_error(lambda x, y: ((x - y) ** 2).sum(dim=(1, 2, 3)))
    assert "per_image_error: correct" in capsys.readouterr().out


@pytest.mark.parametrize("fn, msg", [
    (lambda x, y: ((x - y) ** 2).flatten(1).mean(1), "784 times too small: sum over the pixels, do not average"),
    (lambda x, y: (x - y).flatten(1).norm(dim=1), "norm ||x - x_hat||; the exercise asks for its square"),
    (lambda x, y: ((x - y) ** 2).sum(), "returned one number: reduce over the pixels only, keep the batch axis"),
    (lambda x, y: (x - y).abs().flatten(1).sum(1), "summed the absolute differences.*square the differences"),
    (lambda x, y: 0.5 * ((x - y) ** 2).flatten(1).sum(1), "half the squared error: drop the factor 1/2"),
    (lambda x, y: ((x - y) ** 2).flatten(1).mean(1).sqrt(), "root mean square error per image"),
    (lambda x, y: ((x - y) ** 2).flatten(1).sum(1) + 1.0, "differs from the reference.*Square the differences"),
    (lambda x, y: ((x - y) ** 2).flatten(1).sum(1, keepdim=True), r"shape \(6, 1\), expected \(6,\)"),
    (lambda x, y: ((x - y) ** 2).flatten(1).sum(1).tolist(), "should return a torch.Tensor, got list"),
])
def test_per_image_error_rejects_typical_mistakes(fn, msg):
    with pytest.raises(ExerciseFailed, match=msg.replace("||", r"\|\|")):
        check_per_image_error(fn)


def test_per_image_error_unfinished():
    def todo(x, y):
        raise NotImplementedError

    with pytest.raises(ExerciseFailed, match="per_image_error still raises NotImplementedError"):
        check_per_image_error(todo)


# --- principal_angles ------------------------------------------------------------------------------------

def _angles(a, b, deg=True, sort=True, qr=True):
    if qr:
        a, b = torch.linalg.qr(a)[0], torch.linalg.qr(b)[0]
    t = torch.arccos(torch.linalg.svdvals(a.T @ b).clamp(-1, 1))
    t = torch.rad2deg(t) if deg else t
    return t.sort().values if sort else t


def test_principal_angles_accepts_a_correct_answer():
    assert check_principal_angles(_angles)
    assert check_principal_angles(lambda a, b: _angles(b, a))  # symmetric in its arguments


@pytest.mark.parametrize("fn, msg", [
    (lambda a, b: _angles(a, b, deg=False), "radians; convert them with torch.rad2deg"),
    (lambda a, b: _angles(a, b).flip(0), "not sorted ascending"),
    (lambda a, b: _angles(a, b, qr=False), r"SVD of A\^T B itself.*Orthonormalise each matrix"),
    (lambda a, b: torch.rad2deg(torch.arccos(torch.linalg.svdvals(a.T @ b))), r"SVD of A\^T B itself"),  # no clamp
    (lambda a, b: torch.full((3,), float("nan")), "NaN: arccos got a cosine outside"),
    (lambda a, b: _angles(a, b) + 1.0, "same subspace should give angles of 0, but you got up to 1"),
    (lambda a, b: _angles(a, b) * 1.1, "differs from the reference.*arccos of the singular values"),
    (lambda a, b: _angles(a, b)[:2], r"shape \(2,\), expected \(3,\)"),
])
def test_principal_angles_rejects_typical_mistakes(fn, msg):
    with pytest.raises(ExerciseFailed, match=msg):
        check_principal_angles(fn)


# --- pca_reconstruct -------------------------------------------------------------------------------------

def _pca(x, k, centre=True, add_back=True, smallest=False):
    m = x.mean(0) if centre else torch.zeros_like(x[0])
    vt = torch.linalg.svd(x - m, full_matrices=False)[2]
    v = (vt[-k:] if smallest else vt[:k]).T
    r = (x - m) @ v @ v.T
    return r + m if add_back else r


def _pca_eigh(x, k):
    """The eigh route with its ascending order kept: the k directions of smallest variance."""
    m = x.mean(0)
    v = torch.linalg.eigh((x - m).T @ (x - m))[1][:, :k]
    return m + (x - m) @ v @ v.T


def test_pca_reconstruct_accepts_a_correct_answer(capsys):
    assert check_pca_reconstruct(_pca)
    assert "k=3" in capsys.readouterr().out


@pytest.mark.parametrize("fn, msg", [
    (lambda x, k: _pca(x, k, centre=False), "did not centre the data"),
    (lambda x, k: _pca(x, k, add_back=False), "forgot to add the mean back"),
    (lambda x, k: _pca(x, 1), "above PCA's"),
    (lambda x, k: _pca(x, k, smallest=True), "smallest variance: torch.linalg.svd sorts them largest first"),
    (lambda x, k: _pca_eigh(x, k), "smallest variance.*torch.linalg.eigh smallest first"),
    (lambda x, k: _pca(x, k + 1), "below what any rank-3 reconstruction can reach"),
    (lambda x, k: _pca(x, k) + 1e-3, "differs from the reference"),
    (lambda x, k: _pca(x, k)[:, :2], r"shape \(200, 2\), expected \(200, 10\)"),
])
def test_pca_reconstruct_rejects_typical_mistakes(fn, msg):
    with pytest.raises(ExerciseFailed, match=msg):
        check_pca_reconstruct(fn)


# --- score_from_denoiser ---------------------------------------------------------------------------------

def _score(d, x, s, view=True):
    s = torch.as_tensor(s, dtype=x.dtype)
    return (d - x) / (s.view(-1, 1, 1, 1) if s.ndim == 1 and view else s) ** 2


def test_score_from_denoiser_accepts_a_correct_answer(capsys):
    assert check_score_from_denoiser(_score)
    assert "float and per-image sigma" in capsys.readouterr().out


def test_score_from_denoiser_checks_against_the_exact_score():
    """The checker's data have a known denoiser and noisy score: Tweedie's formula holds to rounding there."""
    from genviz_utils.exercises.ae import _gaussian_pixels

    g = torch.Generator().manual_seed(1)
    sigma = torch.tensor(0.4, dtype=torch.float64)
    denoised, x_noisy, score = _gaussian_pixels(4, sigma, g)
    assert torch.allclose((denoised - x_noisy) / sigma ** 2, score, atol=1e-12)


@pytest.mark.parametrize("fn, msg", [
    (lambda d, x, s: -_score(d, x, s), "wrong sign"),
    (lambda d, x, s: _score(d, x, s) * torch.as_tensor(s, dtype=x.dtype).reshape(-1, 1, 1, 1), "divided by sigma:"),
    (lambda d, x, s: d - x, "without dividing by sigma"),
    (lambda d, x, s: _score(d, x, s, view=False), "broadcast along the image width"),
    (lambda d, x, s: _score(d, x, s) + 1e-3, "differs from the reference"),
    (lambda d, x, s: _score(d, x, s)[:, 0], r"shape \(28, 28, 28\), expected \(28, 1, 28, 28\)"),
    (lambda d, x, s: torch.full_like(x, float("nan")), "NaN or inf"),
])
def test_score_from_denoiser_rejects_typical_mistakes(fn, msg):
    with pytest.raises(ExerciseFailed, match=msg):
        check_score_from_denoiser(fn)
