"""The real download code of genviz_utils.data against an HTTP server on 127.0.0.1: good files, truncated ones
(short of their Content-Length, or a cut gzip stream), wrong bytes (SHA-256), 404s, unreachable sources, and the
fallback to the second source. Also: the hashes in the code are those of the real files."""

import gzip
import hashlib
import http.server
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from test_data import N_TEST, N_TRAIN, _arrays, _idx, _set_debian

import genviz_utils.data as data
from genviz_utils.data import DataUnavailableError, ensure_dataset, load_images

NAMES = [f for pair in data._FILES.values() for f in pair]


def _gz(arr) -> bytes:
    return gzip.compress(_idx(arr), mtime=0)


class _Server:
    """Serves ``routes[path] = (status, body, content_length or None)``; counts requests per path."""

    def __init__(self):
        self.routes: dict[str, tuple[int, bytes, int | None]] = {}
        self.hits: dict[str, int] = {}
        routes, hits = self.routes, self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the stdlib's name)
                hits[self.path] = hits.get(self.path, 0) + 1
                status, body, length = routes.get(self.path, (404, b"not found", None))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, prefix: str, files: dict[str, bytes], **lengths):
        for name, body in files.items():
            self.routes[f"/{prefix}/{name}.gz"] = (200, body, lengths.get(name))
        return f"{self.base}/{prefix}/"


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


@pytest.fixture
def arrays(monkeypatch, tmp_path):
    """Tiny synthetic files whose SHA-256 the loader expects; no Debian copy."""
    arr = _arrays(seed=4)
    monkeypatch.setitem(data._SHA256, "fashion-mnist",
                        {n: hashlib.sha256(_idx(a)).hexdigest() for n, a in arr.items()})
    _set_debian(monkeypatch, tmp_path / "no-debian")
    monkeypatch.setattr(data, "_download", lambda name, root: pytest.fail("torchvision must not be used"))
    monkeypatch.setattr(data, "_TIMEOUT", 5.0)
    return arr


def _sources(monkeypatch, *urls):
    monkeypatch.setitem(data._SOURCES, "fashion-mnist", tuple(urls))


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"   # nothing listens there any more: connection refused


def _leftovers(raw: Path) -> list[str]:
    return sorted(p.name for p in raw.iterdir() if p.name.startswith(".")) if raw.exists() else []


def test_good_download(server, arrays, monkeypatch, tmp_path):
    good = server.serve("good", {n: _gz(a) for n, a in arrays.items()})
    _sources(monkeypatch, good, _closed_port_url())
    raw = ensure_dataset(root=tmp_path / "cache")
    assert sorted(p.name for p in raw.iterdir()) == sorted(NAMES)   # the four files, no temp files
    ds = load_images(root=tmp_path / "cache", split="train")
    assert len(ds) == N_TRAIN and ds.labels.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert len(load_images(root=tmp_path / "cache", split="test")) == N_TEST
    assert all(server.hits[f"/good/{n}.gz"] == 1 for n in NAMES)
    ensure_dataset(root=tmp_path / "cache")                          # present now: no second download
    assert all(server.hits[f"/good/{n}.gz"] == 1 for n in NAMES)


