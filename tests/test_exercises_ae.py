import pytest
import torch

from genviz_utils.exercises import ExerciseFailed, call, expect_tensor
from genviz_utils.exercises.ae import check_pca_reconstruct, check_per_image_error, check_principal_angles


def test_core_helpers():
    assert issubclass(ExerciseFailed, AssertionError)

    def todo(x):
        raise NotImplementedError

    with pytest.raises(ExerciseFailed, match="NotImplementedError"):
        call(todo, 1, name="f")
    with pytest.raises(ExerciseFailed, match=r"shape \(2,\), expected \(3,\)"):
        expect_tensor(torch.zeros(2), (3,), "f")


def test_per_image_error():
    assert check_per_image_error(lambda x, y: ((x - y) ** 2).flatten(1).sum(1))
    with pytest.raises(ExerciseFailed, match="784 times too small"):
        check_per_image_error(lambda x, y: ((x - y) ** 2).flatten(1).mean(1))
    with pytest.raises(ExerciseFailed, match="square"):
        check_per_image_error(lambda x, y: (x - y).flatten(1).norm(dim=1))
    with pytest.raises(ExerciseFailed, match="batch axis"):
        check_per_image_error(lambda x, y: ((x - y) ** 2).sum())


def _angles(a, b, deg=True, sort=True, qr=True):
    if qr:
        a, b = torch.linalg.qr(a)[0], torch.linalg.qr(b)[0]
    t = torch.arccos(torch.linalg.svdvals(a.T @ b).clamp(-1, 1))
    t = torch.rad2deg(t) if deg else t
    return t.sort().values if sort else t


def test_principal_angles():
    assert check_principal_angles(_angles)
    with pytest.raises(ExerciseFailed, match="radians"):
        check_principal_angles(lambda a, b: _angles(a, b, deg=False))
    with pytest.raises(ExerciseFailed, match="not sorted"):
        check_principal_angles(lambda a, b: _angles(a, b).flip(0))
    with pytest.raises(ExerciseFailed, match="Orthonormalise"):
        check_principal_angles(lambda a, b: _angles(a, b, qr=False))


def _pca(x, k, centre=True, add_back=True):
    m = x.mean(0) if centre else torch.zeros_like(x[0])
    v = torch.linalg.svd(x - m, full_matrices=False)[2][:k].T
    r = (x - m) @ v @ v.T
    return r + m if add_back else r


def test_pca_reconstruct():
    assert check_pca_reconstruct(_pca)
    with pytest.raises(ExerciseFailed, match="did not centre"):
        check_pca_reconstruct(lambda x, k: _pca(x, k, centre=False))
    with pytest.raises(ExerciseFailed, match="add the mean back"):
        check_pca_reconstruct(lambda x, k: _pca(x, k, add_back=False))
    with pytest.raises(ExerciseFailed, match="above PCA"):
        check_pca_reconstruct(lambda x, k: _pca(x, 1))
