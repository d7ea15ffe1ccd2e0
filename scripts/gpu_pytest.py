#!/usr/bin/env python3
"""Run a pytest file in N concurrent shards and sum the outcomes: for a lent GPU machine.

    PYTHONPATH=src python3 scripts/gpu_pytest.py --shards 8 --timeout 240 tests/test_triton_lrn.py
    PYTHONPATH=src python3 scripts/gpu_pytest.py --shards 2 tests/test_triton_lrn.py -k line

On a GPU each test that meets a new kernel variant compiles it (Triton, about a second of CPU
each), so the whole Triton test file ran 78 of its 222 tests in 130 s in one process on an
H200 machine (session 9); its 16 cores compile in parallel when the tests are split across
processes. The test ids are collected once, dealt round-robin to the shards, and each shard
is one pytest process with its own output file. A shard past --timeout is killed and its
unfinished tests are reported as not run (never as passed). Needs only pytest.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
# a ``pytest -v`` result line: "path::test[params, maybe with spaces] PASSED   [ 12%]"
_RESULT = re.compile(r"^\S+::.* (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)(\s+\[\s*\d+%\])?\s*$")


def collect(args: list[str]) -> list[str]:
    """The node ids pytest would run for ``args``."""
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                          "-p", "no:cacheprovider", *args],
                         capture_output=True, text=True, check=False)
    ids = [line for line in out.stdout.splitlines() if "::" in line]
    if not ids:
        raise SystemExit(f"no tests collected:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return ids


def counts(text: str) -> dict[str, int]:
    """Outcome counts from ``pytest -v`` lines, written as each test ends (so a shard killed
    at the timeout still reports what it finished)."""
    got = dict.fromkeys(OUTCOMES, 0)
    for line in text.splitlines():
        m = _RESULT.match(line)
        if m:
            key = {"XFAIL": "xfailed", "XPASS": "xpassed"}.get(m.group(1), m.group(1).lower())
            got[key] += 1
    return got


def _fmt(got: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in got.items() if v) or "nothing finished"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shards", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds for every shard")
    ap.add_argument("--out", default=None, help="folder for each shard's output (default: temp)")
    ap.add_argument("pytest_args", nargs=argparse.REMAINDER,
                    help="test files and options that select tests (-k ...), for the collection")
    args = ap.parse_args()
    ids = collect(args.pytest_args)
    shards = [ids[i::args.shards] for i in range(args.shards) if ids[i::args.shards]]
    out_dir = args.out or tempfile.mkdtemp(prefix="gpu_pytest_")
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.time()
    procs = []
    for n, shard in enumerate(shards):
        log = open(os.path.join(out_dir, f"shard{n}.txt"), "w")  # noqa: SIM115 - closed below
        cmd = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", *shard]
        procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log, shard))
    total = dict.fromkeys(OUTCOMES, 0)
    not_run = 0
    for n, (proc, log, shard) in enumerate(procs):
        try:
            proc.wait(timeout=max(1.0, args.timeout - (time.time() - t0)))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        with open(log.name) as f:
            got = counts(f.read())
        done = sum(got.values())
        not_run += len(shard) - done
        for key, val in got.items():
            total[key] += val
        print(f"shard {n}: {len(shard)} tests, rc {proc.returncode}: {_fmt(got)}", flush=True)
    late = f", {not_run} not run (timeout)" if not_run else ""
    print(f"total: {len(ids)} tests in {len(shards)} shards, {time.time() - t0:.0f} s: "
          f"{_fmt(total)}{late}; logs in {out_dir}")
    for n in range(len(procs)):
        with open(os.path.join(out_dir, f"shard{n}.txt")) as f:
            for line in f:
                m = _RESULT.match(line)
                if m and m.group(1) in ("FAILED", "ERROR"):
                    print(line.rstrip()[:300])
    sys.exit(0 if total["failed"] == total["error"] == not_run == 0 else 1)


if __name__ == "__main__":
    main()
