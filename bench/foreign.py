"""CPU used on this machine by processes that are not part of the benchmark.

The benchmark shares its two cores with whatever else runs here (other people's builds, for
one). This measures that, so a round disturbed by foreign work can be retried and every round
carries the figure into the report.

  foreign.py snap ROOT_PID              print a snapshot (JSON) of foreign processes' CPU ticks
  foreign.py diff ROOT_PID SNAP START   print foreign CPU since the snapshot, % of one core
  foreign.py wait ROOT_PID MAX_S PCT    wait (at most MAX_S seconds) until foreign CPU over a
                                        3-second window is below PCT % of one core; print it

"Foreign" means every process that does not descend from ROOT_PID, kernel threads excepted.
Children a foreign process reaped during the window are counted through its cumulative
children times, so short compiler runs are not missed.
"""
import json
import os
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def processes():
    procs = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        # After the name: state ppid ... utime(11) stime(12) cutime(13) cstime(14).
        procs[int(name)] = (int(fields[1]), sum(int(v) for v in fields[11:15]))
    return procs


def foreign(root):
    procs = processes()
    out = {}
    for pid, (ppid, ticks) in procs.items():
        if pid == 2 or ppid == 2:
            continue  # kernel threads: loopback softirq work our own load causes
        p, ours = pid, False
        for _ in range(64):
            if p == root:
                ours = True
                break
            if p not in procs or p <= 1:
                break
            p = procs[p][0]
        if not ours:
            out[pid] = ticks
    return out


def diff(before, after):
    ticks = 0
    for pid, t in after.items():
        ticks += t - before.get(pid, 0)
    for pid, t in before.items():
        if pid not in after:
            ticks -= t  # its whole lifetime reappears in its parent's children times
    return max(ticks, 0)


def main():
    cmd, root = sys.argv[1], int(sys.argv[2])
    if cmd == "snap":
        print(json.dumps(foreign(root)))
    elif cmd == "diff":
        before = {int(k): v for k, v in json.load(open(sys.argv[3])).items()}
        seconds = max(time.time() - float(sys.argv[4]), 0.001)
        print(f"{100.0 * diff(before, foreign(root)) / TICK / seconds:.1f}")
    elif cmd == "wait":
        limit, pct = float(sys.argv[3]), float(sys.argv[4])
        end = time.time() + limit
        while True:
            before, t0 = foreign(root), time.time()
            time.sleep(3)
            used = 100.0 * diff(before, foreign(root)) / TICK / (time.time() - t0)
            if used < pct or time.time() >= end:
                print(f"{used:.1f}")
                return
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
