"""Command line: ``localnorm {convert, bench, study}``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any


def _parse_value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _parse_pairs(pairs: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"expected key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = _parse_value(value.strip())
    return out


def _cmd_convert(args: argparse.Namespace) -> int:
    from .conventions import FRAMEWORKS, from_canonical, to_canonical
    from .interop import cli as files

    if files.wants_files(args):
        return files.run(args)
    if args.src is None:
        raise ValueError("give --from FRAMEWORK key=value ..., or a model file with "
                         "--prototxt, --convnet-cfg or --onnx")
    canonical = to_canonical(args.src, **_parse_pairs(args.params))
    targets = [args.dst] if args.dst else list(FRAMEWORKS)
    result: dict[str, Any] = {"from": args.src, "canonical": canonical.as_dict(), "to": {}}
    for name in targets:
        try:
            result["to"][name] = from_canonical(name, canonical)
        except ValueError as exc:
            if args.dst:
                raise
            result["to"][name] = {"error": str(exc)}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    c = canonical
    print(f"canonical: size={c.size} before={c.before} alpha={c.alpha:g} beta={c.beta:g} "
          f"k={c.k:g} region={c.region}  (A = {c.alpha / c.size:g} * sum over the window)")
    for name, params in result["to"].items():
        text = params.get("error") if "error" in params else "  ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
        print(f"{name:>13}: {text}")
    return 0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="localnorm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="translate LRN parameters between frameworks")
    conv.add_argument("--from", dest="src", default=None, help="source framework")
    conv.add_argument("--to", dest="dst", default=None, help="target framework (default: all)")
    conv.add_argument("--json", action="store_true", help="print JSON")
    conv.add_argument("params", nargs="*", help="key=value in the source framework's names")
    from .interop.cli import add_arguments as add_file_arguments

    add_file_arguments(conv)
    conv.set_defaults(func=_cmd_convert)
    for name, module in _EXTRA.items():
        __import__(f"localnorm.{module}", fromlist=["add_parser"]).add_parser(sub)
        _ = name
    return parser


# Subcommands that live in their own modules; each defines add_parser(subparsers).
_EXTRA: dict[str, str] = {
    "bench": "bench.cli",
    "study": "study.cli",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"localnorm {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
