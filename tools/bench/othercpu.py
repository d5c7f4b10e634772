#!/usr/bin/python3
"""CPU used by processes outside a benchmark, for the quiet-machine guard (tools/bench/lib.sh).

  othercpu.py snap FILE            write a snapshot of every process's CPU ticks to FILE
  othercpu.py since FILE PGID      print the CPU (in % of one core, averaged over the time since
                                   the snapshot) of every process outside process group PGID,
                                   then the name of the busiest one

A process's ticks are utime+stime+cutime+cstime, so a `make` that ran compilers in between is
charged with them (when it reaps them, so a long child counts in full: the guard errs on the strict side). Kernel threads (children of kthreadd) are left out: loopback TCP work that a
benchmark itself causes can land in ksoftirqd.
"""
import os
import sys
import time

def snapshot():
    procs = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        f = s[s.rindex(")") + 2:].split()
        ppid, pgrp = int(f[1]), int(f[2])
        if pid == "2" or ppid == 2:
            continue
        ticks = sum(int(x) for x in f[11:15])
        start = f[19]
        procs[pid] = (start, pgrp, ticks, comm)
    return procs

def main():
    if sys.argv[1] == "snap":
        with open(sys.argv[2], "w") as out:
            out.write(f"{time.monotonic()}\n")
            for pid, (start, pgrp, ticks, comm) in snapshot().items():
                out.write(f"{pid} {start} {pgrp} {ticks} {comm.replace(' ', '_')}\n")
        return
    path, pgid = sys.argv[2], int(sys.argv[3])
    with open(path) as f:
        t0 = float(f.readline())
        before = {}
        for line in f:
            pid, start, _pgrp, ticks, _comm = line.split()
            before[pid] = (start, int(ticks))
    now = snapshot()
    elapsed = max(time.monotonic() - t0, 1e-3)
    hz = os.sysconf("SC_CLK_TCK")
    total, busiest = 0, (0, "-")
    for pid, (start, pgrp, ticks, comm) in now.items():
        if pgrp == pgid or pid == str(os.getpid()):
            continue
        prev = before.get(pid)
        delta = ticks - prev[1] if prev and prev[0] == start else ticks
        total += delta
        busiest = max(busiest, (delta, comm))
    pct = 100.0 * total / hz / elapsed
    print(f"{pct:.1f} {busiest[1]}")

main()
