"""Run the whole study: the five experiments, then the report.

Scheduling: with ``jobs > 1`` the CNN runs of experiments 3 and 4 start first in worker
processes, and this process computes experiments 1, 2 and 5 while they train. Every process
uses one torch thread and one numba thread; parallelism comes from processes. Under torchrun
every rank trains every run together; rank 0 alone runs the rest and writes the report.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from . import (
    config,
    data,
    dist,
    exp_activation,
    exp_conditioning,
    exp_contrast,
    exp_generalization,
    exp_images,
    report,
)
from .layers import VARIANTS, why_not

EXPERIMENTS = ("activation", "conditioning", "generalization", "contrast", "images")


@dataclass
class Options:
    budget: str = "quick"
    data: str = "digits"
    seeds: int | None = None
    jobs: int = 0
    out: str = "out/study"
    variants: tuple[str, ...] = tuple(VARIANTS)
    experiments: tuple[str, ...] = EXPERIMENTS
    progress: bool = True
    command: str = ""


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("localnorm", "torch", "numpy", "scipy", "scikit-learn", "scikit-image",
                "matplotlib", "numba", "tqdm"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _lrn_backend() -> str:
    from .. import backends
    from .._spec import make_lrn_spec

    x = torch.zeros(2, 8, 4, 4)
    try:
        return str(backends.select("lrn", x, make_lrn_spec(x, 5, 1e-4, 0.75, 2.0, "across",
                                                          None, 1)).NAME)
    except (ValueError, RuntimeError) as exc:
        return f"none ({exc})"


def resolve_jobs(jobs: int, runs: int, world: int) -> int:
    """``jobs`` worker processes (0 = one per CPU); 1 under torchrun, where ranks share runs."""
    if jobs < 0:
        raise ValueError(f"--jobs must be >= 0 (0 = one per CPU), got {jobs}")
    if world > 1:
        return 1
    return max(1, min(jobs or (os.cpu_count() or 1), runs))


def _bar(total: int, desc: str, enabled: bool, position: int = 0) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, position=position, leave=True, disable=not enabled,
                dynamic_ncols=True, file=sys.stderr)


def _one_numba_thread() -> None:
    """The study's tensors are small: a numba thread pool wider than one spins against
    torch's own threads between calls (measured 17x slower LRN + conv on 2 busy cores).
    Worker processes inherit the setting. A user's NUMBA_NUM_THREADS wins; it cannot change
    once numba is imported."""
    if "NUMBA_NUM_THREADS" not in os.environ and "numba" not in sys.modules:
        os.environ["NUMBA_NUM_THREADS"] = "1"


def run_study(opts: Options) -> dict[str, Any]:
    """Run the selected experiments and write the report into ``opts.out``."""
    t_start = time.perf_counter()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    bad = [e for e in opts.experiments if e not in EXPERIMENTS]
    if bad:
        raise ValueError(f"experiments must be among {EXPERIMENTS}, got {bad}")
    dist.init()
    world, rank = dist.world()
    b = config.budget(opts.budget, opts.seeds)
    ds = data.load(opts.data, b.max_train, b.max_test)
    unavailable = {v: r for v in opts.variants if (r := why_not(v)) is not None}
    variants = [v for v in opts.variants if v not in unavailable]
    if "none" not in variants:
        variants.insert(0, "none")  # every comparison is against no normalization
    train_needed = any(e in opts.experiments for e in ("generalization", "contrast"))
    specs = exp_generalization.tasks(variants, b.seeds, b.epochs) if train_needed else []
    jobs = resolve_jobs(opts.jobs, max(1, len(specs)), world)
    timings: dict[str, float] = {}
    results: dict[str, Any] = {}

    @contextmanager
    def timed(name: str) -> Any:
        t0 = time.perf_counter()
        yield
        timings[name] = time.perf_counter() - t0

    _one_numba_thread()
    runs = _train_and_analyse(opts, b, ds, specs, jobs, results, timed)
    if rank != 0:
        dist.barrier()
        dist.shutdown()
        return {}
    if runs and "generalization" in opts.experiments:
        results["generalization"] = exp_generalization.summarize(runs, variants, unavailable)
    if runs and "contrast" in opts.experiments:
        results["contrast"] = exp_contrast.summarize(runs, variants)
    out: dict[str, Any] = {"meta": {
        "command": opts.command, "budget": b.as_dict(), "train": config.TRAIN,
        "data": ds.summary(), "seeds": list(range(b.seeds)), "jobs": jobs,
        "world_size": world, "variants": variants, "unavailable": unavailable,
        "lrn_backend": _lrn_backend(), "versions": _versions(),
        "numba_threads": os.environ.get("NUMBA_NUM_THREADS", "numba's default"),
        "platform": platform.platform(), "cpus": os.cpu_count(), "started": started,
        "timings_s": timings, "wall_s": time.perf_counter() - t_start},
        "experiments": {k: results[k] for k in EXPERIMENTS if k in results}, "runs": runs}
    paths = report.write(out, Path(opts.out))
    out["paths"] = {k: str(v) for k, v in paths.items()}
    dist.barrier()
    dist.shutdown()
    return out


def _train_and_analyse(opts: Options, b: config.Budget, ds: data.Dataset,
                       specs: list[Any], jobs: int, results: dict[str, Any],
                       timed: Any) -> list[dict[str, Any]]:
    """Start the CNN runs (worker pool, or inline/DDP after), run experiments 1, 2 and 5 on
    rank 0 meanwhile, and return the runs."""
    rank = dist.world()[1]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see localnorm.study.exp_generalization: small nets, 1 thread
    bar = _bar(len(specs), "training CNNs", opts.progress and rank == 0)
    pool: Any = None
    futures: list[Any] = []
    try:
        if specs and jobs > 1:
            pool, futures = exp_generalization.submit(opts.data, b.max_train, b.max_test,
                                                      specs, jobs)
            for f in futures:
                f.add_done_callback(lambda _f: bar.update(1))
        if rank == 0:
            _analysis(opts, b, ds, results, timed)
        with timed("training"):
            if pool is not None:
                return [f.result() for f in futures]
            return exp_generalization.run_inline(ds, specs, bar) if specs else []
    finally:
        torch.set_num_threads(threads)
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        bar.close()


def _analysis(opts: Options, b: config.Budget, ds: data.Dataset, results: dict[str, Any],
              timed: Any) -> None:
    """Experiments 1, 2 and 5 (no training): rank 0 only, while the CNNs train elsewhere."""
    todo = [e for e in ("activation", "conditioning", "images") if e in opts.experiments]
    bar = _bar(len(exp_conditioning.INPUTS) * ("conditioning" in todo)
               + b.images * ("images" in todo) + ("activation" in todo),
               "analysis", opts.progress, position=1)
    if "activation" in todo:
        with timed("activation"):
            results["activation"] = exp_activation.run()
        bar.update(1)
    if "conditioning" in todo:
        with timed("conditioning"):
            results["conditioning"] = exp_conditioning.run(ds, b.gd_steps, b.lr_points, bar)
    if "images" in todo:
        with timed("images"):
            results["images"] = exp_images.run(b.images, b.image_size, bar)
    bar.close()
