"""Every framework's LRN parameters, and exact converters through one canonical set.

The canonical set is PyTorch's convention plus an explicit window offset and region:
``(size, before, alpha, beta, k, region)`` with the factor in front of the window sum
``A = alpha / size`` (across) or ``alpha / size^d`` (within; d spatial axes).

================  ==============================================  ===========  ===============
framework         parameters (defaults)                           A            even-size window
================  ==============================================  ===========  ===============
caffe             local_size=5, alpha=1, beta=0.75, k=1,          alpha / n    odd sizes only
                  norm_region=ACROSS_CHANNELS | WITHIN_CHANNEL
torch             size, alpha=1e-4, beta=0.75, k=1                alpha / n    before = n // 2
tensorflow        depth_radius=5, bias=1, alpha=1, beta=0.5       alpha        n = 2r + 1 (odd)
onnx              size, alpha=1e-4, beta=0.75, bias=1             alpha / n    before = (n-1)//2
cudnn             lrnN=5, lrnAlpha=1e-4, lrnBeta=0.75, lrnK=2     alpha / n    before = (n-1)//2
mxnet             nsize, alpha=1e-4, beta=0.75, knorm=2           alpha / n    odd sizes only
chainer           n=5, k=2, alpha=1e-4, beta=0.75                 alpha        odd sizes only*
cuda-convnet      size, scale, pow, type=cmrnorm | rnorm (k = 1)  scale / n    before = n // 2
================  ==============================================  ===========  ===============

(*) Chainer's CPU code sums 2*(n//2)+1 channels and its GPU code n channels, so an even n
has no single meaning there; we refuse it. Caffe's WITHIN_CHANNEL ignores k (it is 1) and
divides alpha by n^2; cuda-convnet's ``rnorm`` divides ``scale`` by size^2 the same way.
A conversion that cannot be exact raises ``ValueError`` saying why.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._spec import check_float, check_int

_MISSING: Any = object()


@dataclass(frozen=True)
class Canonical:
    """One LRN in localnorm's canonical convention (see module docstring)."""

    size: int
    before: int
    alpha: float
    beta: float
    k: float
    region: str = "across"

    @property
    def after(self) -> int:
        return self.size - 1 - self.before

    def as_dict(self) -> dict[str, Any]:
        return {"size": self.size, "before": self.before, "alpha": self.alpha,
                "beta": self.beta, "k": self.k, "region": self.region}


@dataclass(frozen=True)
class FrameworkInfo:
    """Parameter names and defaults of one framework (``_MISSING`` marks a required one)."""

    name: str
    defaults: dict[str, Any]
    channel_dim: int
    to_canonical: Callable[[dict[str, Any]], Canonical] = field(repr=False)
    from_canonical: Callable[[Canonical], dict[str, Any]] = field(repr=False)


def _odd(framework: str, name: str, n: int) -> None:
    if n % 2 == 0:
        raise ValueError(f"{framework} accepts odd {name} only, got {name}={n}")


def _centered(framework: str, c: Canonical) -> None:
    if c.size % 2 == 0 or c.before != c.size // 2:
        raise ValueError(
            f"{framework} needs an odd, centred window; size={c.size}, before={c.before} "
            "has no exact equivalent there"
        )


def _need_across(framework: str, c: Canonical) -> None:
    if c.region != "across":
        raise ValueError(f"{framework} has no within-channel LRN (region={c.region!r})")


def _need_k1(framework: str, c: Canonical, why: str) -> None:
    if c.k != 1.0:
        raise ValueError(f"{framework} {why} fixes k = 1, cannot express k={c.k}")


# --- one pair of functions per framework -------------------------------------------------

