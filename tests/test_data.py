"""Datasets: offline errors, tiny synthetic IDX files (cache and Debian layouts), batching."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import genviz_utils.data as data
from genviz_utils.data import DataUnavailableError, batch_indices, ensure_dataset, load_images, minibatches

N_TRAIN, N_TEST = 12, 5


def _idx(arr: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 8, arr.ndim) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def _arrays(seed=0):
    """{file name: uint8 array} for the four files of a tiny dataset."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        img, lab = data._FILES[split]
        out[img] = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        out[img][0, 0, 0], out[img][0, 0, 1] = 0, 255  # both ends of the range
        out[lab] = rng.integers(0, 10, (n,)).astype(np.uint8)
    return out


def _write_cache(root: Path, arrays=None, name="FashionMNIST") -> Path:
    raw = root / name / "raw"
    raw.mkdir(parents=True)
    for fname, arr in (arrays or _arrays()).items():
        (raw / fname).write_bytes(_idx(arr))
    return raw


def _write_debian(folder: Path, arrays=None) -> Path:
    folder.mkdir(parents=True)
    for fname, arr in (arrays or _arrays()).items():
        with gzip.open(folder / f"{fname}.gz", "wb") as f:
            f.write(_idx(arr))
    return folder


def _set_debian(monkeypatch, folder):
    entry = data._DATASETS["fashion-mnist"]
    monkeypatch.setitem(data._DATASETS, "fashion-mnist", (entry[0], entry[1], folder))


