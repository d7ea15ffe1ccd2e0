"""Data sources of `localnorm study`: bundled, generated, and tiny CIFAR-10 / MNIST files."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest

from localnorm.study import data


def _write_cifar(root: Path, n: int = 6) -> None:
    rng = np.random.default_rng(0)
    for i, name in enumerate(data.CIFAR_FILES):
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, n)],
                 b"batch_label": f"batch {i}".encode()}
        with open(root / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)


def _idx(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def _write_mnist(root: Path, n_train: int = 7, n_test: int = 5, gz: bool = False) -> None:
    rng = np.random.default_rng(1)
    arrays = {"train_x": rng.integers(0, 256, (n_train, 28, 28)),
              "train_y": rng.integers(0, 10, n_train),
              "test_x": rng.integers(0, 256, (n_test, 28, 28)),
              "test_y": rng.integers(0, 10, n_test)}
    for key, name in data.MNIST_FILES.items():
        raw = _idx(arrays[key])
        if gz:
            (root / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (root / name).write_bytes(raw)


def test_digits_shapes_and_range() -> None:
    ds = data.load("digits")
    assert ds.x_train.shape[1:] == (1, 8, 8) and ds.x_train.dtype == np.float32
    assert len(ds.y_train) + len(ds.y_test) == 1797
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert set(np.unique(ds.y_test)) == set(range(10))


def test_cap_takes_a_fixed_subset() -> None:
    a, b = data.load("digits", 100, 50), data.load("digits", 100, 50)
    assert len(a.y_train) == 100 and len(a.y_test) == 50
    np.testing.assert_array_equal(a.y_train, b.y_train)


def test_synthetic_controls_contrast() -> None:
    low = data.make_synthetic(200, 10, contrast=(0.05, 0.05), illumination=0.0, noise=0.0)
    high = data.make_synthetic(200, 10, contrast=(0.8, 0.8), illumination=0.0, noise=0.0)
    assert low.x_train.shape == (200, 1, 16, 16)
    assert set(np.unique(low.y_train)) <= {0, 1, 2, 3}
    # RMS contrast follows the parameter (same seed, same patches).
    ratio = high.x_train.std(axis=(2, 3)).mean() / low.x_train.std(axis=(2, 3)).mean()
    assert 10 < ratio < 20


def test_cifar10_tiny_files(tmp_path: Path) -> None:
    _write_cifar(tmp_path)
    ds = data.load(f"cifar10:{tmp_path}")
    assert ds.x_train.shape == (30, 3, 32, 32) and ds.x_test.shape == (6, 3, 32, 32)
    assert ds.x_train.max() <= 1.0 and ds.y_train.dtype == np.int64
    with open(tmp_path / "data_batch_1", "rb") as f:
        first = pickle.load(f, encoding="bytes")
    np.testing.assert_allclose(ds.x_train[0].reshape(-1) * 255, first[b"data"][0], atol=1e-3)


def test_cifar10_parent_folder(tmp_path: Path) -> None:
    sub = tmp_path / "cifar-10-batches-py"
    sub.mkdir()
    _write_cifar(sub)
    assert len(data.load(f"cifar10:{tmp_path}").y_test) == 6


def test_cifar10_missing_file_is_named(tmp_path: Path) -> None:
    _write_cifar(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        data.load(f"cifar10:{tmp_path}")


def test_cifar10_corrupt_file_is_named(tmp_path: Path) -> None:
    _write_cifar(tmp_path)
    (tmp_path / "test_batch").write_bytes(b"\x80\x02}q\x00garbage")
    with pytest.raises(ValueError, match="test_batch"):
        data.load(f"cifar10:{tmp_path}")


def test_cifar10_wrong_shape_is_named(tmp_path: Path) -> None:
    _write_cifar(tmp_path)
    with open(tmp_path / "data_batch_2", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(ValueError, match=r"data_batch_2.*3072"):
        data.load(f"cifar10:{tmp_path}")


def test_cifar10_refuses_code_in_pickles(tmp_path: Path) -> None:
    _write_cifar(tmp_path)

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    with open(tmp_path / "data_batch_4", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f)
    with pytest.raises(ValueError, match=r"data_batch_4.*refusing"):
        data.load(f"cifar10:{tmp_path}")


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_tiny_files(tmp_path: Path, gz: bool) -> None:
    _write_mnist(tmp_path, gz=gz)
    ds = data.load(f"mnist:{tmp_path}")
    assert ds.x_train.shape == (7, 1, 28, 28) and ds.x_test.shape == (5, 1, 28, 28)
    assert ds.files[0].endswith(".gz") == gz


def test_mnist_missing_file_is_named(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        data.load(f"mnist:{tmp_path}")


def test_mnist_truncated_file_is_named(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        data.load(f"mnist:{tmp_path}")


def test_mnist_bad_header_and_bad_gzip_are_named(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x03" + bytes(20))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.*idx1"):
        data.load(f"mnist:{tmp_path}")
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz"):
        data.load(f"mnist:{tmp_path}")


@pytest.mark.parametrize("spec", ["cifar", "mnist", "digits:/x", "cifar10:", ""])
def test_bad_spec_names_the_option(spec: str) -> None:
    with pytest.raises(ValueError, match="--data must be one of"):
        data.load(spec)


def test_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        data.load(f"mnist:{tmp_path / 'nowhere'}")