def _torch_in(p: dict[str, Any]) -> Canonical:
    n = check_int("size", p["size"], 1)
    return Canonical(n, n // 2, p["alpha"], p["beta"], p["k"])


def _torch_out(c: Canonical) -> dict[str, Any]:
    _need_across("torch", c)
    if c.before != c.size // 2:
        raise ValueError(
            f"torch puts the window at [c - size//2, ...]; before={c.before} with size={c.size} "
            "has no equivalent (use localnorm.LocalResponseNorm(before=...))"
        )
    return {"size": c.size, "alpha": c.alpha, "beta": c.beta, "k": c.k}


def _caffe_region(value: Any) -> str:
    v = str(value).upper()
    if v in ("ACROSS_CHANNELS", "0"):
        return "across"
    if v in ("WITHIN_CHANNEL", "1"):
        return "within"
    raise ValueError(f"norm_region must be ACROSS_CHANNELS or WITHIN_CHANNEL, got {value!r}")


def _caffe_in(p: dict[str, Any]) -> Canonical:
    n = check_int("local_size", p["local_size"], 1)
    _odd("caffe", "local_size", n)
    region = _caffe_region(p["norm_region"])
    k = p["k"] if region == "across" else 1.0  # Caffe's WITHIN_CHANNEL ignores k
    return Canonical(n, n // 2, p["alpha"], p["beta"], k, region)


def _caffe_out(c: Canonical) -> dict[str, Any]:
    _centered("caffe", c)
    region = "ACROSS_CHANNELS" if c.region == "across" else "WITHIN_CHANNEL"
    if c.region == "within":
        _need_k1("caffe", c, "WITHIN_CHANNEL")
    return {"local_size": c.size, "alpha": c.alpha, "beta": c.beta, "k": c.k,
            "norm_region": region}


def _tf_in(p: dict[str, Any]) -> Canonical:
    r = check_int("depth_radius", p["depth_radius"], 0)
    n = 2 * r + 1
    return Canonical(n, r, p["alpha"] * n, p["beta"], p["bias"])


def _tf_out(c: Canonical) -> dict[str, Any]:
    _need_across("tensorflow", c)
    _centered("tensorflow", c)
    return {"depth_radius": c.before, "bias": c.k, "alpha": c.alpha / c.size, "beta": c.beta}


def _onnx_in(p: dict[str, Any]) -> Canonical:
    n = check_int("size", p["size"], 1)
    return Canonical(n, (n - 1) // 2, p["alpha"], p["beta"], p["bias"])


def _onnx_out(c: Canonical) -> dict[str, Any]:
    _need_across("onnx", c)
    if c.before != (c.size - 1) // 2:
        raise ValueError(
            f"onnx puts the window at [c - (size-1)//2, ...]; before={c.before} with "
            f"size={c.size} has no equivalent"
        )
    return {"size": c.size, "alpha": c.alpha, "beta": c.beta, "bias": c.k}


def _cudnn_in(p: dict[str, Any]) -> Canonical:
    n = check_int("lrnN", p["lrnN"], 1, 16)
    check_float("lrnK", p["lrnK"], 1e-5)
    check_float("lrnBeta", p["lrnBeta"], 0.01)
    return Canonical(n, (n - 1) // 2, p["lrnAlpha"], p["lrnBeta"], p["lrnK"])


def _cudnn_out(c: Canonical) -> dict[str, Any]:
    _need_across("cudnn", c)
    if c.before != (c.size - 1) // 2 or not 1 <= c.size <= 16:
        raise ValueError(
            f"cudnn needs 1 <= lrnN <= 16 and before = (lrnN-1)//2; got size={c.size}, "
            f"before={c.before}"
        )
    if c.k < 1e-5 or c.beta < 0.01:
        raise ValueError(f"cudnn needs lrnK >= 1e-5 and lrnBeta >= 0.01; got k={c.k}, "
                         f"beta={c.beta}")
    return {"lrnN": c.size, "lrnAlpha": c.alpha, "lrnBeta": c.beta, "lrnK": c.k}


def _mxnet_in(p: dict[str, Any]) -> Canonical:
    n = check_int("nsize", p["nsize"], 1)
    _odd("mxnet", "nsize", n)
    return Canonical(n, n // 2, p["alpha"], p["beta"], p["knorm"])


def _mxnet_out(c: Canonical) -> dict[str, Any]:
    _need_across("mxnet", c)
    _centered("mxnet", c)
    return {"nsize": c.size, "alpha": c.alpha, "beta": c.beta, "knorm": c.k}


def _chainer_in(p: dict[str, Any]) -> Canonical:
    n = check_int("n", p["n"], 1)
    _odd("chainer", "n", n)
    return Canonical(n, n // 2, p["alpha"] * n, p["beta"], p["k"])


def _chainer_out(c: Canonical) -> dict[str, Any]:
    _need_across("chainer", c)
    _centered("chainer", c)
    return {"n": c.size, "k": c.k, "alpha": c.alpha / c.size, "beta": c.beta}


def _convnet_in(p: dict[str, Any]) -> Canonical:
    n = check_int("size", p["size"], 1)
    kind = str(p["type"]).lower()
    if kind not in ("cmrnorm", "rnorm"):
        raise ValueError(f"cuda-convnet type must be 'cmrnorm' or 'rnorm', got {p['type']!r}")
    region = "across" if kind == "cmrnorm" else "within"
    return Canonical(n, n // 2, p["scale"], p["pow"], 1.0, region)


def _convnet_out(c: Canonical) -> dict[str, Any]:
    _need_k1("cuda-convnet", c, "cmrnorm/rnorm")
    if c.before != c.size // 2:
        raise ValueError(f"cuda-convnet starts the window at -size/2; before={c.before} "
                         f"with size={c.size} has no equivalent")
    kind = "cmrnorm" if c.region == "across" else "rnorm"
    return {"size": c.size, "scale": c.alpha, "pow": c.beta, "type": kind}


FRAMEWORKS: dict[str, FrameworkInfo] = {
    f.name: f
    for f in [
        FrameworkInfo("caffe", {"local_size": 5, "alpha": 1.0, "beta": 0.75, "k": 1.0,
                                "norm_region": "ACROSS_CHANNELS"}, 1, _caffe_in, _caffe_out),
        FrameworkInfo("torch", {"size": _MISSING, "alpha": 1e-4, "beta": 0.75, "k": 1.0}, 1,
                      _torch_in, _torch_out),
        FrameworkInfo("tensorflow", {"depth_radius": 5, "bias": 1.0, "alpha": 1.0,
                                     "beta": 0.5}, -1, _tf_in, _tf_out),
        FrameworkInfo("onnx", {"size": _MISSING, "alpha": 1e-4, "beta": 0.75, "bias": 1.0}, 1,
                      _onnx_in, _onnx_out),
        FrameworkInfo("cudnn", {"lrnN": 5, "lrnAlpha": 1e-4, "lrnBeta": 0.75, "lrnK": 2.0}, 1,
                      _cudnn_in, _cudnn_out),
        FrameworkInfo("mxnet", {"nsize": _MISSING, "alpha": 1e-4, "beta": 0.75, "knorm": 2.0},
                      1, _mxnet_in, _mxnet_out),
        FrameworkInfo("chainer", {"n": 5, "k": 2.0, "alpha": 1e-4, "beta": 0.75}, 1,
                      _chainer_in, _chainer_out),
        FrameworkInfo("cuda-convnet", {"size": _MISSING, "scale": _MISSING, "pow": _MISSING,
                                       "type": "cmrnorm"}, 1, _convnet_in, _convnet_out),
    ]
}
_ALIASES = {"pytorch": "torch", "tf": "tensorflow", "cuda_convnet": "cuda-convnet",
            "cudaconvnet": "cuda-convnet", "convnet": "cuda-convnet"}
_STRINGS = {"norm_region", "type"}


def framework_info(framework: str) -> FrameworkInfo:
    """The :class:`FrameworkInfo` of ``framework`` (a few aliases such as 'tf' accepted)."""
    key = _ALIASES.get(str(framework).lower(), str(framework).lower())
    if key not in FRAMEWORKS:
        raise ValueError(f"unknown framework {framework!r}; choose one of {sorted(FRAMEWORKS)}")
    return FRAMEWORKS[key]


def _fill(info: FrameworkInfo, params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(info.defaults))
    if unknown:
        raise ValueError(f"{info.name} has no LRN parameter {', '.join(map(repr, unknown))}; "
                         f"its parameters are {list(info.defaults)}")
    filled = {**info.defaults, **params}
    missing = [n for n, v in filled.items() if v is _MISSING]
    if missing:
        raise ValueError(f"{info.name} needs parameter(s) {missing}")
    for name, value in filled.items():
        if name not in _STRINGS and not isinstance(value, int):
            filled[name] = check_float(name, value)
    return filled


def _validate(c: Canonical) -> Canonical:
    check_float("alpha", c.alpha, 0.0)
    beta = check_float("beta", c.beta)
    k = check_float("k", c.k)
    if k < 0 or (beta > 0 and k <= 0):
        raise ValueError(f"k must be > 0 when beta > 0 (>= 0 otherwise), got k={k}")
    return Canonical(c.size, c.before, float(c.alpha), beta, k, c.region)


def to_canonical(framework: str, **params: Any) -> Canonical:
    """Canonical parameters from ``framework``'s own names, with its defaults filled in.

    >>> to_canonical("tensorflow", depth_radius=2, alpha=1e-4)
    Canonical(size=5, before=2, alpha=0.0005, beta=0.5, k=1.0, region='across')
    """
    info = framework_info(framework)
    return _validate(info.to_canonical(_fill(info, params)))


def from_canonical(framework: str, canonical: Canonical) -> dict[str, Any]:
    """``framework``'s own parameters for ``canonical``; ValueError if not exactly possible."""
    info = framework_info(framework)
    _validate(canonical)
    return info.from_canonical(canonical)


def convert(src: str, dst: str, **params: Any) -> dict[str, Any]:
    """Translate parameters from one framework's names to another's."""
    return from_canonical(dst, to_canonical(src, **params))


def close(a: Canonical, b: Canonical, rel: float = 1e-12) -> bool:
    """Equality up to float rounding (alpha * n / n is not always alpha)."""
    return (a.size, a.before, a.region) == (b.size, b.before, b.region) and all(
        math.isclose(x, y, rel_tol=rel, abs_tol=0.0)
        for x, y in ((a.alpha, b.alpha), (a.beta, b.beta), (a.k, b.k))
    )
