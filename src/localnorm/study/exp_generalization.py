"""Experiment 3: does LRN help a small CNN, against no normalization and its alternatives?

Every variant of :data:`localnorm.study.layers.VARIANTS` is trained with the same seeds, budget
and recipe. Runs execute in this process, in ``--jobs`` worker processes (the data loaded once
per worker), or under torchrun with every rank training each run together
(DistributedDataParallel over gloo; see :mod:`localnorm.study.dist`). Every training process
uses one torch thread: these networks are too small for intra-op threads to pay, and on a busy
2-core machine a 2-thread pool stalls at every barrier (measured 5x to 100x slower).
"""

from __future__ import annotations

import math
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import numpy as np
import torch

from . import data as data_mod
from .layers import VARIANTS
from .stats import overlaps, t_interval
from .train import RunSpec, train_run

_WORKER_DATA: data_mod.Dataset | None = None


def _init_worker(spec: str, max_train: int, max_test: int, threads: int) -> None:
    global _WORKER_DATA
    torch.set_num_threads(threads)
    _WORKER_DATA = data_mod.load(spec, max_train, max_test)


def _work(spec: RunSpec) -> dict[str, Any]:
    assert _WORKER_DATA is not None
    return train_run(_WORKER_DATA, spec)


def tasks(variants: list[str], seeds: int, epochs: int) -> list[RunSpec]:
    """Every (variant, seed). LRN variants go last so that, in a fresh checkout, the main
    process has compiled and cached the numba LRN kernels before the workers need them."""
    lrn_last = sorted(variants, key=lambda v: v.startswith("lrn"))
    return [RunSpec(v, s, epochs) for v in lrn_last for s in range(seeds)]


def submit(data_spec: str, max_train: int, max_test: int, specs: list[RunSpec],
           jobs: int) -> tuple[ProcessPoolExecutor, list[Future[dict[str, Any]]]]:
    """Start ``specs`` on ``jobs`` spawned worker processes; the caller collects the futures."""
    import multiprocessing as mp

    pool = ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"),
                               initializer=_init_worker,
                               initargs=(data_spec, max_train, max_test, 1))
    return pool, [pool.submit(_work, s) for s in specs]


def run_inline(ds: data_mod.Dataset, specs: list[RunSpec], bar: Any = None) -> list[dict]:
    """Train every run in this process (and, under torchrun, with every rank)."""
    out = []
    for s in specs:
        if bar is not None:
            bar.set_postfix_str(f"{s.variant} seed {s.seed}")
        out.append(train_run(ds, s))
        if bar is not None:
            bar.update(1)
    return out


def _epochs_to(curve: list[float], target: float) -> int | None:
    return next((i + 1 for i, a in enumerate(curve) if a >= target), None)


def summarize(runs: list[dict[str, Any]], variants: list[str],
              unavailable: dict[str, str]) -> dict[str, Any]:
    """Mean accuracy and 95% t-interval per variant, mean curves, epochs to a target accuracy
    (95% of the best variant's mean final accuracy, rounded down to a percent)."""
    table: dict[str, Any] = {}
    for v in variants:
        vr = sorted((r for r in runs if r["variant"] == v), key=lambda r: r["seed"])
        accs = [r["final_acc"] for r in vr]
        table[v] = {"label": VARIANTS[v][0], "layer": VARIANTS[v][1], "final_acc": accs,
                    "interval": t_interval(accs),
                    "curve_mean": np.mean([r["test_acc"] for r in vr], 0).tolist(),
                    "loss_mean": np.mean([r["train_loss"] for r in vr], 0).tolist(),
                    "wall_s_mean": float(np.mean([r["wall_s"] for r in vr])),
                    "params": vr[0]["params"], "lrn_gain": vr[0]["lrn_gain"]}
    best = max(table, key=lambda v: table[v]["interval"]["mean"])
    target = math.floor(0.95 * table[best]["interval"]["mean"] * 100) / 100
    for v, row in table.items():
        vr = [r for r in runs if r["variant"] == v]
        hits = [_epochs_to(r["test_acc"], target) for r in vr]
        reached = [h for h in hits if h is not None]
        row["epochs_to_target"] = hits
        row["epochs_to_target_mean"] = float(np.mean(reached)) if reached else None
        row["reached_target"] = len(reached)
        row["overlaps_best"] = overlaps(row["interval"], table[best]["interval"])
        row["overlaps_none"] = (overlaps(row["interval"], table["none"]["interval"])
                                if "none" in table else None)
    return {"table": table, "best": best, "target": target,
            "unavailable": unavailable, "seeds": sorted({r["seed"] for r in runs}),
            "epochs": runs[0]["epochs"] if runs else 0}


