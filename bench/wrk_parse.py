"""Turns wrk --latency output (stdin) into one JSON line: config, round, rps, p50_us, p99_us,
and, when the proxy's CPU seconds for the round are given, cpu_us_per_req."""
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
    elif len(parts) == 2 and parts[0] in ("50%", "99%"):
        out["p%s_us" % parts[0][:-1]] = micros(parts[1])
    elif "requests in" in line:
        out["requests"] = int(parts[0])
    elif "Non-2xx or 3xx responses" in line:
        out["non_2xx"] = int(parts[-1])
if len(sys.argv) > 3 and sys.argv[3] and out.get("rps"):
    out["cpu_s"] = float(sys.argv[3])
    if out.get("requests"):
        out["cpu_us_per_req"] = out["cpu_s"] * 1e6 / out["requests"]
print(json.dumps(out))
