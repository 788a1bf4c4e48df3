"""genviz_utils.claims: a claim passes only when its value meets the bar and its wrong alternative does not."""

import math

import pytest

from genviz_utils.claims import ClaimFailed, claim


def test_claim_passes_and_prints_value_bar_and_control(capsys):
    assert claim("learned D's error", 0.028, "<", 0.05, wrong="constant D = 1/2", wrong_value=0.122) is None
    assert capsys.readouterr().out == (
        "\u2713 learned D's error: 0.028 < 0.05; constant D = 1/2 gets 0.122, which fails the bar\n")


@pytest.mark.parametrize("op, value, wrong", [("<", 1, 3), ("<=", 2, 3), (">", 3, 1), (">=", 2, 1)])
def test_every_operator(op, value, wrong):
    claim("x", value, op, 2, wrong="w", wrong_value=wrong)


def test_a_false_claim_raises():
    with pytest.raises(ClaimFailed, match=r"^x is 0\.3, not < 0\.05$"):
        claim("x", 0.3, "<", 0.05, wrong="w", wrong_value=1.0)


def test_a_control_that_passes_too_is_not_a_check():
    expected = r"^not a check: the wrong alternative \(w\) gets 0\.01, which passes < 0\.05 too$"
    with pytest.raises(ClaimFailed, match=expected):
        claim("x", 0.02, "<", 0.05, wrong="w", wrong_value=0.01)


def test_nan_never_passes_and_a_nan_control_fails():
    with pytest.raises(ClaimFailed):
        claim("x", math.nan, "<", 1.0, wrong="w", wrong_value=2.0)
    claim("x", 0.5, "<", 1.0, wrong="w", wrong_value=math.nan)


def test_not_enforced_prints_the_problem(capsys):
    assert claim("x", 0.3, "<", 0.05, wrong="w", wrong_value=1.0, enforce=False) is None
    out = capsys.readouterr().out
    assert out.startswith("- x: 0.3 < 0.05; w gets 1") and "not enforced in this profile: x is 0.3" in out


def test_unknown_operator():
    with pytest.raises(ValueError, match="op must be one of"):
        claim("x", 1, "==", 1, wrong="w", wrong_value=2)
