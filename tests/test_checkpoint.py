"""Checkpoints: atomic writes and clear errors for missing, corrupt or mismatched files."""

import pytest
import torch

from genviz_utils.checkpoint import CheckpointError, load_checkpoint, load_state, save_checkpoint
from genviz_utils.models.ae import ConvAutoencoder


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_round_trip_creates_folders_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "deep" / "er" / "c.pt"
    state = {"w": torch.arange(5.0), "step": 3, "nested": {"a": [1, 2]}}
    assert save_checkpoint(path, state) == path
    back = load_checkpoint(path)
    assert torch.equal(back["w"], state["w"]) and back["step"] == 3 and back["nested"] == {"a": [1, 2]}
    save_checkpoint(str(path), {"step": 4})  # overwrite, str path accepted
    assert load_checkpoint(str(path)) == {"step": 4}
    assert _files(path.parent) == ["c.pt"]


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="No checkpoint at .*nope.pt.*Train the model first"):
        load_checkpoint(tmp_path / "nope.pt")


def test_garbage_bytes(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(bad)
    msg = str(err.value)
    assert "corrupt or truncated" in msg and "Delete it and train again" in msg and "bad.pt" in msg


@pytest.mark.parametrize("keep", [0, 10, 200, -20])
def test_truncated_file(tmp_path, keep):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"w": torch.arange(1000.0)})
    blob = path.read_bytes()
    path.write_bytes(blob[:keep] if keep >= 0 else blob[:keep])
    with pytest.raises(CheckpointError, match="corrupt or truncated.*Delete it"):
        load_checkpoint(path)


def test_not_a_dict(tmp_path):
    path = tmp_path / "t.pt"
    torch.save(torch.zeros(3), path)
    with pytest.raises(CheckpointError, match="state dictionary"):
        load_checkpoint(path)


def test_failed_save_keeps_previous_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"v": 1})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"v": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["v"] == 1
    assert _files(tmp_path) == ["c.pt"], "a temporary file was left behind"


def test_interrupt_mid_write_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"v": 1})
    real_save = torch.save

    def half_then_interrupt(obj, f, *a, **k):
        real_save({"v": 2, "big": torch.zeros(1000)}, f)  # bytes really reach the temp file
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"v": 2})
    monkeypatch.undo()
    assert load_checkpoint(path) == {"v": 1} and _files(tmp_path) == ["c.pt"]


def test_load_state_into_a_mismatched_model(tmp_path):
    with pytest.raises(CheckpointError) as err:
        load_state(ConvAutoencoder(2, width=4), ConvAutoencoder(3, width=4).state_dict(), tmp_path / "x.pt")
    msg = str(err.value)
    assert "x.pt" in msg and "different model" in msg and "ConvAutoencoder" in msg and "Delete it" in msg


def test_load_state_with_missing_keys():
    with pytest.raises(CheckpointError, match="different model"):
        load_state(ConvAutoencoder(2, width=4), {})


def test_load_state_matching_model_copies_weights(tmp_path):
    src, dst = ConvAutoencoder(2, width=4), ConvAutoencoder(2, width=4)
    path = save_checkpoint(tmp_path / "m.pt", {"model": src.state_dict()})
    load_state(dst, load_checkpoint(path)["model"], path)
    assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(), dst.state_dict().values(), strict=True))
