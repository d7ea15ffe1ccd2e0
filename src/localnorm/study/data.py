"""Data sources of ``localnorm study``, all offline.

- ``digits``: scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes).
- ``synthetic``: oriented Gabor patches with controlled contrast and illumination gradients.
- ``cifar10:PATH``: the CIFAR-10 python batches (``data_batch_1`` .. ``data_batch_5``,
  ``test_batch``) in PATH or PATH/cifar-10-batches-py.
- ``mnist:PATH``: the four MNIST idx files (``train-images-idx3-ubyte`` ..., optionally ``.gz``).

Every loader returns images as float32 in [0, 1], shape (N, C, H, W). A missing or corrupt file
raises an error that names the file.
"""

from __future__ import annotations

import gzip
import io
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SOURCES = ("digits", "synthetic", "cifar10:PATH", "mnist:PATH")
CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck"]
MNIST_FILES = {
    "train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte", "test_y": "t10k-labels-idx1-ubyte",
}


@dataclass
class Dataset:
    """Train and test images in [0, 1], (N, C, H, W) float32, labels int64."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    description: str
    files: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int, int]:
        _, c, h, w = self.x_train.shape
        return int(c), int(h), int(w)

    def summary(self) -> dict[str, object]:
        return {"name": self.name, "description": self.description, "files": self.files,
                "train": int(len(self.y_train)), "test": int(len(self.y_test)),
                "shape": list(self.shape), "classes": self.classes}


def load(spec: str, max_train: int | None = None, max_test: int | None = None) -> Dataset:
    """Load the data source named by ``spec`` (see :data:`SOURCES`), capped to the budget."""
    kind, _, path = spec.partition(":")
    if kind == "digits" and not path:
        ds = load_digits()
    elif kind == "synthetic" and not path:
        ds = make_synthetic()
    elif kind == "cifar10" and path:
        ds = load_cifar10(path)
    elif kind == "mnist" and path:
        ds = load_mnist(path)
    else:
        raise ValueError(f"--data must be one of {', '.join(SOURCES)}, got {spec!r}")
    return subsample(ds, max_train, max_test)


def subsample(ds: Dataset, max_train: int | None, max_test: int | None) -> Dataset:
    """A fixed random subset (seed 0) when a split exceeds its cap."""
    rng = np.random.default_rng(0)

    def cap(x: np.ndarray, y: np.ndarray, n: int | None) -> tuple[np.ndarray, np.ndarray]:
        if n is None or len(y) <= n:
            return x, y
        idx = np.sort(rng.permutation(len(y))[:n])
        return x[idx], y[idx]

    ds.x_train, ds.y_train = cap(ds.x_train, ds.y_train, max_train)
    ds.x_test, ds.y_test = cap(ds.x_test, ds.y_test, max_test)
    return ds


def load_digits() -> Dataset:
    """scikit-learn's bundled digits, split 75/25 stratified with a fixed seed."""
    from sklearn.datasets import load_digits as _load
    from sklearn.model_selection import train_test_split

    d = _load()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    return Dataset("digits", xtr, ytr, xte, yte, [str(i) for i in range(10)],
                   "scikit-learn digits: 8x8 grey handwritten digits, 10 classes")


