"""Chapter 1's checkers: reference solutions and plausible wrong ones (see tests/checker_cases.py)."""

import torch
from checker_cases import Case, Wrong

from genviz_utils.exercises.ae import (
    check_pca_reconstruct,
    check_per_image_error,
    check_principal_angles,
    check_score_from_denoiser,
)


def _angles(A, B, qr_a=True, qr_b=True, unit=False, arccos=True, degrees=True, ascending=True):
    """Principal angles, with switches for the usual slips."""
    if unit:
        A, B = A / A.norm(dim=0), B / B.norm(dim=0)
    if qr_a:
        A = torch.linalg.qr(A)[0]
    if qr_b:
        B = torch.linalg.qr(B)[0]
    t = torch.linalg.svdvals(A.T @ B).clamp(-1, 1)
    if arccos:
        t = torch.arccos(t)
        t = torch.rad2deg(t) if degrees else t
    return t.sort(descending=not ascending).values


def _pca(x, k, centre="columns", add_back=True, directions="top"):
    """Rank-k PCA reconstruction, with switches for the usual slips."""
    m = {"columns": x.mean(0), "none": torch.zeros_like(x[0]), "scalar": x.mean()}[centre]
    vt = torch.linalg.svd(x - m, full_matrices=False)[2]
    V = {"top": vt[:k].T, "smallest": vt[-k:].T, "columns": vt[:, :k]}[directions]
    r = (x - m) @ V @ V.T
    return r + m if add_back else r


def _angles_unclamped(A, B):
    """Right up to rounding, but arccos of a cosine a hair above 1 is NaN."""
    Qa, Qb = torch.linalg.qr(A)[0], torch.linalg.qr(B)[0]
    return torch.rad2deg(torch.arccos(torch.linalg.svdvals(Qa.T @ Qb))).sort().values


def _pca_lowrank(x, k):
    """torch.pca_lowrank's randomized directions (seeded so that the case is reproducible)."""
    torch.manual_seed(0)
    V = torch.pca_lowrank(x, q=k)[2]
    m = x.mean(0)
    return m + (x - m) @ V @ V.T


def _score(d, x, s, per_image_view=True, power=2, sign=1.0):
    """Tweedie's score estimate (d - x) / sigma^2, with switches for the usual slips."""
    s = torch.as_tensor(s, dtype=x.dtype)
    if s.ndim == 1 and per_image_view:
        s = s.view(-1, 1, 1, 1)
    return sign * (d - x) / s ** power


def _score_first_sigma(d, x, s):
    """One noise level for the whole batch: sigma[0] where sigma is a tensor."""
    s = torch.as_tensor(s, dtype=x.dtype)
    return (d - x) / (s.flatten()[0] ** 2)


def _sq(x, y):
    return ((x - y) ** 2).flatten(1)