def _trust(monkeypatch, arrays=None):
    """Make the loader expect the SHA-256 of these synthetic files (the real hashes are tests/test_download.py's)."""
    import hashlib

    monkeypatch.setitem(data._SHA256, "fashion-mnist",
                        {n: hashlib.sha256(_idx(a)).hexdigest() for n, a in (arrays or _arrays()).items()})


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No download (neither ours nor torchvision's) and no Debian copy."""
    calls = []

    def no_download(name, root):
        calls.append(name)
        return False

    def no_verified_download(name, raw):
        calls.append(name)
        return False, [f"{name}: offline (test)"]

    monkeypatch.setattr(data, "_download", no_download)
    monkeypatch.setattr(data, "_download_verified", no_verified_download)
    _set_debian(monkeypatch, tmp_path / "no-debian")
    return calls


# --- missing / broken data ------------------------------------------------------------------------------

def test_missing_data_offline_names_both_fixes(offline, tmp_path):
    for fn in (lambda: load_images(root=tmp_path / "empty"), lambda: ensure_dataset(root=tmp_path / "empty")):
        with pytest.raises(DataUnavailableError) as err:
            fn()
        msg = str(err.value)
        assert "connect to the internet" in msg and "download" in msg and "offline (test)" in msg
        assert "apt-get install dataset-fashion-mnist" in msg
        assert str(tmp_path / "empty" / "FashionMNIST" / "raw") in msg and "GENVIZ_DATA" in msg
    assert offline == ["fashion-mnist", "fashion-mnist"]  # a download was attempted before giving up


def test_missing_mnist_offline_has_no_debian_hint(offline, tmp_path):
    with pytest.raises(DataUnavailableError) as err:
        ensure_dataset("mnist", root=tmp_path)
    assert "internet" in str(err.value) and "torchvision" in str(err.value) and "apt-get" not in str(err.value)


def test_incomplete_debian_folder_falls_through_to_the_error(offline, monkeypatch, tmp_path):
    debian = _write_debian(tmp_path / "debian")
    (debian / "t10k-labels-idx1-ubyte.gz").unlink()
    _set_debian(monkeypatch, debian)
    with pytest.raises(DataUnavailableError, match="apt-get install dataset-fashion-mnist"):
        ensure_dataset(root=tmp_path / "cache")


@pytest.mark.parametrize("cut", ["short", "empty", "header"])
def test_truncated_idx_file_gives_a_clear_error(offline, tmp_path, cut):
    arrays = _arrays()
    raw = _write_cache(tmp_path, arrays)
    f = raw / "train-images-idx3-ubyte"
    blob = f.read_bytes()
    f.write_bytes({"short": blob[:-100], "empty": b"", "header": blob[:6]}[cut])
    with pytest.raises(DataUnavailableError, match="truncated or corrupt.*delete it") as err:
        load_images(root=tmp_path)
    assert str(f) in str(err.value)
    assert len(load_images(root=tmp_path, split="test")) == N_TEST  # the other split is unaffected


def test_not_an_idx_file_gives_a_clear_error(offline, tmp_path):
    raw = _write_cache(tmp_path)
    (raw / "train-labels-idx1-ubyte").write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(DataUnavailableError, match="truncated or corrupt"):
        load_images(root=tmp_path)


def test_unknown_dataset_and_split():
    with pytest.raises(ValueError, match="Unknown dataset 'cifar'.*fashion-mnist"):
        ensure_dataset("cifar")
    with pytest.raises(ValueError, match="Unknown dataset"):
        load_images("cifar")
    with pytest.raises(ValueError, match="'train' or 'test'.*'valid'"):
        load_images(split="valid")


# --- loading ---------------------------------------------------------------------------------------------

def test_loads_from_cache_folder(offline, tmp_path):
    arrays = _arrays()
    _write_cache(tmp_path, arrays)
    ds = load_images(root=tmp_path, split="train")
    assert ds.images.shape == (N_TRAIN, 1, 28, 28) and ds.images.dtype == torch.float32
    assert ds.images.min() == 0 and ds.images.max() == 1
    assert torch.allclose(ds.images[:, 0], torch.from_numpy(arrays["train-images-idx3-ubyte"] / 255.0).float())
    assert ds.labels.dtype == torch.int64 and ds.labels.shape == (N_TRAIN,)
    assert ds.labels.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert ds.classes[0] == "T-shirt/top" and len(ds.classes) == 10
    assert (ds.name, ds.split, len(ds)) == ("fashion-mnist", "train", N_TRAIN)
    test = load_images(root=tmp_path, split="test")
    assert test.images.shape == (N_TEST, 1, 28, 28) and test.split == "test"
    assert offline == []  # files present: no download attempted


def test_limit_keeps_the_first_examples(offline, tmp_path):
    _write_cache(tmp_path)
    full = load_images(root=tmp_path)
    part = load_images(root=tmp_path, limit=3)
    assert len(part) == 3 and part.images.shape == (3, 1, 28, 28) and part.labels.shape == (3,)
    assert torch.equal(part.images, full.images[:3]) and torch.equal(part.labels, full.labels[:3])


def test_mnist_from_cache_has_digit_classes(offline, tmp_path):
    _write_cache(tmp_path, name="MNIST")
    ds = load_images("mnist", root=tmp_path, split="test")
    assert ds.classes == tuple("0123456789") and len(ds) == N_TEST


def test_default_root_follows_env(offline, tmp_path, monkeypatch):
    monkeypatch.delenv("GENVIZ_DATA", raising=False)
    _write_cache(tmp_path / "cache" / "data")  # GENVIZ_CACHE points at tmp_path/cache (conftest)
    assert len(load_images(split="test")) == N_TEST
    monkeypatch.setenv("GENVIZ_DATA", str(tmp_path / "mine"))
    _write_cache(tmp_path / "mine", _arrays(seed=2))
    assert torch.equal(load_images(split="test").labels,
                       torch.from_numpy(_arrays(seed=2)["t10k-labels-idx1-ubyte"].astype("int64")))


def test_copies_from_debian_gz(monkeypatch, tmp_path):
    arrays = _arrays(seed=1)
    _trust(monkeypatch, arrays)
    _set_debian(monkeypatch, _write_debian(tmp_path / "debian", arrays))
    monkeypatch.setattr(data, "_download", lambda name, root: pytest.fail("must not download"))
    monkeypatch.setattr(data, "_download_verified", lambda name, raw: pytest.fail("must not download"))
    raw = ensure_dataset(root=tmp_path / "cache")
    assert raw == tmp_path / "cache" / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(arrays)  # plain files, no temp files left
    ds = load_images(root=tmp_path / "cache", split="test")
    assert ds.labels.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert torch.allclose(ds.images[:, 0], torch.from_numpy(arrays["t10k-images-idx3-ubyte"] / 255.0).float())


def test_debian_copy_with_other_bytes_is_not_used(offline, monkeypatch, tmp_path, capfd):
    _trust(monkeypatch, _arrays(seed=1))
    _set_debian(monkeypatch, _write_debian(tmp_path / "debian", _arrays(seed=2)))  # not the files we expect
    with pytest.raises(DataUnavailableError):
        ensure_dataset(root=tmp_path / "cache")
    raw = tmp_path / "cache" / "FashionMNIST" / "raw"
    assert list(raw.iterdir()) == []                                # nothing copied, no temp files
    err = capfd.readouterr().err
    assert "SHA-256" in err and "apt-get install --reinstall dataset-fashion-mnist" in err


def test_reads_gzipped_idx_directly(tmp_path):
    arr = _arrays()["t10k-labels-idx1-ubyte"]
    path = tmp_path / "labels.gz"
    with gzip.open(path, "wb") as f:
        f.write(_idx(arr))
    assert data._read_idx(path).tolist() == arr.tolist()


def test_imageset_to_keeps_metadata(offline, tmp_path):
    _write_cache(tmp_path)
    ds = load_images(root=tmp_path, split="test").to("cpu")
    assert ds.images.device.type == "cpu" and ds.split == "test" and len(ds.classes) == 10


def test_real_fashion_mnist_if_present():
    if not Path("/usr/share/datasets/fashion-mnist").exists():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    ds = load_images(split="test", limit=100)
    assert ds.images.shape == (100, 1, 28, 28) and ds.classes[0] == "T-shirt/top"
    assert 0 <= ds.images.min() and ds.images.max() <= 1 and ds.labels.dtype == torch.int64


# --- batching --------------------------------------------------------------------------------------------

def test_batch_indices_cover_every_index_once_per_epoch():
    n, bs = 50, 10
    for epoch in range(3):
        idx = torch.cat([batch_indices(n, bs, s, seed=3) for s in range(5 * epoch, 5 * epoch + 5)])
        assert sorted(idx.tolist()) == list(range(n))


def test_batch_indices_drop_the_incomplete_last_batch():
    n, bs = 53, 10  # 5 full batches per epoch, 3 examples left out
    epoch0 = torch.cat([batch_indices(n, bs, s, seed=0) for s in range(5)])
    assert len(set(epoch0.tolist())) == 50
    assert all(len(batch_indices(n, bs, s, seed=0)) == bs for s in range(12))


def test_batch_indices_depend_only_on_seed_and_step():
    a = [batch_indices(40, 8, s, seed=2) for s in (13, 2, 7)]
    torch.manual_seed(123)  # the global RNG must not matter
    data._perm_cache.clear()
    batch_indices(40, 8, 0, seed=9)  # nor what was asked before
    b = [batch_indices(40, 8, s, seed=2) for s in (13, 2, 7)]
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(batch_indices(40, 8, 7, seed=2), batch_indices(40, 8, 7, seed=3))


def test_batch_indices_differ_across_epochs():
    e0 = torch.cat([batch_indices(40, 8, s, seed=0) for s in range(5)])
    e1 = torch.cat([batch_indices(40, 8, s, seed=0) for s in range(5, 10)])
    assert not torch.equal(e0, e1)


@pytest.mark.parametrize("bs", [11, 0])
def test_bad_batch_size_is_a_clear_error(bs):
    with pytest.raises(ValueError, match="batch_size"):
        batch_indices(10, bs, 0, 0)
    with pytest.raises(ValueError, match="larger than the dataset"):
        batch_indices(10, 11, 0, 0)


def test_minibatches_slice_all_tensors_alike():
    x = torch.arange(20.0)[:, None].expand(20, 3)
    y = torch.arange(20)
    it = minibatches(x, y, batch_size=4, seed=5, start_step=3)
    for step in range(3, 10):
        bx, by = next(it)
        assert torch.equal(by, batch_indices(20, 4, step, 5)) and torch.equal(bx[:, 0].long(), by)


def test_minibatches_unequal_lengths_raise():
    with pytest.raises(ValueError, match=r"same length.*\[4, 5\]"):
        next(minibatches(torch.zeros(4), torch.zeros(5), batch_size=2))
