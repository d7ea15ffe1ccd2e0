"""Backend registry and dispatch.

A backend is a module that defines ``NAME``, ``why_not(op, x, spec) -> str | None`` (None when
it can run ``op`` on ``x``; otherwise the reason it cannot) and, for each op it implements,
``<op>_fwd(x, spec)`` and ``<op>_bwd(x, grad_out, spec)``. Backends are imported lazily, only
when asked for, so ``import localnorm`` needs numpy and torch alone (after einops' _backends).

Preference order: triton (CUDA tensors), numba (CPU tensors), composite (anything).
``LOCALNORM_BACKEND=composite|numba|triton`` forces one; if the forced backend cannot run the
call, the error says why instead of silently falling back.

``empty_cache()`` frees the numba backend's cached CPU output buffers and ``cache_info()``
reports them (``_pool``; ``LOCALNORM_CPU_CACHE_MB`` caps them, 0 turns the cache off).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

import torch

from ._pool import cache_info as cache_info
from ._pool import empty_cache as empty_cache

BACKENDS: dict[str, str] = {
    "triton": "localnorm.backends.triton_lrn",
    "numba": "localnorm.backends.numba_lrn",
    "composite": "localnorm.backends.composite",
}
INSTALL_HINT = {"triton": "localnorm[gpu]", "numba": "localnorm[cpu]", "composite": "localnorm"}
ENV_VAR = "LOCALNORM_BACKEND"

_loaded: dict[str, ModuleType | str] = {}


def load(name: str) -> ModuleType | str:
    """The backend module, or a string saying why it could not be imported."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {sorted(BACKENDS)}")
    if name not in _loaded:
        try:
            _loaded[name] = importlib.import_module(BACKENDS[name])
        except ImportError as exc:
            _loaded[name] = f"not importable ({exc}); pip install '{INSTALL_HINT[name]}'"
    return _loaded[name]


def _precheck(name: str, x: torch.Tensor, explicit: bool) -> str | None:
    """Reasons known without importing the backend (so a CPU call never imports triton).

    Triton's CPU interpreter is a testing tool, thousands of times slower than numba: it
    runs only when triton is named explicitly (LOCALNORM_BACKEND=triton, TRITON_INTERPRET=1),
    never by automatic selection.
    """
    if name == "triton" and x.device.type != "cuda":
        if not explicit:
            return "needs a CUDA tensor (its CPU interpreter runs only when forced)"
        if os.environ.get("TRITON_INTERPRET") != "1":
            return "needs a CUDA tensor (or TRITON_INTERPRET=1 to run its interpreter on CPU)"
    if name == "numba" and x.device.type != "cpu":
        return f"runs on CPU tensors only, got a {x.device.type} tensor"
    return None


def _reason(name: str, op: str, x: torch.Tensor, spec: Any, explicit: bool = False) -> str | None:
    early = _precheck(name, x, explicit)
    if early is not None:
        return early
    mod = load(name)
    if isinstance(mod, str):
        return mod
    if not hasattr(mod, f"{op}_fwd"):
        return f"does not implement {op}"
    reason: str | None = mod.why_not(op, x, spec)
    return reason


def forced() -> str | None:
    """The backend named by ``LOCALNORM_BACKEND``, if set (validated)."""
    name = os.environ.get(ENV_VAR, "").strip().lower()
    if not name or name == "auto":
        return None
    if name not in BACKENDS:
        raise ValueError(f"{ENV_VAR}={name!r} is not a backend; choose one of {sorted(BACKENDS)}")
    return name


def select(op: str, x: torch.Tensor, spec: Any, name: str | None = None) -> ModuleType:
    """Pick the backend that runs ``op`` on ``x``; the error lists each backend's reason."""
    name = name or forced()
    candidates = [name] if name else list(BACKENDS)
    reasons = {}
    for cand in candidates:
        why = _reason(cand, op, x, spec, explicit=bool(name))
        if why is None:
            mod = load(cand)
            assert not isinstance(mod, str)
            return mod
        reasons[cand] = why
    detail = "; ".join(f"{k}: {v}" for k, v in reasons.items())
    raise RuntimeError(
        f"no localnorm backend can run {op} on a {x.device.type} {x.dtype} tensor of shape "
        f"{tuple(x.shape)} ({detail})"
    )


def available(op: str, x: torch.Tensor, spec: Any, *, forced: bool = False) -> list[str]:
    """Names of the backends that can run ``op`` on ``x``: those automatic selection may pick,
    or with ``forced=True`` those that run when named by LOCALNORM_BACKEND (for tests)."""
    return [n for n in BACKENDS if _reason(n, op, x, spec, explicit=forced) is None]
