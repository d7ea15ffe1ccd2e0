"""Providers the bench times: localnorm itself, each peer that is installed, and the copy floor.

A provider's ``build(case, inputs)`` returns a :class:`Prepared`: one zero-argument callable
per mode (``fwd``, ``bwd`` = backward alone, ``fwdbwd``) plus what the runner needs to
measure it. It raises :class:`Unsupported` when the peer cannot express the case (an even
size for TensorFlow, bfloat16 for ONNX Runtime, a GPU tensor for tensorflow-cpu); the runner
records the reason and goes on. Every peer is imported lazily, inside its builder.

Peers get the data in their own native layout (TensorFlow NHWC, ONNX Runtime contiguous NCHW)
and parameters converted with :mod:`localnorm.conventions`, so each computes the same function
as ``torch.nn.functional.local_response_norm``; conversions are made before timing.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

MODES = ("fwd", "bwd", "fwdbwd")


class Unsupported(Exception):
    """The provider cannot run this case; the message says why."""


@dataclass
class Prepared:
    """What a provider built for one case.

    ``calls`` maps a mode to a zero-argument callable returning the call's result;
    ``memory`` is ``"torch"`` (tensors from torch's allocator) or ``"rss"`` (anything else);
    ``fresh_output`` is False when the call writes into a buffer allocated beforehand;
    ``setup[mode]``, when given, runs untimed before every call of that mode (a sample of
    such a mode is always one call).
    """

    calls: dict[str, Callable[[], Any]]
    unsupported: dict[str, str] = field(default_factory=dict)
    memory: str = "torch"
    fresh_output: bool = True
    backend: str | None = None
    note: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    setup: dict[str, Callable[[], Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Inputs:
    """The case's data: input ``x`` and output gradient ``g`` (same shape, dtype, layout)."""

    x: torch.Tensor
    g: torch.Tensor
    size: int
    alpha: float
    beta: float
    k: float


@dataclass(frozen=True)
class Provider:
    name: str
    kind: str  # "ours" | "peer" | "floor"
    build: Callable[[Inputs], Prepared]


# --- torch-based callables ----------------------------------------------------------------

def torch_calls(fn: Callable[[torch.Tensor], torch.Tensor], inp: Inputs
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(calls, setups) for a torch function: fwd under no_grad; fwdbwd builds the graph and
    differentiates it; bwd differentiates a graph that its setup built just before, outside
    the timed call (no ``retain_graph``: torch.compile's donated buffers forbid it, and
    training never retains the graph)."""
    x, g = inp.x, inp.g
    xr = x.detach().clone().requires_grad_(True)  # clone keeps x's strides
    graph: list[torch.Tensor] = []

    def fwd() -> torch.Tensor:
        with torch.no_grad():
            return fn(x)

    def setup_bwd() -> None:
        graph.clear()
        graph.append(fn(xr))

    def bwd() -> torch.Tensor:
        return torch.autograd.grad(graph.pop(), xr, g)[0]

    def fwdbwd() -> torch.Tensor:
        return torch.autograd.grad(fn(xr), xr, g)[0]

    return {"fwd": fwd, "bwd": bwd, "fwdbwd": fwdbwd}, {"bwd": setup_bwd}


def _torch_lrn(inp: Inputs) -> Callable[[torch.Tensor], torch.Tensor]:
    size, alpha, beta, k = inp.size, inp.alpha, inp.beta, inp.k
    return lambda t: F.local_response_norm(t, size, alpha, beta, k)


def build_torch_eager(inp: Inputs) -> Prepared:
    calls, setup = torch_calls(_torch_lrn(inp), inp)
    return Prepared(calls, setup=setup)


def build_torch_compile(inp: Inputs) -> Prepared:
    """torch.compile of torch's own LRN; compiled on the first (warm-up) call. Dynamo's cache
    is reset per case so a new shape never hits the recompile limit and falls back to eager."""
    torch._dynamo.reset()
    # A sweep group builds every size before the first compiles, so they share one dynamo
    # cache: with the default limit (8) the sizes past the eighth recompile silently ran eager.
    cfg = torch._dynamo.config
    cfg.recompile_limit = max(cfg.recompile_limit, 64)
    cfg.accumulated_recompile_limit = max(cfg.accumulated_recompile_limit, 1024)
    calls, setup = torch_calls(torch.compile(_torch_lrn(inp), dynamic=False), inp)
    return Prepared(calls, setup=setup, note="torch.compile(dynamic=False), inductor")


def build_copy(inp: Inputs) -> Prepared:
    """The floor of a memory-bound op: one read of x, one write of a preallocated output."""
    out = torch.empty_like(inp.x)
    why = "the copy is the floor; every mode is compared with its one copy"
    return Prepared({"fwd": lambda: out.copy_(inp.x)}, {"bwd": why, "fwdbwd": why},
                    fresh_output=False)


def build_clone(inp: Inputs) -> Prepared:
    """The floor for an op that returns a new tensor: ``x.clone()`` allocates its output on
    every call, as every forward here does. On CPU a fresh buffer of more than a few MB comes
    straight from the OS and its first touch costs page faults, which the copy into a
    preallocated buffer never pays; the two floors bracket what an out-of-place op can reach."""
    x = inp.x
    why = "the clone is a floor; every mode is compared with its one clone"
    return Prepared({"fwd": lambda: x.clone()}, {"bwd": why, "fwdbwd": why})


# --- TensorFlow (NHWC) --------------------------------------------------------------------

def _tf(threads: int) -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if installed("triton"):
        # TensorFlow and Triton each carry LLVM; importing Triton after TensorFlow aborts the
        # process ("Option 'bitcode-mdindex-threshold' registered more than once"), the other
        # order works. localnorm may import Triton later, so it goes first.
        import triton  # noqa: F401
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # already initialised in this process; the JSON records what is in effect
    return tf


def _channels_last_4d(x: torch.Tensor) -> tuple[torch.Tensor, str | None]:
    """x (N, C, *spatial) as a contiguous 4-D NHWC tensor (N, S, 1, C) or (N, H, W, C)."""
    nhwc = x.movedim(1, -1).contiguous()
    if x.dim() == 4:
        return nhwc, None
    n, c = x.shape[0], x.shape[1]
    s = math.prod(x.shape[2:])
    return nhwc.reshape(n, s, 1, c), f"reshaped to 4-D NHWC ({n}, {s}, 1, {c}) (a free view)"


def make_build_tensorflow(threads: int) -> Callable[[Inputs], Prepared]:
    def build(inp: Inputs) -> Prepared:
        from ..conventions import Canonical, from_canonical

        if not installed("tensorflow"):
            raise Unsupported("not installed (pip install tensorflow-cpu)")
        if inp.x.device.type != "cpu":
            raise Unsupported("tensorflow-cpu runs on the CPU only")
        try:
            p = from_canonical("tensorflow", Canonical(inp.size, inp.size // 2, inp.alpha,
                                                       inp.beta, inp.k))
        except ValueError as exc:
            raise Unsupported(str(exc)) from exc
        if inp.x.dtype == torch.bfloat16:
            raise Unsupported("TensorFlow registers no CPU LRN kernel for bfloat16")
        tf = _tf(threads)
        tdt = {torch.float32: tf.float32, torch.bfloat16: tf.bfloat16,
               torch.float16: tf.float16, torch.float64: tf.float64}[inp.x.dtype]
        x4, how = _channels_last_4d(inp.x)
        g4, _ = _channels_last_4d(inp.g)
        xt = tf.cast(tf.constant(x4.float().numpy()), tdt)
        gt = tf.cast(tf.constant(g4.float().numpy()), tdt)
        kw = {"depth_radius": p["depth_radius"], "bias": p["bias"], "alpha": p["alpha"],
              "beta": p["beta"]}

        @tf.function
        def fwd(a: Any) -> Any:
            return tf.nn.local_response_normalization(a, **kw)

        @tf.function
        def bwd(a: Any, y: Any, dy: Any) -> Any:
            return tf.raw_ops.LRNGrad(input_grads=dy, input_image=a, output_image=y, **kw)

        @tf.function
        def fwdbwd(a: Any, dy: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(a)
                y = tf.nn.local_response_normalization(a, **kw)
            return tape.gradient(y, a, output_gradients=dy)

        yt: list[Any] = []

        def run_bwd() -> Any:
            if not yt:
                yt.append(fwd(xt))
            return bwd(xt, yt[0], gt)

        note = "; ".join(s for s in (how, f"NHWC input, tf.function, {kw}") if s)
        return Prepared({"fwd": lambda: fwd(xt), "bwd": run_bwd,
                         "fwdbwd": lambda: fwdbwd(xt, gt)}, memory="rss", note=note)

    return build


# --- ONNX Runtime (forward only) ----------------------------------------------------------

def _onnx_lrn_model(shape: tuple[int, ...], p: dict[str, Any]) -> bytes:
    from onnx import TensorProto, helper

    node = helper.make_node("LRN", ["x"], ["y"], size=p["size"], alpha=p["alpha"],
                            beta=p["beta"], bias=p["bias"])
    vi = [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(shape)) for n in "xy"]
    graph = helper.make_graph([node], "lrn", [vi[0]], [vi[1]])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by every onnxruntime >= 1.10
    return bytes(model.SerializeToString())


def make_build_onnxruntime(threads: int) -> Callable[[Inputs], Prepared]:
    def build(inp: Inputs) -> Prepared:
        from ..conventions import Canonical, from_canonical

        if not (installed("onnxruntime") and installed("onnx")):
            raise Unsupported("not installed (pip install 'localnorm[onnx]')")
        if inp.x.device.type != "cpu":
            raise Unsupported("this bench runs onnxruntime's CPU provider only")
        if inp.x.dtype != torch.float32:
            raise Unsupported(f"onnxruntime's CPU LRN kernel is float32 only, not {inp.x.dtype}")
        try:
            p = from_canonical("onnx", Canonical(inp.size, inp.size // 2, inp.alpha, inp.beta,
                                                 inp.k))
        except ValueError as exc:
            raise Unsupported(str(exc)) from exc
        import onnxruntime as ort

        x = inp.x.contiguous()
        note = "contiguous NCHW input, io_binding into a preallocated output"
        if x.dim() != 4:  # ORT's CPU kernel takes 4-D input only
            x = x.reshape(x.shape[0], x.shape[1], -1, 1)
            note = f"reshaped to 4-D {tuple(x.shape)} (a free view); " + note
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        # ORT's pool spins after each run by default, holding both cores while the next
        # provider is timed (measured: localnorm's NCHW forward 3.5 -> 8 ms beside it)
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sess = ort.InferenceSession(_onnx_lrn_model(tuple(x.shape), p), so,
                                    providers=["CPUExecutionProvider"])
        xn = x.numpy()
        out = ort.OrtValue.ortvalue_from_numpy(xn.copy())
        io = sess.io_binding()
        io.bind_ortvalue_input("x", ort.OrtValue.ortvalue_from_numpy(xn))
        io.bind_ortvalue_output("y", out)
        why = "an ONNX Runtime inference session has no LRN gradient"
        return Prepared({"fwd": lambda: sess.run_with_iobinding(io)},
                        {"bwd": why, "fwdbwd": why}, memory="rss", fresh_output=False,
                        note=f"{note}; {p}")

    return build


def lrn_peers(threads: int) -> list[Provider]:
    """LRN peers, in table order (the copy floor first)."""
    return [
        Provider("copy", "floor", build_copy),
        Provider("clone", "floor", build_clone),
        Provider("torch-eager", "peer", build_torch_eager),
        Provider("torch-compile", "peer", build_torch_compile),
        Provider("tensorflow", "peer", make_build_tensorflow(threads)),
        Provider("onnxruntime", "peer", make_build_onnxruntime(threads)),
    ]


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    import importlib.util

    return importlib.util.find_spec(module) is not None
