"""Turns wrk --latency output (stdin) into one JSON line: config, round, rps, p50_us, p99_us."""
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
    elif "Non-2xx or 3xx responses" in line:
        out["non_2xx"] = int(parts[-1])
print(json.dumps(out))
