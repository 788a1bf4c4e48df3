"""Run budgets (profiles) and the runtime helpers (device, seeding, folders)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from genviz_utils import runtime
from genviz_utils.profiles import PROFILES, Profile, ProfileError, get_profile


def test_default_is_book():
    p = get_profile()
    assert p == Profile("book") and str(p) == "book" and not p.is_smoke


def test_env_var_is_honoured_case_and_spaces_ignored(monkeypatch):
    monkeypatch.setenv("GENVIZ_PROFILE", " Smoke ")
    assert get_profile().name == "smoke" and get_profile().is_smoke
    monkeypatch.setenv("GENVIZ_PROFILE", "full")
    assert get_profile().name == "full"


def test_explicit_name_wins_over_env(monkeypatch):
    monkeypatch.setenv("GENVIZ_PROFILE", "smoke")
    assert get_profile("full").name == "full"


@pytest.mark.parametrize("name, expected", [("smoke", 1), ("book", 20), ("full", 300)])
def test_pick_returns_the_active_budget(name, expected):
    assert get_profile(name).pick(smoke=1, book=20, full=300) == expected


def test_pick_needs_keywords():
    with pytest.raises(TypeError):
        get_profile("book").pick(1, 2, 3)


def test_unknown_profile_lists_the_choices():
    with pytest.raises(ProfileError) as err:
        get_profile("fast")
    msg = str(err.value)
    assert "'fast'" in msg and "smoke, book, full" in msg and "GENVIZ_PROFILE" in msg
    assert isinstance(err.value, ValueError)
    assert PROFILES == ("smoke", "book", "full")


def test_unknown_profile_from_env(monkeypatch):
    monkeypatch.setenv("GENVIZ_PROFILE", "gpu")
    with pytest.raises(ProfileError, match="'gpu'.*smoke, book, full"):
        get_profile()


# --- runtime -------------------------------------------------------------------------------------------

def test_folders_follow_env(tmp_path, monkeypatch):
    monkeypatch.delenv("GENVIZ_DATA", raising=False)
    assert runtime.cache_dir() == tmp_path / "cache" and runtime.cache_dir().is_dir()
    assert runtime.data_dir() == tmp_path / "cache" / "data"
    assert runtime.checkpoint_dir("smoke") == tmp_path / "checkpoints" / "smoke"
    assert runtime.checkpoint_dir("smoke").is_dir()
    monkeypatch.setenv("GENVIZ_DATA", str(tmp_path / "elsewhere"))
    assert runtime.data_dir() == tmp_path / "elsewhere" and (tmp_path / "elsewhere").is_dir()
    assert not str(runtime.cache_dir()).startswith(str(Path.home() / ".cache"))


def test_seed_everything_is_reproducible():
    g1 = runtime.seed_everything(3)
    a = (torch.rand(3), np.random.rand(), torch.rand(2, generator=g1))
    g2 = runtime.seed_everything(3)
    b = (torch.rand(3), np.random.rand(), torch.rand(2, generator=g2))
    assert torch.equal(a[0], b[0]) and a[1] == b[1] and torch.equal(a[2], b[2])
    runtime.seed_everything(4)
    assert not torch.equal(torch.rand(3), a[0])


def test_pick_device(monkeypatch):
    monkeypatch.delenv("GENVIZ_DEVICE", raising=False)
    assert runtime.pick_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("GENVIZ_DEVICE", "cpu")
    assert runtime.pick_device() == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            runtime.pick_device("cuda")


def test_keep_freed_memory_takes_effect_on_glibc_only(monkeypatch):
    import platform
    import sys

    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert runtime.keep_freed_memory() is on_glibc
    monkeypatch.setattr(runtime.platform, "libc_ver", lambda: ("musl", ""))
    assert runtime.keep_freed_memory() is False            # not glibc: nothing is touched
