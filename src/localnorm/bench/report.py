"""Summaries, target verdicts and the text table of a bench document.

Every ratio compares medians measured in the same run. ``speedup`` is peer time / localnorm
time, so a value below 1 is a loss; losses are listed beside the wins, never dropped.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .peers import MODES

OURS = "localnorm"
COPY = "copy"
CLONE = "clone"

# (id, description, relation, threshold); value sources are in _case_targets / _sweep_targets
TARGETS = {
    "fwd-copy": ("forward <= 1.5x copy time (fp32, NCHW and channels_last)", "<=", 1.5),
    "fwdbwd-copy": ("forward+backward <= 5x copy time (fp32)", "<=", 5.0),
    "speedup-compile": ("forward+backward >= 10x faster than torch.compile (fp32)", ">=", 10.0),
    "speedup-tensorflow": ("forward+backward >= 10x faster than TensorFlow (fp32)", ">=", 10.0),
    "speedup-eager": ("forward+backward >= 30x faster than torch eager (fp32)", ">=", 30.0),
    "size-flat": ("time at the largest size <= 1.3x time at the smallest (3 vs 65)", "<=", 1.3),
    "fwd-memory": ("peak extra memory of forward <= 1x the input size", "<=", 1.0),
    "gpu-bandwidth": ("GPU forward >= 80% of the measured copy bandwidth (kernel times: "
                      "fwd kernel / copy kernel <= 1.25)", "<=", 1.25),
}


def _provider(case: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((p for p in case["providers"] if p["name"] == name), None)


def median(case: dict[str, Any], name: str, mode: str) -> float | None:
    p = _provider(case, name)
    if p is None or mode not in p["modes"]:
        return None
    value: float | None = p["modes"][mode]["median_s"]
    return value


def kernel(case: dict[str, Any], name: str, mode: str) -> float | None:
    p = _provider(case, name)
    if p is None or mode not in p["modes"]:
        return None
    value: float | None = p["modes"][mode].get("kernel_s")
    return value


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b is not None and b > 0 else None


def _summary(case: dict[str, Any]) -> dict[str, Any]:
    copy = median(case, COPY, "fwd")
    clone = median(case, CLONE, "fwd")
    speedup: dict[str, dict[str, float | None]] = {}
    for p in case["providers"]:
        if p["kind"] != "peer":
            continue
        s = {m: _ratio(median(case, p["name"], m), median(case, OURS, m)) for m in MODES}
        if any(v is not None for v in s.values()):
            speedup[p["name"]] = {m: v for m, v in s.items() if v is not None}
    extra = None
    ours = _provider(case, OURS)
    if ours is not None and "fwd" in ours["modes"]:
        fwd = ours["modes"]["fwd"]
        if fwd["peak_bytes"] is not None and fwd["output_bytes"] is not None:
            extra = max(fwd["peak_bytes"] - fwd["output_bytes"], 0) / case["input_bytes"]
    return {
        "case": case["id"],
        "fwd_over_copy": _ratio(median(case, OURS, "fwd"), copy),
        "fwdbwd_over_copy": _ratio(median(case, OURS, "fwdbwd"), copy),
        "bwd_over_copy": _ratio(median(case, OURS, "bwd"), copy),
        "fwd_kernel_over_copy": _ratio(kernel(case, OURS, "fwd"), kernel(case, COPY, "fwd")),
        "fwdbwd_kernel_over_copy": _ratio(kernel(case, OURS, "fwdbwd"),
                                          kernel(case, COPY, "fwd")),
        "fwd_over_clone": _ratio(median(case, OURS, "fwd"), clone),
        "fwdbwd_over_clone": _ratio(median(case, OURS, "fwdbwd"), clone),
        "fwd_extra_over_input": extra,
        "speedup": speedup,
    }


def _sweeps(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in cases:
        if c["size"] is not None and c["group"] == "sweep":
            groups["/".join((c["op"], c["shape_name"], c["dtype"], c["layout"]))].append(c)
    out = []
    for key, members in groups.items():
        members.sort(key=lambda c: c["size"])
        if len({c["size"] for c in members}) < 2:
            continue
        names = list(dict.fromkeys(p["name"] for c in members for p in c["providers"]))
        for name in names:
            for mode in MODES:
                meds = [median(c, name, mode) for c in members]
                if all(m is None for m in meds):
                    continue
                ks = [kernel(c, name, mode) for c in members]
                out.append({"key": key, "provider": name, "mode": mode,
                            "sizes": [c["size"] for c in members], "median_s": meds,
                            "largest_over_smallest": _ratio(meds[-1], meds[0]),
                            "kernel_s": ks, "kernel_largest_over_smallest": _ratio(ks[-1], ks[0])})
    return out


def _target(tid: str, case: str, value: float | None) -> dict[str, Any]:
    desc, rel, bound = TARGETS[tid]
    met = None if value is None else (value <= bound if rel == "<=" else value >= bound)
    return {"id": tid, "description": desc, "case": case, "value": value, "threshold": bound,
            "relation": rel, "met": met}


def _kernel_targets(c: dict[str, Any], s: dict[str, Any]) -> list[dict[str, Any]]:
    """The copy and peer targets again on GPU kernel time: an isolated CUDA call's wall time is
    mostly host time (Python, launches), which a training loop hides by running ahead."""
    kid = f"{c['id']} (GPU kernel time)"
    ours = kernel(c, OURS, "fwdbwd")
    return [
        _target("fwd-copy", kid, s["fwd_kernel_over_copy"]),
        _target("fwdbwd-copy", kid, s["fwdbwd_kernel_over_copy"]),
        _target("speedup-compile", kid, _ratio(kernel(c, "torch-compile", "fwdbwd"), ours)),
        _target("speedup-eager", kid, _ratio(kernel(c, "torch-eager", "fwdbwd"), ours)),
    ]


def _targets(doc: dict[str, Any], summary: list[dict[str, Any]],
             sweeps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cases = {c["id"]: c for c in doc["cases"]}
    out = []
    cuda = doc["config"]["device"] == "cuda"
    for s in summary:
        c = cases[s["case"]]
        if c["op"] != "lrn" or c["group"] != "main":
            continue
        if c["dtype"] == "fp32":
            sp = s["speedup"]
            out += [
                _target("fwd-copy", c["id"], s["fwd_over_copy"]),
                _target("fwdbwd-copy", c["id"], s["fwdbwd_over_copy"]),
                _target("speedup-compile", c["id"], sp.get("torch-compile", {}).get("fwdbwd")),
                _target("speedup-tensorflow", c["id"], sp.get("tensorflow", {}).get("fwdbwd")),
                _target("speedup-eager", c["id"], sp.get("torch-eager", {}).get("fwdbwd")),
            ]
            if cuda:
                out.append(_target("gpu-bandwidth", c["id"], s["fwd_kernel_over_copy"]))
                out += _kernel_targets(c, s)
        out.append(_target("fwd-memory", c["id"], s["fwd_extra_over_input"]))
    for sw in sweeps:
        if sw["key"].startswith("lrn/") and sw["provider"] == OURS and sw["mode"] != "bwd":
            where = f"{sw['key']} {sw['mode']} n{sw['sizes'][-1]}/n{sw['sizes'][0]}"
            out.append(_target("size-flat", where, sw["largest_over_smallest"]))
            if cuda:  # isolated calls' wall time is host time, flat whatever the kernels do
                out.append(_target("size-flat", f"{where} (GPU kernel time)",
                                   sw["kernel_largest_over_smallest"]))
    return out


def analyse(doc: dict[str, Any]) -> dict[str, Any]:
    """The ``summary``, ``sweeps`` and ``targets`` sections of the document."""
    summary = [_summary(c) for c in doc["cases"]]
    sweeps = _sweeps(doc["cases"])
    return {"summary": summary, "sweeps": sweeps, "targets": _targets(doc, summary, sweeps)}


# --- text ---------------------------------------------------------------------------------

def _ms(mode: dict[str, Any] | None) -> str:
    if mode is None:
        return ""
    if mode["status"] != "ok":
        return mode["status"]
    return f"{mode['median_s'] * 1e3:.3g} ±{mode['iqr_s'] * 1e3:.2g}"


def _x(v: float | None, loss_below: float | None = None) -> str:
    if v is None:
        return ""
    mark = " LOSS" if loss_below is not None and v < loss_below else ""
    return f"{v:.3g}x{mark}"


def _case_table(case: dict[str, Any], summ: dict[str, Any]) -> list[str]:
    mb = case["input_bytes"] / 1e6
    lines = [f"{case['id']}  ({'x'.join(map(str, case['shape']))} {case['dtype']} "
             f"{case['layout']}, {mb:.1f} MB; localnorm backend: {case['auto_backend']})"]
    head: tuple[str, ...] = (
        "provider", "fwd ms ±IQR", "bwd ms ±IQR", "fwdbwd ms ±IQR", "fwd/copy", "fwdbwd/copy",
        "fwd/clone", "ours faster fwd", "ours faster fwdbwd", "fwd peak/input")
    kernels = any(m.get("kernel_s") is not None for p in case["providers"]
                  for m in p["modes"].values())
    if kernels:
        head += ("GPU kernel ms fwd, fwdbwd",)
    rows = [head]
    notes = []
    copy, clone = median(case, COPY, "fwd"), median(case, CLONE, "fwd")
    for p in case["providers"]:
        if p["status"] != "ok":
            notes.append(f"    {p['name']}: {p['status']}: {p['error']}")
            continue
        m = p["modes"]
        sp = summ["speedup"].get(p["name"], {})
        peak = m.get("fwd", {}).get("peak_bytes")
        row: tuple[str, ...] = (
            p["name"], _ms(m.get("fwd")), _ms(m.get("bwd")), _ms(m.get("fwdbwd")),
            _x(_ratio(median(case, p["name"], "fwd"), copy)),
            _x(_ratio(median(case, p["name"], "fwdbwd"), copy)),
            _x(_ratio(median(case, p["name"], "fwd"), clone)),
            _x(sp.get("fwd"), 1.0), _x(sp.get("fwdbwd"), 1.0),
            "" if peak is None else f"{peak / case['input_bytes']:.2f}x",
        )
        if kernels:
            ks = [m.get(mode, {}).get("kernel_s") for mode in ("fwd", "fwdbwd")]
            row += (", ".join("-" if k is None else f"{k * 1e3:.3g}" for k in ks),)
        rows.append(row)
        for mode, r in m.items():
            if r["status"] != "ok" and r["error"] and p["kind"] != "floor":
                notes.append(f"    {p['name']} {mode}: {r['status']}: {r['error']}")
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        lines.append("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
    return lines + notes


def render(doc: dict[str, Any]) -> str:
    """The table printed at the end of a run."""
    cfg, mach, ver = doc["config"], doc["machine"], doc["versions"]
    out = [f"localnorm bench: {cfg['device']}, {cfg['threads']} threads, "
           f"{mach['gpu'] or mach['cpu_model']}; torch {ver['torch']}, numba {ver['numba']}, "
           f"tensorflow {ver['tensorflow']}, onnxruntime {ver['onnxruntime']}",
           "times are medians of interleaved samples; 'ours faster' = peer time / localnorm "
           "time (below 1: a LOSS)"]
    load, ncpu = mach["load_average"], mach["cpu_count"] or 0
    if cfg["device"] == "cpu" and load and ncpu and load[0] + cfg["threads"] > ncpu + 0.5:
        out.append(f"WARNING: load average {load[0]:g} on {ncpu} CPUs: other processes "
                   "competed for the cores; CPU timings of this run are unreliable")
    out.append("")
    for case, summ in zip(doc["cases"], doc["summary"], strict=True):
        out += _case_table(case, summ) + [""]
    sweeps = [s for s in doc["sweeps"] if s["mode"] != "bwd"]
    if sweeps:
        out.append("size sweep (median ms by size; last column: largest / smallest)")
        for s in sweeps:
            meds = "  ".join("-" if m is None else f"{m * 1e3:.3g}" for m in s["median_s"])
            out.append(f"  {s['key']} {s['provider']} {s['mode']}: sizes {s['sizes']}: "
                       f"{meds}  -> {_x(s['largest_over_smallest'])}")
        out.append("")
    out.append("targets (issue 3)")
    for t in doc["targets"]:
        verdict = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
        value = "-" if t["value"] is None else f"{t['value']:.3g}"
        out.append(f"  {verdict:6} {t['id']:18} {value:>8} {t['relation']} {t['threshold']:<5g}"
                   f" {t['case']}")
    wins, losses = _wins_losses(doc)
    out.append(f"\nwins: {len(wins)}  losses: {len(losses)}")
    out += [f"  loss: {x}" for x in losses]
    return "\n".join(out)


def _wins_losses(doc: dict[str, Any]) -> tuple[list[str], list[str]]:
    wins: list[str] = []
    losses: list[str] = []
    for s in doc["summary"]:
        for peer, by_mode in s["speedup"].items():
            for mode, v in by_mode.items():
                if v is None:
                    continue
                label = f"{s['case']} {mode} vs {peer}: {v:.3g}x"
                (wins if v >= 1 else losses).append(label)
    return wins, losses
