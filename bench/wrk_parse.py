"""Turns wrk --latency output (stdin) into one JSON line.

Arguments: config round [proxy_cpu_seconds] [foreign_pct] [tries]. Fields: config, round, rps,
p50_us, p99_us, requests, non_2xx; with the CPU seconds, cpu_us_per_req (the charged
processes' CPU per completed request); foreign_pct (CPU other processes used during the
round, % of one core) and tries (how many times the round was run)."""
import json
import re
import sys

UNITS = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0}


def micros(text):
    m = re.match(r"([\d.]+)(us|ms|s)$", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


out = {"config": sys.argv[1], "round": int(sys.argv[2])}
for line in sys.stdin:
    parts = line.split()
    if line.startswith("Requests/sec:"):
        out["rps"] = float(parts[1])
    elif len(parts) == 2 and parts[0] in ("50%", "90%", "99%"):
        out["p%s_us" % parts[0][:-1]] = micros(parts[1])
    elif "requests in" in line:
        out["requests"] = int(parts[0])
    elif "Non-2xx or 3xx responses" in line:
        out["non_2xx"] = int(parts[-1])
    elif "Socket errors" in line:
        out["socket_errors"] = line.split(":", 1)[1].strip()
args = sys.argv[3:] + [""] * 3
if args[0] and out.get("rps"):
    out["cpu_s"] = float(args[0])
    if out.get("requests"):
        out["cpu_us_per_req"] = out["cpu_s"] * 1e6 / out["requests"]
if args[1]:
    out["foreign_pct"] = float(args[1])
if args[2]:
    out["tries"] = int(args[2])
print(json.dumps(out))