@pytest.mark.parametrize("how", ["short of Content-Length", "cut gzip stream", "wrong bytes", "404", "html page"])
def test_bad_first_source_falls_back_to_the_second(server, arrays, monkeypatch, tmp_path, capfd, how):
    files = {n: _gz(a) for n, a in arrays.items()}
    victim = "train-images-idx3-ubyte"
    bad = dict(files)
    lengths = {}
    if how == "short of Content-Length":
        bad[victim] = files[victim][: len(files[victim]) // 2]
        lengths[victim] = len(files[victim])
    elif how == "cut gzip stream":
        bad[victim] = files[victim][:-40]
    elif how == "wrong bytes":
        other = arrays[victim].copy()
        other[0, 5, 5] ^= 1                                          # one pixel off
        bad[victim] = _gz(other)
    elif how == "404":
        del bad[victim]
    else:
        bad[victim] = b"<html>Service Unavailable</html>"
    first = server.serve("bad", bad, **lengths)
    second = server.serve("good", files)
    _sources(monkeypatch, first, second)
    raw = ensure_dataset(root=tmp_path / "cache")
    assert data._read_idx(raw / victim).tolist() == arrays[victim].tolist()   # the good copy, not the bad one
    assert _leftovers(raw) == []
    assert server.hits[f"/good/{victim}.gz"] == 1
    assert all(f"/good/{n}.gz" not in server.hits for n in NAMES if n != victim)  # others came from the first
    err = capfd.readouterr().err
    assert f"{first}{victim}.gz" in err
    if how in ("short of Content-Length", "cut gzip stream", "wrong bytes", "html page"):
        assert "truncated" in err and "deleted it, not used" in err
    if how == "wrong bytes":
        assert "SHA-256" in err


@pytest.mark.parametrize("how", ["truncated", "wrong bytes"])
def test_bad_file_from_every_source_is_deleted_and_reported(server, arrays, monkeypatch, tmp_path, capfd, how):
    files = {n: _gz(a) for n, a in arrays.items()}
    victim = "t10k-labels-idx1-ubyte"
    if how == "truncated":
        files[victim] = files[victim][:-10]
    else:
        files[victim] = _gz(np.zeros(N_TEST, np.uint8))
    url = server.serve("only", files)
    _sources(monkeypatch, url)
    with pytest.raises(DataUnavailableError) as err:
        ensure_dataset(root=tmp_path / "cache")
    msg = str(err.value)
    assert f"{url}{victim}" in msg and ("SHA-256" in msg if how == "wrong bytes" else "truncated" in msg)
    assert "Fix:" in msg and "apt-get install dataset-fashion-mnist" in msg and "GENVIZ_DATA" in msg
    raw = tmp_path / "cache" / "FashionMNIST" / "raw"
    assert not (raw / victim).exists() and _leftovers(raw) == []     # never used, nothing left behind
    assert "deleted it, not used" in capfd.readouterr().err
    # once a source serves the right file, the next call completes the set
    good = server.serve("good", {n: _gz(a) for n, a in arrays.items()})
    _sources(monkeypatch, good)
    ensure_dataset(root=tmp_path / "cache")
    assert data._read_idx(raw / victim).tolist() == arrays[victim].tolist()
    assert server.hits.get("/good/train-images-idx3-ubyte.gz") is None  # what was good stays


def test_offline_every_source_unreachable(arrays, monkeypatch, tmp_path):
    a, b = _closed_port_url(), _closed_port_url()
    _sources(monkeypatch, a, b)
    with pytest.raises(DataUnavailableError) as err:
        load_images(root=tmp_path / "cache")
    msg = str(err.value)
    assert a in msg and b in msg                                      # each source and why it failed
    assert "connect to the internet" in msg and "apt-get install dataset-fashion-mnist" in msg
    assert str(tmp_path / "cache" / "FashionMNIST" / "raw") in msg and "GENVIZ_DATA" in msg
    assert _leftovers(tmp_path / "cache" / "FashionMNIST" / "raw") == []


def test_debian_copy_with_wrong_bytes_is_not_used(server, arrays, monkeypatch, tmp_path, capfd):
    debian = tmp_path / "debian"
    debian.mkdir()
    for n, a in arrays.items():
        (debian / f"{n}.gz").write_bytes(_gz(a if n != "train-labels-idx1-ubyte" else a[::-1]))
    _set_debian(monkeypatch, debian)
    good = server.serve("good", {n: _gz(a) for n, a in arrays.items()})
    _sources(monkeypatch, good)
    raw = ensure_dataset(root=tmp_path / "cache")
    assert data._read_idx(raw / "train-labels-idx1-ubyte").tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert server.hits == {"/good/train-labels-idx1-ubyte.gz": 1}     # only the bad one was downloaded
    err = capfd.readouterr().err
    assert "SHA-256" in err and "apt-get install --reinstall dataset-fashion-mnist" in err


def test_two_public_sources():
    srcs = data._SOURCES["fashion-mnist"]
    assert len(srcs) >= 2 and len({s.split("/")[2] for s in srcs}) == len(srcs)   # different hosts
    assert "raw.githubusercontent.com/zalandoresearch/fashion-mnist" in srcs[1]
    assert all(s.endswith("/") for s in srcs)
    assert sorted(data._SHA256["fashion-mnist"]) == sorted(NAMES)


@pytest.mark.parametrize("folder", ["/usr/share/datasets/fashion-mnist", "debian-or-cache"])
def test_hashes_in_the_code_are_the_real_files(folder):
    """The SHA-256 values in data._SHA256 are those of the real Fashion-MNIST (Debian's copy, or the .data cache)."""
    want = data._SHA256["fashion-mnist"]
    if folder.startswith("/"):
        d = Path(folder)
        if not d.is_dir():
            pytest.skip("Debian's dataset-fashion-mnist is not installed")
        got = {n: hashlib.sha256(gzip.decompress((d / f"{n}.gz").read_bytes())).hexdigest() for n in NAMES}
    else:
        d = Path(__file__).resolve().parent.parent / ".data" / "FashionMNIST" / "raw"
        if not all((d / n).exists() for n in NAMES):
            pytest.skip("no .data/FashionMNIST/raw here")
        got = {n: data._sha256(d / n) for n in NAMES}
    assert got == want
