"""``localnorm study``: measure what LRN is for and write an HTML report."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from .data import SOURCES


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "study", help="run the LRN study and write an HTML report",
        description="Answer 'what is LRN for, and how does it differ from an activation "
                    "function?' with measurements: activation vs normalization, conditioning, "
                    "generalization, contrast robustness, natural-image statistics. Writes "
                    "DIR/index.html, DIR/results.json and the figures.")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--quick", dest="budget", action="store_const", const="quick",
                        help="small budget, a few minutes on 2 cores (default)")
    budget.add_argument("--full", dest="budget", action="store_const", const="full",
                        help="more seeds and epochs")
    budget.add_argument("--smoke", dest="budget", action="store_const", const="smoke",
                        help=argparse.SUPPRESS)
    p.add_argument("--data", default="digits", metavar="SOURCE",
                   help=f"one of {', '.join(SOURCES)} (default digits)")
    p.add_argument("--seeds", type=int, default=None, help="training seeds per variant (>= 2)")
    p.add_argument("--jobs", type=int, default=0,
                   help="worker processes for the CNN runs (default 0: one per CPU)")
    p.add_argument("--out", default="out/study", help="output folder (default out/study)")
    p.add_argument("--variants", default=None, help=argparse.SUPPRESS)
    p.add_argument("--experiments", default=None, help=argparse.SUPPRESS)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_study, budget="quick")
    return p


def _cmd_study(args: argparse.Namespace) -> int:
    from .layers import VARIANTS
    from .run import EXPERIMENTS, Options, run_study

    variants = tuple(args.variants.split(",")) if args.variants else tuple(VARIANTS)
    for v in variants:
        if v not in VARIANTS:
            raise ValueError(f"--variants must be among {sorted(VARIANTS)}, got {v!r}")
    experiments = tuple(args.experiments.split(",")) if args.experiments else EXPERIMENTS
    opts = Options(budget=args.budget, data=args.data, seeds=args.seeds, jobs=args.jobs,
                   out=args.out, variants=variants, experiments=experiments,
                   progress=not args.no_progress,
                   command="localnorm " + shlex.join(sys.argv[1:]))
    res = run_study(opts)
    if res:
        print(f"report: {res['paths']['index']}  ({res['meta']['wall_s']:.0f} s)")
    return 0
