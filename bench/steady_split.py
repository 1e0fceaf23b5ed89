#!/usr/bin/python3
"""Runs pgbench with per-second progress and splits the machine's CPU by process, per
statement, over the run's steady middle (its first and last seconds left out, so connection
set-up and teardown do not count).

    steady_split.py LABEL POSTMASTER_PID PROXY_PID|- -- pgbench ARGS...

At each progress line pgbench prints, it reads the CPU time (ns, /proc/*/schedstat) of: the
database (the postmaster, its children: backends and background processes, and the children
it reaped in the window), the proxy (all threads), pgbench (all threads), and the whole
machine (/proc/stat). Also the client backends' context switches: voluntary ones are a
backend blocking for its next request.

pgbench's own output goes to stdout unchanged (without the progress lines); the split goes to
stderr as one line that starts with "steady LABEL:".
"""
import os
import re
import subprocess
import sys


def threads_ns(pid):
    """CPU ns of every thread of a process; 0 when it has gone."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that exited between the listing and the read
    return total


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def reaped_ns(pid):
    """CPU of the children a process has reaped (cutime + cstime), in ns; tick resolution."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return (int(fields[13]) + int(fields[14])) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def is_client_backend(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"(" in f.read()  # "postgres: user db 127.0.0.1(port) idle"
    except OSError:
        return False


def switches(pid):
    vol = invol = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches"):
                    vol = int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches"):
                    invol = int(line.split()[1])
    except OSError:
        pass
    return vol, invol


def machine_busy_ns():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    # user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait
    # (and steal, which is the hypervisor running someone else).
    busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6]
    return busy * 1_000_000_000 // hz


def snapshot(postmaster, proxy, bench):
    kids = {}
    for c in children(postmaster):
        kids[c] = (threads_ns(c), *switches(c), is_client_backend(c))
    return {
        "postmaster": threads_ns(postmaster),
        "reaped": reaped_ns(postmaster),
        "kids": kids,
        "proxy": threads_ns(proxy) if proxy else 0,
        "pgbench": threads_ns(bench),
        "machine": machine_busy_ns(),
    }


def main():
    sep = sys.argv.index("--")
    label, postmaster, proxy = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    proxy = None if proxy == "-" else int(proxy)
    cmd = sys.argv[sep + 1:]
    p = subprocess.Popen(cmd + ["-P", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    marks = []  # (tps over the second just ended, snapshot at its end)
    rest = []
    for line in p.stdout:
        m = re.match(r"progress: [\d.]+ s, ([\d.]+) tps", line)
        if m:
            marks.append((float(m.group(1)), snapshot(postmaster, proxy, p.pid)))
        else:
            rest.append(line)
    p.wait()
    sys.stdout.write("".join(rest))
    if len(marks) < 4:
        print(f"steady {label}: too short for a steady window ({len(marks)} progress lines)",
              file=sys.stderr)
        return p.returncode
    # From the end of the first second to the end of the second-to-last.
    a, b = marks[0][1], marks[-2][1]
    n = sum(tps for tps, _ in marks[1:-1])  # statements: each line covers one second
    # The database: the postmaster; each child's CPU in the window (one born in it counts
    # from zero); and the children reaped in it, whose whole CPU joined the postmaster's
    # reaped total, less what they had used before the window.
    gone = set(a["kids"]) - set(b["kids"])
    b["db"] = b["postmaster"] + b["reaped"] + sum(
        k[0] - a["kids"].get(c, (0,))[0] for c, k in b["kids"].items())
    a["db"] = a["postmaster"] + a["reaped"] + sum(a["kids"][c][0] for c in gone)
    clients = [c for c in set(a["kids"]) & set(b["kids"]) if b["kids"][c][3]]
    vol = sum(b["kids"][c][1] - a["kids"][c][1] for c in clients)
    invol = sum(b["kids"][c][2] - a["kids"][c][2] for c in clients)
    us = lambda k: (b[k] - a[k]) / 1000 / n
    other = us("machine") - us("db") - us("proxy") - us("pgbench")
    print(f"steady {label}: {n:.0f} statements in {len(marks) - 2} s; us per statement: "
          f"database {us('db'):.1f}, proxy {us('proxy'):.1f}, pgbench {us('pgbench'):.1f}, "
          f"rest of the machine {other:.1f}, all {us('machine'):.1f}; backends per statement: "
          f"blocked {vol / n:.3f}, preempted {invol / n:.3f}", file=sys.stderr)
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
