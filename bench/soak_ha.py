#!/usr/bin/env python3
"""Soak with two instances on Redis Sentinel, one Redis failover and one gateway restart.
Not part of the tests.

Usage: python3 bench/soak_ha.py [SECONDS] (default 600). BIN as for bench/failover.py (the
soak load is BIN/examples/soak: `cargo build --release --examples`).

A primary, its replica and three Sentinels (the timings of bench/failover.py), two gateways on
them with the soak's config (bench/soak: short lifetimes, every signer, a public path;
replicas_to_wait = 1), and the existing mixed load (examples/soak: logins through every
protocol, proxied requests, logouts, expiry, malformed requests) against each gateway. At a
third of the time the primary is killed with SIGKILL; at two thirds gateway A is restarted
(SIGTERM, then started again). Every error the load reports is timed as it arrives and
classed: inside the failover window (kill to the old primary back as a replica + 5 s; it is
restarted once the replica is promoted, as systemd would), inside A's restart (for A's
load), or outside both (expected: none; a session the load made and then found refused is
such an error, so this counts lost sessions too). Each gateway's RSS is sampled every 10 s.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from failover import BIN, Round, redis_cli  # noqa: E402

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 600
WORKERS = os.environ.get("WORKERS", "8")
PACE_MS = os.environ.get("PACE_MS", "100")


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0


def main():
    work = tempfile.mkdtemp()
    r = Round(work)
    try:
        r.start(soak=True)
        ports = {n: g[0] for n, g in r.gateways.items()}
        start = time.monotonic()
        loads, lines = {}, []
        for name, p in ports.items():
            proc = subprocess.Popen([f"{BIN}/examples/soak", f"http://127.0.0.1:{p}", str(SECONDS),
                                     WORKERS, PACE_MS], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            loads[name] = proc

            def read(name=name, proc=proc):
                for line in proc.stderr:
                    lines.append((time.monotonic(), name, line.strip()))
            threading.Thread(target=read, daemon=True).start()
        events, rss = {}, {"a": [], "b": []}
        last_sample = 0.0
        while any(p.poll() is None for p in loads.values()):
            now = time.monotonic() - start
            if now - last_sample >= 10:
                last_sample = now
                for n, g in r.gateways.items():
                    rss[n].append(rss_kib(g[1].pid))
            if "kill" not in events and now >= SECONDS / 3:
                events["kill"] = time.monotonic()
                r.primary_proc.send_signal(signal.SIGKILL)
                while "role:master" not in redis_cli(r.replica, "INFO", "replication"):
                    time.sleep(0.05)
                events["promoted"] = time.monotonic()
                # The killed server comes back (as systemd would restart it); the Sentinels
                # make it a replica of the new primary, so writes that wait for a replica
                # (replicas_to_wait = 1) are confirmed again.
                r.node("old-primary", [], r.primary)
                while "connected_slaves:1" not in redis_cli(r.replica, "INFO", "replication"):
                    time.sleep(0.1)
                events["replica_back"] = time.monotonic()
            if "restart" not in events and now >= 2 * SECONDS / 3:
                events["restart"] = time.monotonic()
                a = r.gateways["a"][1]
                a.send_signal(signal.SIGTERM)
                a.wait()
                rss["a"].append("restart")
                r.gateways["a"] = r.gateway("a", ports["a"])
                events["restarted"] = time.monotonic()
            time.sleep(0.2)
        results = {n: json.loads(p.stdout.read().strip().splitlines()[-1]) for n, p in loads.items()}
        failover = (events["kill"], events["replica_back"] + 5)
        restart = (events["restart"], events["restarted"] + 2)
        inside_failover = [l for l in lines if failover[0] <= l[0] <= failover[1]]
        inside_restart = [l for l in lines if l[1] == "a" and restart[0] <= l[0] <= restart[1]]
        outside = [l for l in lines if l not in inside_failover and l not in inside_restart]
        print(json.dumps({"seconds": SECONDS, "load": results}))
        print(f"primary killed at {events['kill'] - start:.0f} s, promoted after "
              f"{events['promoted'] - events['kill']:.2f} s, the old primary back as a replica after "
              f"{events['replica_back'] - events['kill']:.2f} s; gateway A restarted at "
              f"{events['restart'] - start:.0f} s, serving again after "
              f"{events['restarted'] - events['restart']:.2f} s")
        print(f"errors reported by the load: {len(lines)}: {len(inside_failover)} in the failover "
              f"window, {len(inside_restart)} in A's restart, {len(outside)} outside both")
        for l in outside[:10]:
            print(f"  outside: {l[0] - start:.1f} s {l[1]}: {l[2]}")
        buckets = {}
        for l in lines:
            b = int((l[0] - start) // 10 * 10)
            buckets[b] = buckets.get(b, 0) + 1
        print(f"errors per 10 s (start of each): {dict(sorted(buckets.items()))}")
        print(f"RSS KiB every 10 s: A {rss['a']}; B {rss['b']}")
    finally:
        r.stop()


if __name__ == "__main__":
    main()