CASES = [
    Case(check_per_image_error, (lambda x, y: _sq(x, y).sum(1),), [
        Wrong("mean over pixels", (lambda x, y: _sq(x, y).mean(1),), "784 times too small"),
        Wrong("the norm, not its square", (lambda x, y: (x - y).flatten(1).norm(dim=1),), "asks for its square"),
        Wrong("root mean square error", (lambda x, y: _sq(x, y).mean(1).sqrt(),), "root mean square error"),
        Wrong("reduced over the batch too", (lambda x, y: _sq(x, y).sum(),), "keep the batch axis"),
        Wrong("absolute differences", (lambda x, y: (x - y).abs().flatten(1).sum(1),), "absolute differences"),
        Wrong("a factor 1/2", (lambda x, y: 0.5 * _sq(x, y).sum(1),), "drop the factor 1/2"),
        Wrong("summed over the batch axis, not the pixels", (lambda x, y: _sq(x, y).sum(0),),
              r"shape \(784,\), expected \(6,\)"),
    ], also_right=[(lambda x, y: ((x - y) ** 2).sum(dim=(1, 2, 3)),),
                   (lambda x, y: torch.nn.functional.mse_loss(y, x, reduction="none").sum(dim=(1, 2, 3)),)]),
    Case(check_principal_angles, (_angles,), [
        Wrong("no orthonormalisation", (lambda a, b: _angles(a, b, qr_a=False, qr_b=False),),
              "SVD of A\\^T B itself.*Orthonormalise each matrix"),
        Wrong("only A orthonormalised", (lambda a, b: _angles(a, b, qr_b=False),), "only A: orthonormalise B too"),
        Wrong("only B orthonormalised", (lambda a, b: _angles(a, b, qr_a=False),), "only B: orthonormalise A too"),
        Wrong("columns normalised, not orthogonalised",
              (lambda a, b: _angles(a, b, qr_a=False, qr_b=False, unit=True),), "unit-length columns are not enough"),
        Wrong("cosines, no arccos", (lambda a, b: _angles(a, b, arccos=False),), "returned the cosines"),
        Wrong("radians", (lambda a, b: _angles(a, b, degrees=False),), "in radians"),
        Wrong("sorted descending", (lambda a, b: _angles(a, b, ascending=False),), "not sorted ascending"),
        Wrong("NaN everywhere", (lambda a, b: torch.full((a.shape[1],), float("nan")),),
              "NaN: arccos got a cosine outside"),
        Wrong("arccos without clamping the cosines", (_angles_unclamped,),
              r"same subspace you returned NaN.*Clamp the cosines to \[-1, 1\]"),
    ], also_right=[(lambda a, b: _angles(b, a),),
                   (lambda a, b: _angles(a.float(), b.float()),),   # float32 throughout
                   (lambda a, b: torch.rad2deg(torch.arccos(torch.linalg.svdvals(
                       torch.linalg.qr(a)[0].T @ torch.linalg.qr(b)[0]).clamp(-1, 1))),)]),  # ascending already
    Case(check_pca_reconstruct, (_pca,), [
        Wrong("not centred", (lambda x, k: _pca(x, k, centre="none"),), "did not centre"),
        Wrong("mean not added back", (lambda x, k: _pca(x, k, add_back=False),), "forgot to add the mean back"),
        Wrong("one grand mean", (lambda x, k: _pca(x, k, centre="scalar"),), "mean of all entries"),
        Wrong("smallest directions from svd", (lambda x, k: _pca(x, k, directions="smallest"),),
              "smallest variance"),
        Wrong("columns of Vt", (lambda x, k: _pca(x, k, directions="columns"),), "columns of Vt"),
        Wrong("one direction too few", (lambda x, k: _pca(x, k - 1),), "only k - 1 directions"),
        Wrong("the first direction skipped", (lambda x, k: _pca(x, k + 1) - _pca(x, 1) + x.mean(0),),
              "skipped the first principal direction"),
        Wrong("one direction too many", (lambda x, k: _pca(x, k + 1),), "keep exactly k directions"),
        Wrong("torch.pca_lowrank (randomized, approximate)", (_pca_lowrank,), "torch.pca_lowrank is randomized"),
    ], also_right=[(lambda x, k: _pca(x.float(), k),)]),
    Case(check_score_from_denoiser, (_score,), [
        Wrong("the sign flipped", (lambda d, x, s: _score(d, x, s, sign=-1.0),), "wrong sign"),
        Wrong("divided by sigma, not sigma^2", (lambda d, x, s: _score(d, x, s, power=1),), "divided by sigma:"),
        Wrong("no division", (lambda d, x, s: d - x,), "without dividing by sigma"),
        Wrong("divided by 2 sigma^2", (lambda d, x, s: _score(d, x, s) / 2,), "divided by 2 sigma"),
        Wrong("the denoised image returned", (lambda d, x, s: d,), "returned the denoised image"),
        Wrong("a (B,) sigma without reshape", (lambda d, x, s: _score(d, x, s, per_image_view=False),),
              r"without a reshape.*view\(-1, 1, 1, 1\)"),
        Wrong("sigma[0] for every image", (_score_first_sigma,), r"one noise level \(sigma\[0\]\)"),
        Wrong("-x_noisy / sigma^2, the score of pure noise N(0, sigma^2), ignoring the denoiser",
              (lambda d, x, s: -x / torch.as_tensor(s, dtype=x.dtype).reshape(-1, 1, 1, 1) ** 2,),
              "differs from the reference"),
    ], also_right=[(lambda d, x, s: (d - x) * torch.as_tensor(s, dtype=x.dtype).reshape(-1, 1, 1, 1) ** -2,),
                   (lambda d, x, s: _score(d.float(), x.float(), s),)]),
]
