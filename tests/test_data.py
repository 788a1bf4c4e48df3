import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import genviz_utils.data as data
from genviz_utils.data import DataUnavailableError, batch_indices, ensure_dataset, load_images, minibatches


def _idx(arr: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 8, arr.ndim) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def _files(n_train=12, n_test=5, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        img, lab = data._FILES[split]
        out[img] = _idx(rng.integers(0, 256, (n, 28, 28)))
        out[lab] = _idx(rng.integers(0, 10, (n,)))
    return out


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No download and no Debian copy."""
    monkeypatch.setattr(data, "_download", lambda name, root: False)
    entry = data._DATASETS["fashion-mnist"]
    monkeypatch.setitem(data._DATASETS, "fashion-mnist", (entry[0], entry[1], tmp_path / "no-debian"))


def test_missing_data_offline_names_both_fixes(offline, tmp_path):
    with pytest.raises(DataUnavailableError) as err:
        load_images(root=tmp_path / "empty")
    msg = str(err.value)
    assert "internet" in msg and "apt-get install dataset-fashion-mnist" in msg and "GENVIZ_DATA" in msg


def test_loads_from_cache_folder(offline, tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name, blob in _files().items():
        (raw / name).write_bytes(blob)
    ds = load_images(root=tmp_path, split="train")
    assert ds.images.shape == (12, 1, 28, 28) and ds.images.dtype == torch.float32
    assert 0 <= ds.images.min() and ds.images.max() <= 1
    assert ds.labels.dtype == torch.int64 and len(ds.classes) == 10
    assert len(load_images(root=tmp_path, split="test", limit=3)) == 3


def test_copies_from_debian_gz(monkeypatch, tmp_path):
    debian = tmp_path / "debian"
    debian.mkdir()
    for name, blob in _files().items():
        with gzip.open(debian / f"{name}.gz", "wb") as f:
            f.write(blob)
    monkeypatch.setattr(data, "_download", lambda name, root: pytest.fail("must not download"))
    entry = data._DATASETS["fashion-mnist"]
    monkeypatch.setitem(data._DATASETS, "fashion-mnist", (entry[0], entry[1], debian))
    raw = ensure_dataset(root=tmp_path / "cache")
    assert sorted(p.name for p in raw.iterdir()) == sorted(_files())
    assert len(load_images(root=tmp_path / "cache", split="test")) == 5


def test_truncated_file_gives_a_clear_error(offline, tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name, blob in _files().items():
        (raw / name).write_bytes(blob[:-100] if "train-images" in name else blob)
    with pytest.raises(DataUnavailableError, match="truncated or corrupt"):
        load_images(root=tmp_path)


def test_bad_names():
    with pytest.raises(ValueError, match="Unknown dataset"):
        ensure_dataset("cifar")
    with pytest.raises(ValueError, match="split"):
        load_images(split="valid")


def test_batch_indices_cover_each_epoch_and_depend_only_on_seed_and_step():
    n, bs = 50, 10
    epoch0 = torch.cat([batch_indices(n, bs, s, seed=3) for s in range(5)])
    assert sorted(epoch0.tolist()) == list(range(n))
    epoch1 = torch.cat([batch_indices(n, bs, s, seed=3) for s in range(5, 10)])
    assert sorted(epoch1.tolist()) == list(range(n)) and not torch.equal(epoch0, epoch1)
    assert torch.equal(batch_indices(n, bs, 7, seed=3), batch_indices(n, bs, 7, seed=3))
    assert not torch.equal(batch_indices(n, bs, 7, seed=3), batch_indices(n, bs, 7, seed=4))


def test_batch_errors():
    with pytest.raises(ValueError, match="larger than the dataset"):
        batch_indices(5, 10, 0, 0)
    with pytest.raises(ValueError, match="same length"):
        next(minibatches(torch.zeros(4), torch.zeros(5), batch_size=2))


def test_real_fashion_mnist_if_present():
    if not Path("/usr/share/datasets/fashion-mnist").exists():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    ds = load_images(split="test", limit=100)
    assert ds.images.shape == (100, 1, 28, 28) and ds.classes[0] == "T-shirt/top"
