"""Where a numba LRN kernel spends its time, loop by loop: perf samples on its JIT code.

numba's machine code lives in anonymous memory, so ``perf report`` shows bare addresses. This
script runs the kernel in a child process (one thread by default), attaches ``perf record``
with a software clock (no hardware counters are needed, so it works inside a VM), dumps the
child's anonymous executable mappings from /proc/PID/mem once it is done, disassembles them
with objdump and prints the hottest loops with the samples of each instruction.

    python scripts/numba_profile.py --window 65 --direction bwd
    python scripts/numba_profile.py --window 5 --direction fwd --shape 32,256,27,27 --loops 4

Needs Linux, ``perf`` (allowed to sample the child: perf_event_paranoid <= 1, or root) and
``objdump``. Samples skid: a stall shows on the instruction after the one that waits.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import os, sys, time, torch
from pathlib import Path
from localnorm._spec import make_lrn_spec
from localnorm.backends import numba_lrn
torch.set_num_threads(int(sys.argv[1]))
shape = tuple(int(v) for v in sys.argv[2].split(","))
window, direction, seconds, out = int(sys.argv[3]), sys.argv[4], float(sys.argv[5]), sys.argv[6]
x = torch.randn(*shape)
dy = torch.randn(*shape)
if sys.argv[7] == "channels_last":
    x = x.contiguous(memory_format=torch.channels_last)
    dy = dy.contiguous(memory_format=torch.channels_last)
spec = make_lrn_spec(x, window, 1e-4, 0.75, 2.0, "across", None, 1)
call = (lambda: numba_lrn.lrn_fwd(x, spec)) if direction == "fwd" else (
    lambda: numba_lrn.lrn_bwd(x, dy, spec))
call(); call()
open(os.path.join(out, "ready"), "w").close()
time.sleep(0.5)
t0, n = time.perf_counter(), 0
while time.perf_counter() - t0 < seconds:
    call(); n += 1
print(f"{(time.perf_counter() - t0) / n * 1e3:.2f} ms a call ({n} calls)")
with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb") as mem:
    for line in maps:
        fields = line.split()
        if "x" in fields[1] and len(fields) < 6:  # executable and anonymous: JIT code
            lo, hi = (int(v, 16) for v in fields[0].split("-"))
            mem.seek(lo)
            Path(out, f"jit_{lo:x}.bin").write_bytes(mem.read(hi - lo))
"""


def disassemble(blob: Path, lo: int) -> dict[int, str]:
    """{address: instruction} of a raw x86-64 code dump loaded at ``lo``."""
    text = subprocess.run(["objdump", "-D", "-b", "binary", "-m", "i386:x86-64",
                           f"--adjust-vma={lo:#x}", str(blob)],
                          capture_output=True, text=True, check=True).stdout
    out = {}
    for line in text.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s+(?:[0-9a-f]{2} )+\s*(.*)", line)
        if m and m.group(2):
            out[int(m.group(1), 16)] = m.group(2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--window", type=int, default=65)
    ap.add_argument("--direction", choices=("fwd", "bwd"), default="bwd")
    ap.add_argument("--shape", default="32,96,55,55")
    ap.add_argument("--layout", choices=("nchw", "channels_last"), default="nchw")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--loops", type=int, default=8, help="hottest loops to print")
    ap.add_argument("--min-share", type=float, default=0.002,
                    help="instructions with at least this share of the samples seed a loop")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(args.threads), args.shape,
                                  str(args.window), args.direction, str(args.seconds), tmp,
                                  args.layout])
        while not Path(tmp, "ready").exists():
            if child.poll() is not None:
                sys.exit("the kernel process failed before it was ready")
            time.sleep(0.1)
        time.sleep(0.3)
        data = os.path.join(tmp, "perf.data")
        subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000", "-p",
                        str(child.pid), "-o", data, "--", "sleep", str(args.seconds)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        child.wait()
        ips: collections.Counter[int] = collections.Counter(
            int(v, 16) for v in subprocess.run(
                ["perf", "script", "-i", data, "-F", "ip"], capture_output=True, text=True,
                check=True).stdout.split())
        insn: dict[int, str] = {}
        for blob in Path(tmp).glob("jit_*.bin"):
            lo = int(blob.stem[4:], 16)
            if any(lo <= ip < lo + blob.stat().st_size for ip in ips):
                insn.update(disassemble(blob, lo))
    total = sum(ips.values())
    print(f"{total} samples, {sum(c for a, c in ips.items() if a in insn) / total:.1%} "
          "in JIT code")
    hot = sorted(a for a in ips if a in insn and ips[a] >= args.min_share * total)
    loops: list[list[int]] = []
    for a in hot:  # hot instructions less than 80 bytes apart belong to one loop
        if loops and a - loops[-1][-1] < 80:
            loops[-1].append(a)
        else:
            loops.append([a])
    addrs = sorted(insn)
    spans = [[a for a in addrs if loop[0] - 40 <= a <= loop[-1] + 12] for loop in loops]
    spans.sort(key=lambda span: -sum(ips[a] for a in span))
    for span in spans[:args.loops]:
        print(f"\n=== {sum(ips[a] for a in span) / total:.1%} of the samples")
        for a in span:
            print(f"{ips[a]:6d}  {a:#x}  {insn[a]}")


if __name__ == "__main__":
    main()
