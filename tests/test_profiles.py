import pytest

from genviz_utils.profiles import ProfileError, get_profile


def test_default_is_book_and_env_is_honoured(monkeypatch):
    assert get_profile().name == "book"
    monkeypatch.setenv("GENVIZ_PROFILE", "Smoke ")
    assert get_profile().name == "smoke" and get_profile().is_smoke


def test_pick_returns_the_active_budget():
    assert get_profile("full").pick(smoke=1, book=2, full=3) == 3
    assert get_profile("smoke").pick(smoke=1, book=2, full=3) == 1


def test_unknown_profile_names_the_choices(monkeypatch):
    with pytest.raises(ProfileError, match="smoke, book, full"):
        get_profile("fast")
    monkeypatch.setenv("GENVIZ_PROFILE", "gpu")
    with pytest.raises(ProfileError, match="GENVIZ_PROFILE"):
        get_profile()