def make_synthetic(n_train: int = 2000, n_test: int = 1000, size: int = 16, seed: int = 0,
                   contrast: tuple[float, float] = (0.1, 1.0), illumination: float = 0.5,
                   noise: float = 0.03) -> Dataset:
    """Gabor patches at 4 orientations (the class) on a grey background.

    Each image has a random position, phase and spatial frequency, a contrast drawn
    log-uniformly from ``contrast``, a linear illumination gradient of random direction and
    amplitude up to ``illumination``, and Gaussian pixel noise of std ``noise``; clipped to [0, 1].
    """
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    y = rng.integers(0, 4, n)
    theta = y * np.pi / 4
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    cx, cy = rng.uniform(0.3, 0.7, (2, n)) * size
    freq = rng.uniform(0.15, 0.3, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    c = np.exp(rng.uniform(np.log(contrast[0]), np.log(contrast[1]), n))
    dx, dy = xx[None] - cx[:, None, None], yy[None] - cy[:, None, None]
    u = dx * np.cos(theta)[:, None, None] + dy * np.sin(theta)[:, None, None]
    env = np.exp(-(dx**2 + dy**2) / (2 * (size / 5) ** 2))
    patch = np.cos(2 * np.pi * freq[:, None, None] * u + phase[:, None, None]) * env
    g_angle = rng.uniform(0, 2 * np.pi, n)
    g_amp = rng.uniform(0, illumination, n)
    ramp = ((xx[None] - size / 2) * np.cos(g_angle)[:, None, None]
            + (yy[None] - size / 2) * np.sin(g_angle)[:, None, None]) / size
    img = 0.5 + 0.5 * c[:, None, None] * patch + g_amp[:, None, None] * ramp
    img = np.clip(img + rng.normal(0, noise, img.shape), 0, 1).astype(np.float32)[:, None]
    names = ["0 deg", "45 deg", "90 deg", "135 deg"]
    return Dataset("synthetic", img[:n_train], y[:n_train], img[n_train:], y[n_train:], names,
                   f"generated Gabor patches {size}x{size}, 4 orientations, contrast "
                   f"{contrast[0]:g}..{contrast[1]:g} (log-uniform), illumination gradient "
                   f"up to {illumination:g}, noise std {noise:g}")


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes and NumPy arrays only: a data file cannot run code."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct"), ("numpy", "ndarray"),
                ("numpy", "dtype"), ("numpy._core.numeric", "_frombuffer"),
                ("numpy.core.numeric", "_frombuffer"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-10 batch file not found: {path}")
    try:
        with open(path, "rb") as f:
            d = _ArrayUnpickler(f, encoding="bytes").load()
        data = np.asarray(d[b"data"] if b"data" in d else d["data"], dtype=np.uint8)
        labels = np.asarray(d[b"labels"] if b"labels" in d else d["labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError,
            IndexError) as exc:
        raise ValueError(f"corrupt CIFAR-10 batch file {path}: {type(exc).__name__}: {exc}") \
            from exc
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise ValueError(f"corrupt CIFAR-10 batch file {path}: expected data (N, 3072) and N "
                         f"labels, got data {data.shape} and {len(labels)} labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"corrupt CIFAR-10 batch file {path}: labels outside 0..9")
    return (data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0), labels


def load_cifar10(path: str | Path) -> Dataset:
    """CIFAR-10 python batches from ``path`` (or ``path/cifar-10-batches-py``)."""
    root = Path(path)
    if not (root / "test_batch").exists() and (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    if not root.is_dir():
        raise FileNotFoundError(f"CIFAR-10 directory not found: {root}")
    parts = [_cifar_batch(root / name) for name in CIFAR_FILES]
    xtr = np.concatenate([p[0] for p in parts[:5]])
    ytr = np.concatenate([p[1] for p in parts[:5]])
    return Dataset("cifar10", xtr, ytr, parts[5][0], parts[5][1], list(CIFAR_CLASSES),
                   "CIFAR-10: 32x32 colour images, 10 classes",
                   [str(root / n) for n in CIFAR_FILES])


def _read_maybe_gz(root: Path, name: str) -> tuple[Path, bytes]:
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            raw = candidate.read_bytes()
            if candidate.suffix == ".gz":
                try:
                    raw = gzip.GzipFile(fileobj=io.BytesIO(raw)).read()
                except (OSError, EOFError) as exc:
                    raise ValueError(f"corrupt MNIST file {candidate}: bad gzip ({exc})") from exc
            return candidate, raw
    raise FileNotFoundError(f"MNIST file not found: {root / name} (or {name}.gz)")


def _parse_idx(path: Path, raw: bytes, rank: int) -> np.ndarray:
    """IDX format: 2 zero bytes, type 0x08 (ubyte), rank, then rank big-endian int32 sizes."""
    if len(raw) < 4 + 4 * rank or raw[:2] != b"\0\0" or raw[2] != 0x08 or raw[3] != rank:
        raise ValueError(f"corrupt MNIST file {path}: expected an idx{rank}-ubyte header")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)]
    body = raw[4 + 4 * rank:]
    if len(body) != int(np.prod(dims)):
        raise ValueError(f"corrupt MNIST file {path}: header says {dims} = {int(np.prod(dims))} "
                         f"bytes, file has {len(body)}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def load_mnist(path: str | Path) -> Dataset:
    """MNIST (or Fashion-MNIST) idx files from ``path``."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"MNIST directory not found: {root}")
    arrays: dict[str, np.ndarray] = {}
    files = []
    for key, name in MNIST_FILES.items():
        p, raw = _read_maybe_gz(root, name)
        arrays[key] = _parse_idx(p, raw, 3 if key.endswith("x") else 1)
        files.append(str(p))
    for split in ("train", "test"):
        if len(arrays[f"{split}_x"]) != len(arrays[f"{split}_y"]):
            raise ValueError(f"MNIST {split} images and labels differ in count in {root}")
    xs = {k: (v[:, None].astype(np.float32) / 255.0) for k, v in arrays.items() if k.endswith("x")}
    return Dataset("mnist", xs["train_x"], arrays["train_y"].astype(np.int64), xs["test_x"],
                   arrays["test_y"].astype(np.int64), [str(i) for i in range(10)],
                   "MNIST: 28x28 grey digits, 10 classes", files)