def _fmt(iv: dict[str, float]) -> str:
    return f"{iv['mean'] * 100:.1f}% [{iv['low'] * 100:.1f}, {iv['high'] * 100:.1f}]"


def reading(r: dict[str, Any]) -> str:
    t, best = r["table"], r["best"]
    tied = [t[v]["label"] for v in t if v != best and t[v]["overlaps_best"]]
    below = [t[v]["label"] for v in t if v != best and not t[v]["overlaps_best"]]
    text = (f"Over {len(r['seeds'])} seeds and {r['epochs']} epochs, the best mean test "
            f"accuracy is {t[best]['label']}'s, {_fmt(t[best]['interval'])} (95% t-interval). ")
    text += (f"Its interval overlaps with {', '.join(tied)}: on this budget those differences "
             f"are not resolved. " if tied else "No other variant's interval overlaps it. ")
    if below:
        text += f"Intervals entirely below it: {', '.join(below)}. "
    if "none" in t:
        for v in ("lrn_across", "lrn_within", "lrn_caffe"):
            if v not in t:
                continue
            d = (t[v]["interval"]["mean"] - t["none"]["interval"]["mean"]) * 100
            verdict = ("the intervals overlap, so this run cannot tell them apart"
                       if t[v]["overlaps_none"] else "the intervals do not overlap")
            text += (f"{t[v]['label']} vs none: {d:+.1f} points ({_fmt(t[v]['interval'])} vs "
                     f"{_fmt(t['none']['interval'])}); {verdict}. ")
            g = t[v]["lrn_gain"]
            if g:
                text += (f"Beyond its constant gain k^-beta it suppressed 95% of units by less "
                         f"than {(1 - g['p05']) * 100:.2g}% (median {(1 - g['median']) * 100:.2g}%"
                         f"). ")
    slow = [t[v]["label"] for v in t if t[v]["reached_target"] < len(r["seeds"])]
    text += (f"Target accuracy for the speed column: {r['target'] * 100:.0f}%"
             + (f"; not reached by every seed of {', '.join(slow)}." if slow else "."))
    if r["unavailable"]:
        text += f" Not run: {', '.join(f'{k} ({v})' for k, v in r['unavailable'].items())}."
    return text


def table(r: dict[str, Any]) -> dict[str, Any]:
    rows = []
    n = len(r["seeds"])
    for row in r["table"].values():
        iv = row["interval"]
        ett = row["epochs_to_target_mean"]
        rows.append([row["label"], row["layer"], _fmt(iv), f"{iv['sd'] * 100:.2f}",
                     "yes" if row["overlaps_best"] else "no",
                     "" if row["overlaps_none"] is None else
                     ("yes" if row["overlaps_none"] else "no"),
                     f"{ett:.1f} ({row['reached_target']}/{n})" if ett else f"never (0/{n})",
                     str(row["params"]), f"{row['wall_s_mean']:.1f}"])
    for v, why in r["unavailable"].items():
        rows.append([v, "not available", why, "", "", "", "", "", ""])
    return {"headers": ["variant", "layer", "test accuracy, mean [95% CI]", "sd (points)",
                        "overlaps best", "overlaps none",
                        f"epochs to {r['target'] * 100:.0f}% (seeds reaching)", "parameters",
                        "seconds per run"],
            "rows": rows}
