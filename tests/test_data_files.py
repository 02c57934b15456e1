"""File-based sources on tiny synthetic files (fashion-mnist IDX, cifar10 pickles) and checked
downloads, served from a loopback HTTP server (never an external address)."""

import functools
import gzip
import hashlib
import http.server
import io
import os
import pickle
import struct
import tarfile
import threading

import numpy as np
import pytest
import torch

from condgan.config import DataConfig
from condgan.data import cifar10, fashion_mnist, load_dataset
from condgan.data.download import download_url, safe_extract_tar
from condgan.errors import CondganError


# --------------------------------------------------------------------------- builders
def _idx_bytes(array: np.ndarray) -> bytes:
    return struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) \
        + array.astype(np.uint8).tobytes()


def write_fashion(directory, n_train=20, n_test=10, gz=True, seed=0):
    """Four IDX files; image i of a split is filled with the value 25·label (so pixels and
    labels can be checked against each other)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = np.broadcast_to((labels * 25).reshape(n, 1, 1), (n, 28, 28)).astype(np.uint8)
        for stem, array in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            raw = _idx_bytes(array)
            if gz:
                (directory / f"{stem}.gz").write_bytes(gzip.compress(raw))
            else:
                (directory / stem).write_bytes(raw)
    return directory


CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_cifar(directory, per_batch=4):
    """A fake cifar-10-batches-py directory (bytes keys, like the official Python 2 pickles)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, per_batch)]}
        (directory / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"label_names": [n.encode() for n in CIFAR_NAMES]}
    (directory / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return directory


@pytest.fixture
def http_root(tmp_path):
    """(directory served, base URL) of a throwaway HTTP server on 127.0.0.1."""
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


# --------------------------------------------------------------------------- fashion-mnist
@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_reads_idx_files(tmp_path, gz):
    root = write_fashion(tmp_path / "fm", gz=gz)
    train = load_dataset(DataConfig(name="fashion-mnist", root=str(root)), "train")
    test = load_dataset(DataConfig(name="fashion-mnist", root=str(root)), "test")
    assert train.images.shape == (20, 1, 28, 28) and test.images.shape == (10, 1, 28, 28)
    assert train.images.dtype == torch.float32 and train.labels.dtype == torch.int64
    assert train.class_names[0] == "T-shirt/top" and train.class_names[9] == "Ankle boot"
    expected = train.labels.float() * 25 / 127.5 - 1  # pixel 25·label mapped to [-1, 1]
    assert torch.allclose(train.images[:, 0, 5, 5], expected, atol=1e-6)


def test_fashion_mnist_found_through_condgan_data(tmp_path, monkeypatch):
    write_fashion(tmp_path / "data" / "fashion-mnist")
    monkeypatch.setenv("CONDGAN_DATA", str(tmp_path / "data"))
    assert len(load_dataset(DataConfig(name="fashion-mnist"), "test")) == 10


def test_fashion_mnist_missing_files_name_the_paths_and_the_fixes(tmp_path):
    with pytest.raises(CondganError) as err:
        load_dataset(DataConfig(name="fashion-mnist", root=str(tmp_path / "nowhere")))
    msg = str(err.value)
    assert str(tmp_path / "nowhere") in msg and "apt-get install dataset-fashion-mnist" in msg
    assert "data.download=true" in msg and "CONDGAN_DATA" in msg and "\n" not in msg
    root = write_fashion(tmp_path / "partial")
    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(CondganError, match="t10k-labels-idx1-ubyte"):
        load_dataset(DataConfig(name="fashion-mnist", root=str(root)))


def test_fashion_mnist_bad_magic_and_bad_size(tmp_path):
    root = write_fashion(tmp_path / "fm", gz=False)
    path = root / "train-images-idx3-ubyte"
    raw = bytearray(path.read_bytes())
    raw[3] = 2  # claims 2 dimensions
    path.write_bytes(bytes(raw))
    with pytest.raises(CondganError, match="train-images-idx3-ubyte: bad magic"):
        load_dataset(DataConfig(name="fashion-mnist", root=str(root)))
    raw[3] = 3
    path.write_bytes(bytes(raw[:-7]))  # truncated payload
    with pytest.raises(CondganError, match="train-images-idx3-ubyte: header says"):
        load_dataset(DataConfig(name="fashion-mnist", root=str(root)))
    (root / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(CondganError, match="10 images but .*t10k-labels-idx1-ubyte has 3 labels"):
        load_dataset(DataConfig(name="fashion-mnist", root=str(root)), "test")


def test_fashion_mnist_corrupt_gzip(tmp_path):
    root = write_fashion(tmp_path / "fm")
    (root / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(CondganError, match="train-labels-idx1-ubyte.gz cannot be read"):
        load_dataset(DataConfig(name="fashion-mnist", root=str(root)))


def test_fashion_mnist_download_verifies_md5(tmp_path, http_root, monkeypatch):
    served, url = http_root
    write_fashion(served)
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in served.iterdir()}
    monkeypatch.setattr(fashion_mnist, "URL", url)
    monkeypatch.setattr(fashion_mnist, "MD5", md5)
    cfg = DataConfig(name="fashion-mnist", root=str(tmp_path / "dl"), download=True)
    assert len(load_dataset(cfg, "train")) == 20
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == sorted(md5)
    # A tampered mirror is refused and nothing is left behind.
    monkeypatch.setattr(fashion_mnist, "MD5", {k: "0" * 32 for k in md5})
    cfg2 = DataConfig(name="fashion-mnist", root=str(tmp_path / "dl2"), download=True)
    with pytest.raises(CondganError, match="md5 mismatch"):
        load_dataset(cfg2)
    assert list((tmp_path / "dl2").iterdir()) == []


# --------------------------------------------------------------------------- cifar10
def test_cifar10_reads_pickle_batches(tmp_path):
    root = write_cifar(tmp_path / "cifar-10-batches-py")
    train = load_dataset(DataConfig(name="cifar10", root=str(root), image_size=32), "train")
    test = load_dataset(DataConfig(name="cifar10", root=str(root), image_size=32), "test")
    assert train.images.shape == (20, 3, 32, 32) and test.images.shape == (4, 3, 32, 32)
    assert train.class_names == CIFAR_NAMES and train.labels.dtype == torch.int64
    first = pickle.loads((root / "data_batch_1").read_bytes())
    # Row layout is 1024 R, 1024 G, 1024 B values, row-major: pixel (c, y, x) = row[1024c + 32y + x].
    assert train.images[0, 1, 2, 3] == pytest.approx(first[b"data"][0, 1024 + 64 + 3] / 127.5 - 1, abs=1e-6)
    assert train.labels[:4].tolist() == first[b"labels"]


def test_cifar10_root_may_contain_the_batches_dir_and_channels_resize_apply(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py")
    data = load_dataset(DataConfig(name="cifar10", root=str(tmp_path), channels=1, image_size=16), "test")
    assert data.images.shape == (4, 1, 16, 16)


def test_cifar10_missing_and_malicious_files(tmp_path):
    with pytest.raises(CondganError, match="data.download=true"):
        load_dataset(DataConfig(name="cifar10", root=str(tmp_path / "none")))
    root = write_cifar(tmp_path / "c")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (root / "test_batch").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(CondganError, match="test_batch cannot be read.*not allowed"):
        load_dataset(DataConfig(name="cifar10", root=str(root)), "test")


def test_cifar10_download_and_extract(tmp_path, http_root, monkeypatch):
    served, url = http_root
    write_cifar(tmp_path / "src" / "cifar-10-batches-py")
    with tarfile.open(served / "cifar.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    monkeypatch.setattr(cifar10, "URL", url + "cifar.tar.gz")
    monkeypatch.setattr(cifar10, "MD5", hashlib.md5((served / "cifar.tar.gz").read_bytes()).hexdigest())
    cfg = DataConfig(name="cifar10", root=str(tmp_path / "dl"), download=True)
    assert len(load_dataset(cfg, "test")) == 4
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == ["cifar-10-batches-py"]


# --------------------------------------------------------------------------- download_url
def test_download_url_good_file(tmp_path, http_root):
    served, url = http_root
    payload = os.urandom(3 << 20)  # several read chunks
    (served / "blob.bin").write_bytes(payload)
    dest = download_url(url + "blob.bin", tmp_path / "out" / "blob.bin",
                        sha256=hashlib.sha256(payload).hexdigest(), md5=hashlib.md5(payload).hexdigest())
    assert dest.read_bytes() == payload
    assert [p.name for p in dest.parent.iterdir()] == ["blob.bin"]  # no temp file left


def test_download_url_checksum_mismatch(tmp_path, http_root):
    served, url = http_root
    (served / "blob.bin").write_bytes(b"hello")
    wrong = "f" * 64
    with pytest.raises(CondganError) as err:
        download_url(url + "blob.bin", tmp_path / "blob.bin", sha256=wrong)
    msg = str(err.value)
    assert url + "blob.bin" in msg and wrong in msg and hashlib.sha256(b"hello").hexdigest() in msg
    assert not any(p.name.endswith(".part") for p in tmp_path.iterdir())
    assert not (tmp_path / "blob.bin").exists()


def test_download_url_404(tmp_path, http_root):
    _, url = http_root
    with pytest.raises(CondganError, match=r"missing\.bin failed: HTTP 404"):
        download_url(url + "missing.bin", tmp_path / "missing.bin")
    assert not (tmp_path / "missing.bin").exists()


def test_safe_extract_refuses_path_traversal(tmp_path):
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    (tmp_path / "dest").mkdir()
    with pytest.raises(CondganError, match="unsafe member '../escaped.txt'"):
        safe_extract_tar(archive, tmp_path / "dest")
    assert not (tmp_path / "escaped.txt").exists()
