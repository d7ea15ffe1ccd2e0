"""``localnorm bench``: time localnorm against every installed peer and a plain copy."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .peers import MODES
from .runner import DTYPES, LAYOUTS, SHAPES, BenchConfig


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_shapes(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """``alexnet-conv1,8x96x27x27`` -> named shapes (an NxC... literal names itself)."""
    out = []
    for item in _csv(text):
        if item in SHAPES:
            out.append((item, SHAPES[item]))
            continue
        try:
            shape = tuple(int(v) for v in item.lower().split("x"))
        except ValueError:
            shape = ()
        if len(shape) < 3 or min(shape) < 1:
            raise ValueError(f"--shapes: {item!r} is neither a known shape {sorted(SHAPES)} "
                             "nor NxCx... with rank >= 3 and positive extents")
        out.append((item.lower(), shape))
    return out


def parse_sizes(text: str) -> list[int]:
    """``3,5,65`` -> [3, 5, 65]; ``none`` -> [] (no size sweep)."""
    if text.strip().lower() == "none":
        return []
    try:
        sizes = [int(v) for v in _csv(text)]
    except ValueError:
        raise ValueError(f"--sizes must be comma-separated ints >= 1, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise ValueError(f"--sizes must be comma-separated ints >= 1, got {text!r}")
    return sizes


def _choices(flag: str, text: str, allowed: list[str] | tuple[str, ...]) -> list[str]:
    items = _csv(text)
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise ValueError(f"{flag}: {bad or text!r} not allowed; choose from {list(allowed)}")
    return items


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """The :class:`BenchConfig` for parsed command-line arguments."""
    if args.threads < 1:
        raise ValueError(f"--threads must be an int >= 1, got {args.threads}")
    over: dict[str, Any] = {"device": args.device, "threads": args.threads,
                            "progress": args.progress, "flush": not args.no_flush,
                            "seed": args.seed}
    if args.shapes:
        over["shapes"] = parse_shapes(args.shapes)
    if args.sweep_shape:
        (over["sweep_shape"],) = parse_shapes(args.sweep_shape)[:1]
    if args.sizes:
        over["sizes"] = parse_sizes(args.sizes)
    if args.dtypes:
        over["dtypes"] = _choices("--dtypes", args.dtypes, list(DTYPES))
    if args.layouts:
        over["layouts"] = _choices("--layouts", args.layouts, LAYOUTS)
    if args.modes:
        over["modes"] = _choices("--modes", args.modes, MODES)
    if args.ops:
        over["ops"] = _csv(args.ops)
    if args.providers:
        over["providers"] = _csv(args.providers)
    for name in ("reps", "warmup"):
        value = getattr(args, name)
        if value is not None:
            if value < (1 if name == "reps" else 0):
                raise ValueError(f"--{name} must be >= {1 if name == 'reps' else 0}, got {value}")
            over[name] = value
    return BenchConfig.quick_config(**over) if args.quick else BenchConfig(**over)


def _cmd_bench(args: argparse.Namespace) -> int:
    from .report import render
    from .runner import run

    cfg = config_from_args(args)
    doc = run(cfg, argv=["localnorm", "bench", *sys.argv[2:]] if args.argv is None
              else args.argv)
    print(render(doc))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"\nwrote {args.json} (schema_version {doc['schema_version']})")
    return 0


def add_parser(subparsers: Any) -> None:
    """Register ``localnorm bench``."""
    p = subparsers.add_parser(
        "bench", help="time localnorm against torch, torch.compile, TF, ONNX Runtime, a copy",
        description=__doc__ + " Protocol and JSON schema: docs/BENCHMARKS.md.")
    p.add_argument("--quick", action="store_true",
                   help="about one minute: AlexNet conv1 fp32, fwd and fwdbwd, 5 samples; "
                        "peers in NCHW only, localnorm and the copy also channels_last and "
                        "sizes 3, 65")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--shapes", default=None,
                   help=f"comma list of {sorted(SHAPES)} or NxCx... (default: all)")
    p.add_argument("--sweep-shape", default=None, help="shape of the size sweep "
                   "(default alexnet-conv1)")
    p.add_argument("--sizes", default=None, help="window sizes of the sweep, or none "
                   "(default 3,5,9,17,33,65)")
    p.add_argument("--dtypes", default=None, help="comma list of fp32,bf16,fp16,fp64 "
                   "(default fp32,bf16)")
    p.add_argument("--layouts", default=None, help="nchw,channels_last (default both)")
    p.add_argument("--modes", default=None, help="fwd,bwd,fwdbwd (default all)")
    p.add_argument("--ops", default=None, help="lrn,lrn-within,gdn,lcn,dn (default lrn; "
                   "lrn-within is LRN within channels against the avg_pool composition)")
    p.add_argument("--providers", default=None, help="peers to time, e.g. copy,torch-eager "
                   "(default all installed; localnorm always runs)")
    p.add_argument("--reps", type=int, default=None, help="timed samples (default 10, quick 5)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up calls (default 3, quick 1)")
    p.add_argument("--no-flush", action="store_true", help="do not evict the caches before "
                   "each sample (hot-cache timings)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument("--json", default=None, metavar="PATH", help="write the results as JSON")
    p.add_argument("--progress", choices=("bar", "lines", "off"), default="bar",
                   help="tqdm bar (default; lines when tqdm is missing), plain lines with "
                        "each case's medians, or off")
    p.set_defaults(func=_cmd_bench, argv=None)
