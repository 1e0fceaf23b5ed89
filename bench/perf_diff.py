#!/usr/bin/python3
"""Where two runs of a gateway differ, in CPU µs per statement by symbol.

usage: bench/perf_diff.py SECONDS HZ A.data:TPS[,B2.data:TPS...] B.data:TPS[,...]

Each side is one or more `perf record -F HZ -p PID -- sleep SECONDS` recordings of a gateway
under pgbench, each with the TPS pgbench reported for that run; a side's figure is the mean
over its recordings. Samples become µs per statement (samples / HZ / (TPS * SECONDS)), so
two gateways at different TPS compare by the work each statement costs, not by shares of
different totals. Prints the totals, then the symbols by how much more B spends than A.
Used for the issue 5 figures in bench/RESULTS.md (audit off as A, batch as B).
"""
import collections
import re
import subprocess
import sys

LINE = re.compile(r"\s*[\d.]+%\s+(\d+)\s+(\[.\])\s+(.*)")


def per_statement(recording, tps, seconds, hz):
    out = subprocess.run(
        ["perf", "report", "-i", recording, "--no-children", "-g", "none", "-n",
         "--sort", "sym", "--stdio"],
        capture_output=True, text=True, check=True).stdout
    us = collections.Counter()
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            us[(m.group(2) + " " + m.group(3).strip())[:100]] += (
                int(m.group(1)) / hz * 1e6 / (tps * seconds))
    return us


def side(spec, seconds, hz):
    runs = [part.rsplit(":", 1) for part in spec.split(",")]
    total = collections.Counter()
    for recording, tps in runs:
        for sym, us in per_statement(recording, float(tps), seconds, hz).items():
            total[sym] += us / len(runs)
    return total


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    seconds, hz = float(sys.argv[1]), float(sys.argv[2])
    a, b = side(sys.argv[3], seconds, hz), side(sys.argv[4], seconds, hz)
    print(f"total µs per statement: A {sum(a.values()):.1f}, B {sum(b.values()):.1f}")
    print(f"{'B-A':>6} {'A':>6} {'B':>6}  symbol")
    for sym in sorted(set(a) | set(b), key=lambda s: a[s] - b[s])[:40]:
        print(f"{b[sym] - a[sym]:+6.2f} {a[sym]:6.2f} {b[sym]:6.2f}  {sym}")


if __name__ == "__main__":
    main()
