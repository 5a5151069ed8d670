"""Summarises bench/run's JSON lines into a markdown report: medians, ratios, targets."""
import datetime
import json
import os
import platform
import statistics
import sys

path, mode, rounds, dur, conns, streams, sessions = sys.argv[1:8]
rows = [json.loads(line) for line in open(path) if line.strip()]


def by(config):
    return [r for r in rows if r.get("config") == config]


def med(config, key):
    vals = [r[key] for r in by(config) if r.get(key) is not None]
    return statistics.median(vals) if vals else float("nan")


def verdict(ok):
    return "met" if ok else "**missed**"


cpu = "unknown"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass

out = []
out.append(f"# qrgate benchmark — {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC")
out.append("")
out.append(f"Machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}. "
           f"Mode `{mode}`: {rounds} rounds × {dur} s per proxy configuration, interleaved; "
           f"wrk -t1 -c{conns}; load generator and servers share the same cores (no pinning).")
out.append("")
out.append("## Proxy throughput and latency (medians)")
out.append("")
out.append("| configuration | req/s | p50 µs | p99 µs | req/s vs bare pingora | req/s vs nginx | proxy CPU µs/request |")
out.append("|---|---:|---:|---:|---:|---:|---:|")
bare = med("bare_pingora", "rps")
ngx = med("nginx", "rps")
for name in ["upstream", "nginx", "bare_pingora", "qrgate_session", "qrgate_302", "qrgate_public"]:
    rps = med(name, "rps")
    cpu = med(name, "cpu_us_per_req")
    cpu_text = "" if cpu != cpu else f"{cpu:.1f}"
    out.append(f"| {name} | {rps:,.0f} | {med(name, 'p50_us'):.0f} | {med(name, 'p99_us'):.0f} | "
               f"{rps / bare:.2f}× | {rps / ngx:.2f}× | {cpu_text} |")
out.append("")
auth = med("qrgate_session", "rps")
added_cpu = med("qrgate_session", "cpu_us_per_req") - med("bare_pingora", "cpu_us_per_req")
out.append(f"CPU the proxy process itself spends per request (from /proc, over each round): qrgate with a "
           f"session adds {added_cpu:.1f} µs to bare pingora's {med('bare_pingora', 'cpu_us_per_req'):.1f} µs.")
out.append("")
out.append("## Latency at one connection (no queueing; medians)")
out.append("")
out.append("| configuration | req/s | p50 µs | p99 µs | p99 added over bare pingora |")
out.append("|---|---:|---:|---:|---:|")
for name in ["upstream", "nginx", "bare_pingora", "qrgate_session", "qrgate_public"]:
    c1 = name + "_c1"
    out.append(f"| {name} | {med(c1, 'rps'):,.0f} | {med(c1, 'p50_us'):.0f} | {med(c1, 'p99_us'):.0f} | "
               f"{med(c1, 'p99_us') - med('bare_pingora_c1', 'p99_us'):+.0f} µs |")
out.append("")
added_p99 = med("qrgate_session_c1", "p99_us") - med("bare_pingora_c1", "p99_us")
added_p50 = med("qrgate_session_c1", "p50_us") - med("bare_pingora_c1", "p50_us")
bare_p99s = [r["p99_us"] for r in by("bare_pingora_c1") if r.get("p99_us") is not None]
p99_spread = (max(bare_p99s) - min(bare_p99s)) if bare_p99s else float("nan")
out.append("| target | measured | |")
out.append("|---|---:|---|")
out.append(f"| authenticated qrgate ≥ 0.95× bare pingora | {auth / bare:.2f}× | {verdict(auth / bare >= 0.95)} |")
out.append(f"| authenticated qrgate ≥ 1.0× nginx | {auth / ngx:.2f}× | {verdict(auth / ngx >= 1.0)} |")
# A difference smaller than the round-to-round spread of the baseline itself says nothing.
p99_verdict = verdict(added_p99 <= 50) if p99_spread <= 50 else f"not resolvable: bare pingora's own p99 varies by {p99_spread:.0f} µs between rounds"
out.append(f"| added p99 over bare pingora ≤ 50 µs (one connection) | {added_p99:+.0f} µs (p50 {added_p50:+.0f} µs) | {p99_verdict} |")
out.append("")

login = by("login")
out.append("## Login ceremony (create → scan → approve → claim)")
out.append("")
if login:
    rates = [r["per_second"] for r in login]
    mid = sorted(login, key=lambda r: r["per_second"])[len(login) // 2]
    steps = mid["step_us"]
    out.append(f"Median {statistics.median(rates):,.0f} logins/s over {len(login)} rounds of {dur} s, 64 simulated "
               f"browsers (errors: {sum(r['errors'] for r in login)}). Target ≥ 10,000/s: "
               f"{verdict(statistics.median(rates) >= 10_000)}.")
    out.append("")
    out.append("Mean client-observed time per step (median round): " + ", ".join(f"{k} {v} µs" for k, v in steps.items()) + ".")
    cpu = [r["gateway_cpu_us_per_login"] for r in login if "gateway_cpu_us_per_login" in r]
    if cpu:
        out.append("")
        out.append(f"Gateway CPU per complete login (four requests, one Ed25519 verification): "
                   f"{statistics.median(cpu):.0f} µs, i.e. about {2e6 / statistics.median(cpu):,.0f} logins/s "
                   f"if the gateway had both cores to itself; the load client uses the rest.")
out.append("")

sse = by("sse")
out.append("## SSE scale")
out.append("")
if sse:
    s = sse[0]
    out.append("| figure | measured | target | |")
    out.append("|---|---:|---:|---|")
    out.append(f"| concurrent streams held | {s['streams']:,} (of {int(streams):,}) | 10,000 | {verdict(s['streams'] >= 10_000)} |")
    out.append(f"| gateway RSS idle / with attempts / with streams | {s['rss_mib_idle']:.0f} / {s['rss_mib_with_attempts']:.0f} / {s['rss_mib_with_streams']:.0f} MiB | ≤ 150 MB | {verdict(s['rss_mib_with_streams'] * 1.048576 <= 150)} |")
    out.append(f"| approve → event p50 | {s['approve_to_event_ms_p50']:.2f} ms | | |")
    out.append(f"| approve → event p99 | {s['approve_to_event_ms_p99']:.2f} ms | ≤ 10 ms | {verdict(s['approve_to_event_ms_p99'] <= 10)} |")
    out.append(f"| approved events received | {s['approved_events']:,} | all | {verdict(s['approved_events'] == s['streams'])} |")
out.append("")

out.append("## Session table")
out.append("")
sb = by("session_bytes")
idle99 = med("sessions_idle_sweeper", "p99_us")
sweep99 = med("sessions_sweeping", "p99_us")
if sb:
    b = sb[0]
    out.append("| figure | measured | target | |")
    out.append("|---|---:|---:|---|")
    out.append(f"| heap bytes per session ({b['sessions']:,} sessions) | {b['bytes_per_session']:.0f} B | ≤ 400 B | {verdict(b['bytes_per_session'] <= 400)} |")
    out.append(f"| proxy p99, {int(sessions):,} sessions, sweeper idle | {idle99:.0f} µs | | |")
    out.append(f"| proxy p99, {int(sessions):,} sessions, sweeping every 1 s | {sweep99:.0f} µs | < 2× idle | {verdict(sweep99 < 2 * idle99)} ({sweep99 / idle99:.2f}×) |")
    out.append(f"| req/s idle / sweeping | {med('sessions_idle_sweeper', 'rps'):,.0f} / {med('sessions_sweeping', 'rps'):,.0f} | | |")
out.append("")
print("\n".join(out))
