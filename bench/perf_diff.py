#!/usr/bin/python3
"""Where two runs of a gateway differ, in CPU µs per statement by symbol.

usage: bench/perf_diff.py [--comm NAME] SECONDS HZ A.data:TPS[,B2.data:TPS...] B.data:TPS[,...]

Each side is one or more `perf record -F HZ -p PID -- sleep SECONDS` recordings of a gateway
under pgbench, each with the TPS pgbench reported for that run; a side's figure is the mean
over its recordings. Samples become µs per statement (samples / HZ / (TPS * SECONDS)), so
two gateways at different TPS compare by the work each statement costs, not by shares of
different totals. Prints the totals, then the symbols by how much more B spends than A.
Used for the issue 5 figures in bench/RESULTS.md (audit off as A, batch as B). With
`--comm postgres` on whole-machine recordings (pgbench.sh's PROFILE_ALL), it compares what the
database's processes spend behind two proxies.
"""
import collections
import re
import subprocess
import sys

LINE = re.compile(r"\s*[\d.]+%\s+(\d+)\s+(\[.\])\s+(.*)")


def per_statement(recording, tps, seconds, hz, comm):
    # By command and symbol, filtered here: perf's own --comm filter drops the kernel's
    # samples of processes that started before the recording (pgbouncer's backends).
    out = subprocess.run(
        ["perf", "report", "-i", recording, "--no-children", "-g", "none", "-n",
         "--sort", "comm,sym" if comm else "sym", "--stdio"],
        capture_output=True, text=True, check=True).stdout
    us = collections.Counter()
    for line in out.splitlines():
        if comm:
            parts = line.split(None, 2)
            if len(parts) < 3 or parts[2].split(None, 1)[0] != comm:
                continue
            line = f"{parts[0]} {parts[1]} {parts[2].split(None, 1)[1]}"
        m = LINE.match(line)
        if m:
            us[(m.group(2) + " " + m.group(3).strip())[:100]] += (
                int(m.group(1)) / hz * 1e6 / (tps * seconds))
    return us


def side(spec, seconds, hz, comm):
    runs = [part.rsplit(":", 1) for part in spec.split(",")]
    total = collections.Counter()
    for recording, tps in runs:
        for sym, us in per_statement(recording, float(tps), seconds, hz, comm).items():
            total[sym] += us / len(runs)
    return total


def main():
    args = sys.argv[1:]
    comm = None
    if args[:1] == ["--comm"] and len(args) > 1:
        comm, args = args[1], args[2:]
    if len(args) != 4:
        sys.exit(__doc__)
    seconds, hz = float(args[0]), float(args[1])
    a, b = side(args[2], seconds, hz, comm), side(args[3], seconds, hz, comm)
    print(f"total µs per statement: A {sum(a.values()):.1f}, B {sum(b.values()):.1f}")
    print(f"{'B-A':>6} {'A':>6} {'B':>6}  symbol")
    for sym in sorted(set(a) | set(b), key=lambda s: a[s] - b[s])[:40]:
        print(f"{b[sym] - a[sym]:+6.2f} {a[sym]:6.2f} {b[sym]:6.2f}  {sym}")


if __name__ == "__main__":
    main()
