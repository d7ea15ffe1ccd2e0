"""The bench's op table: one small entry per operator.

An entry says whether the op exists in this localnorm, whether it has a window ``size`` (then
it gets a size sweep), how to build localnorm's providers for a case, and which peers to time
beside it. LRN is always there; GDN, local contrast normalization and divisive normalization
appear when ``localnorm`` exposes them (``hasattr`` guards), so the bench never needs an edit
when they land. Their peers are the straightforward pure-torch compositions of the formulas in
DESIGN.md (sections 1.3 and 1.5), which is what a user would write without localnorm.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

import localnorm

from .peers import (
    Inputs,
    Prepared,
    Provider,
    Unsupported,
    build_clone,
    build_copy,
    lrn_peers,
    torch_calls,
)


@dataclass(frozen=True)
class OpEntry:
    name: str
    available: Callable[[], bool]
    has_size: bool
    ours: Callable[[Inputs], list[Provider]]
    peers: Callable[[int], list[Provider]]


# --- LRN ----------------------------------------------------------------------------------

def _lrn_fn(inp: Inputs) -> Callable[[torch.Tensor], torch.Tensor]:
    size, alpha, beta, k = inp.size, inp.alpha, inp.beta, inp.k
    return lambda t: localnorm.local_response_norm(t, size, alpha, beta, k)


def _interpreted(backend: str, x: torch.Tensor) -> bool:
    """Triton on a CPU tensor runs in Triton's interpreter (TRITON_INTERPRET=1): a test mode,
    thousands of times slower than any kernel; the bench never times it."""
    return backend == "triton" and x.device.type == "cpu"


def lrn_auto_backend(inp: Inputs) -> str:
    """The backend the bench's ``localnorm`` provider runs: the one
    ``localnorm.local_response_norm`` picks, unless that is Triton's interpreter, in which case
    the next backend that can run the input (forced while timing)."""
    from .. import backends
    from .._spec import make_lrn_spec

    spec = make_lrn_spec(inp.x, inp.size, inp.alpha, inp.beta, inp.k, "across", None, 1)
    name = str(backends.select("lrn", inp.x, spec).NAME)
    if _interpreted(name, inp.x):
        name = [b for b in backends.available("lrn", inp.x, spec)
                if not _interpreted(b, inp.x)][0]
    return name


def _lrn_ours(inp: Inputs) -> list[Provider]:
    """``localnorm`` (the public API, auto backend) and ``localnorm[<b>]`` for every other
    backend that can run the case, forced with ``LOCALNORM_BACKEND`` while it is timed."""
    from .. import backends
    from .._spec import make_lrn_spec

    spec = make_lrn_spec(inp.x, inp.size, inp.alpha, inp.beta, inp.k, "across", None, 1)
    picked = str(backends.select("lrn", inp.x, spec).NAME)
    auto = lrn_auto_backend(inp)

    def build(backend: str | None) -> Callable[[Inputs], Prepared]:
        def _build(i: Inputs) -> Prepared:
            forced = backend or (auto if auto != picked else None)
            env = {backends.ENV_VAR: forced} if forced else {}
            note = None if auto == picked or backend else (
                f"TRITON_INTERPRET=1 made localnorm pick Triton's interpreter on CPU; the "
                f"bench forced {auto} instead")
            calls, setup = torch_calls(_lrn_fn(i), i)
            return Prepared(calls, setup=setup, backend=backend or auto, env=env, note=note)
        return _build

    out = [Provider("localnorm", "ours", build(None))]
    out += [Provider(f"localnorm[{b}]", "ours", build(b))
            for b in backends.available("lrn", inp.x, spec)
            if b != auto and not _interpreted(b, inp.x)]
    return out


# --- LRN within channels (Caffe's WITHIN_CHANNEL, cuda-convnet's rnorm) -------------------

def _within_ours(inp: Inputs) -> list[Provider]:
    def build(i: Inputs) -> Prepared:
        def fn(t: torch.Tensor) -> torch.Tensor:
            return localnorm.local_response_norm(t, i.size, i.alpha, i.beta, i.k,
                                                 region="within")

        calls, setup = torch_calls(fn, i)
        return Prepared(calls, setup=setup, note="region='within'")
    return [Provider("localnorm", "ours", build)]


def _within_torch(inp: Inputs) -> Callable[[torch.Tensor], torch.Tensor]:
    """Caffe's WITHIN_CHANNEL written in torch: x * (k + alpha * avg_pool(x^2))^-beta, the
    average over the size^d box with the zero padding counted (Caffe's own definition)."""
    size, alpha, beta, k = inp.size, inp.alpha, inp.beta, inp.k
    nd = inp.x.dim() - 2
    pool = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}.get(nd)
    if pool is None or size % 2 == 0:
        raise Unsupported(f"the avg_pool composition takes 1-3 spatial axes and an odd size, "
                          f"not {nd} axes and size {size}")

    def fn(t: torch.Tensor) -> torch.Tensor:
        return t * (k + alpha * pool(t * t, size, 1, size // 2, count_include_pad=True)) ** -beta

    return fn


def _within_peer(inp: Inputs) -> Prepared:
    calls, setup = torch_calls(_within_torch(inp), inp)
    return Prepared(calls, setup=setup, note="x * (k + alpha * avg_pool(x^2))^-beta")


def _within_peer_compiled(inp: Inputs) -> Prepared:
    torch._dynamo.reset()  # as build_torch_compile: a fresh cache per case
    calls, setup = torch_calls(torch.compile(_within_torch(inp), dynamic=False), inp)
    return Prepared(calls, setup=setup, note="torch.compile(dynamic=False) of the avg_pool "
                    "composition")


# --- GDN, LCN, DN (rows appear once localnorm has them) -----------------------------------

def _call_known(fn: Callable[..., Any], *args: Any, **maybe: Any) -> Any:
    """Call ``fn`` with the keyword arguments of ``maybe`` that its signature accepts."""
    try:
        names = set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        names = set()
    return fn(*args, **{k: v for k, v in maybe.items() if k in names})


def _module_provider(cls_name: str, **maybe: Any) -> Callable[[Inputs], list[Provider]]:
    def ours(inp: Inputs) -> list[Provider]:
        def build(i: Inputs) -> Prepared:
            cls = getattr(localnorm, cls_name)
            c = i.x.shape[1]
            mod = _call_known(cls, c, **maybe) if _wants_channels(cls) else _call_known(
                cls, **maybe)
            mod = mod.to(device=i.x.device, dtype=i.x.dtype)
            calls, setup = torch_calls(mod, i)
            return Prepared(calls, setup=setup, note=f"localnorm.{cls_name} module")
        return [Provider("localnorm", "ours", build)]
    return ours


def _wants_channels(cls: type) -> bool:
    params = list(inspect.signature(cls).parameters.values())
    return bool(params) and params[0].default is inspect.Parameter.empty


def _conv1x1(t: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    nd = t.dim() - 2
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}.get(nd)
    if conv is None:
        raise Unsupported(f"the torch composition handles 1-3 spatial axes, not {nd}")
    return conv(t, weight.reshape(*weight.shape, *([1] * nd)))


def _gdn_peer(inp: Inputs) -> Prepared:
    """y = x / sqrt(beta + conv1x1(x^2, gamma)), GDN (Balle et al. 2016) written in torch."""
    c = inp.x.shape[1]
    gamma = 0.1 * torch.eye(c, device=inp.x.device, dtype=inp.x.dtype) + 1e-3
    beta = torch.ones(c, device=inp.x.device, dtype=inp.x.dtype)

    def fn(t: torch.Tensor) -> torch.Tensor:
        return t / torch.sqrt(beta.reshape(1, c, *([1] * (t.dim() - 2))) + _conv1x1(t * t, gamma))

    calls, setup = torch_calls(fn, inp)
    return Prepared(calls, setup=setup, note="x / sqrt(beta + conv1x1(x^2, gamma))")


def _gaussian_window(c: int, size: int, ref: torch.Tensor) -> torch.Tensor:
    r = torch.arange(size, device=ref.device, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * (size / 4) ** 2))
    w = (g[:, None] * g[None, :]).expand(c, size, size)
    return (w / w.sum()).to(ref.dtype).unsqueeze(0)  # (1, C, size, size), sums to 1


def _lcn_peer(inp: Inputs, size: int = 9) -> Prepared:
    """Jarrett et al. (2009) LCN in torch: v = x - w*x, sigma = sqrt(w*v^2), y = v / max(mean
    sigma, sigma), with a Gaussian window over size x size x all channels."""
    if inp.x.dim() != 4:
        raise Unsupported("the conv2d composition of LCN takes 4-D input")
    w = _gaussian_window(inp.x.shape[1], size, inp.x)
    pad = size // 2

    def fn(t: torch.Tensor) -> torch.Tensor:
        v = t - F.conv2d(t, w, padding=pad)
        sigma = torch.sqrt(F.conv2d(v * v, w, padding=pad))
        c = sigma.mean(dim=(2, 3), keepdim=True)
        return v / torch.maximum(sigma, c)

    calls, setup = torch_calls(fn, inp)
    return Prepared(calls, setup=setup, note=f"conv2d Gaussian {size}x{size}xC windows")


def _no_peers(threads: int) -> list[Provider]:
    return [Provider("copy", "floor", build_copy), Provider("clone", "floor", build_clone)]


OPS: dict[str, OpEntry] = {
    "lrn": OpEntry("lrn", lambda: True, True, _lrn_ours, lrn_peers),
    "lrn-within": OpEntry(
        "lrn-within", lambda: True, False, _within_ours,
        lambda t: _no_peers(t) + [Provider("torch-composition", "peer", _within_peer),
                                  Provider("torch-composition-compile", "peer",
                                           _within_peer_compiled)]),
    "gdn": OpEntry(
        "gdn", lambda: hasattr(localnorm, "gdn") and hasattr(localnorm, "GDN"), False,
        _module_provider("GDN"),
        lambda t: _no_peers(t) + [Provider("torch-composition", "peer", _gdn_peer)]),
    "lcn": OpEntry(
        "lcn", lambda: hasattr(localnorm, "local_contrast_norm")
        and hasattr(localnorm, "LocalContrastNorm"), False,
        _module_provider("LocalContrastNorm", size=9),
        lambda t: _no_peers(t) + [Provider("torch-composition", "peer", _lcn_peer)]),
    "dn": OpEntry(
        "dn", lambda: hasattr(localnorm, "divisive_norm") and hasattr(localnorm, "DivisiveNorm"),
        False, _module_provider("DivisiveNorm"), _no_peers),
}


def resolve(names: list[str]) -> list[OpEntry]:
    """The entries for ``--ops``; an unknown or absent op is a clear error."""
    out = []
    for n in names:
        if n not in OPS:
            raise ValueError(f"--ops: unknown op {n!r}; choose from {sorted(OPS)}")
        if not OPS[n].available():
            raise ValueError(f"--ops: {n!r} is not in this localnorm {localnorm.__version__} "
                             "(its public function and module are missing)")
        out.append(OPS[n])
    return out


def bytes_of(shape: tuple[int, ...], dtype: torch.dtype) -> int:
    return math.prod(shape) * torch.empty((), dtype=dtype).element_size()
