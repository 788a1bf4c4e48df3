"""Every exercise checker accepts its reference solution and rejects at least three plausible wrong solutions, each
with a message that names the mistake (and no two mistakes with the same message). A checker added to
``genviz_utils.exercises`` without its cases in ``tests/checker_cases_<module>.py`` fails here."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest
from checker_cases import Case

import genviz_utils.exercises as exercises
from genviz_utils.exercises import ExerciseFailed

MODULES = sorted(m.name for m in pkgutil.iter_modules(exercises.__path__))

# The catalogue: every checker of every chapter. A checker added to genviz_utils.exercises must be listed here and
# given its cases in tests/checker_cases_<module>.py.
CATALOGUE = {
    "ae": ["check_per_image_error", "check_principal_angles", "check_pca_reconstruct", "check_score_from_denoiser"],
    "vae": ["check_gaussian_kl", "check_reparameterize", "check_iwae", "check_grid_log_evidence"],
    "vqvae": ["check_quantize", "check_straight_through", "check_vq_loss", "check_perplexity"],
    "gan": ["check_optimal_discriminator", "check_nonsaturating_loss", "check_count_modes", "check_power_iteration"],
    "vqgan": ["check_hinge_losses", "check_perceptual_loss", "check_adaptive_weight", "check_top_k"],
    "metrics": ["check_frechet_distance", "check_precision", "check_psnr", "check_fd_bias",
                "check_judge_fd"],
    "diffusion": ["check_q_sample", "check_eps_loss", "check_ddim_step", "check_guidance"],
}


def _checkers(module_name: str) -> dict[str, object]:
    mod = importlib.import_module(f"genviz_utils.exercises.{module_name}")
    return {n: f for n, f in inspect.getmembers(mod, inspect.isfunction)
            if n.startswith("check_") and f.__module__ == mod.__name__}


def _cases(module_name: str) -> list[Case]:
    try:
        return importlib.import_module(f"checker_cases_{module_name}").CASES
    except ModuleNotFoundError:
        return []


ALL = [(m, c) for m in MODULES for c in _cases(m)]


def test_the_catalogue_lists_every_checker():
    assert sorted(CATALOGUE) == MODULES, "add the new exercise module to CATALOGUE"
    for m in MODULES:
        assert sorted(CATALOGUE[m]) == sorted(_checkers(m)), f"CATALOGUE[{m!r}] must list exactly its checkers"


@pytest.mark.parametrize("module_name", MODULES)
def test_every_checker_has_cases(module_name):
    covered = {c.checker.__name__ for c in _cases(module_name)}
    missing = sorted(set(_checkers(module_name)) - covered)
    assert not missing, f"add cases for {missing} to tests/checker_cases_{module_name}.py"


@pytest.mark.parametrize("module_name, case", ALL, ids=[f"{m}.{c.checker.__name__}" for m, c in ALL])
def test_reference_passes_and_wrong_answers_are_named(module_name, case, capsys):
    assert case.checker(*case.reference), "the reference solution must pass"
    for args in case.also_right:
        assert case.checker(*args), "another correct solution must pass"
    assert len(case.wrong) >= 3, f"{case.checker.__name__}: give at least three plausible wrong answers"
    messages = {}
    for w in case.wrong:
        with pytest.raises(ExerciseFailed) as err:
            case.checker(*w.args)
        msg = str(err.value)
        assert re.search(w.message, msg, re.IGNORECASE | re.DOTALL), (
            f"{case.checker.__name__} rejected '{w.mistake}' with {msg!r}, which does not match {w.message!r}")
        messages[w.mistake] = msg
    assert len(set(messages.values())) == len(messages), (
        f"{case.checker.__name__}: two mistakes get the same message: {messages}")
    capsys.readouterr()
