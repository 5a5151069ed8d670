"""Summarises bench/run's JSON lines into a markdown report: medians, ranges, ratios, targets."""
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

(path, mode, rounds, dur, conns, streams, sse_rounds, sessions, browsers,
 start_foreign) = sys.argv[1:11]
page_others = int(sys.argv[11]) if len(sys.argv) > 11 else 0
rows = [json.loads(line) for line in open(path) if line.strip()]
NAN = float("nan")


def by(config):
    return [r for r in rows if r.get("config") == config]


def vals(config, key):
    return [float(r[key]) for r in by(config) if r.get(key) is not None]


def med(config, key):
    v = vals(config, key)
    return statistics.median(v) if v else NAN


def spread(config, key, fmt="{:,.0f}"):
    v = vals(config, key)
    return f"{fmt.format(min(v))}–{fmt.format(max(v))}" if v else ""


def verdict(ok):
    return "met" if ok else "**missed**"


def f0(x):
    return "" if x != x else f"{x:,.0f}"


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(l for l in open("/proc/meminfo") if l.startswith("MemTotal"))
        mem_gib = int(mem.split()[1]) / 1024 / 1024
    except (OSError, StopIteration):
        mem_gib = NAN
    return f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB, {platform.system()} {platform.release()}"


def commit():
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + (" with uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


targets = []  # (target, measured, verdict)
out = []
now = datetime.datetime.now(datetime.timezone.utc)
out.append(f"# qrgate benchmark — {now:%Y-%m-%d %H:%M} UTC")
out.append("")
out.append(f"Command: `bash bench/run{'' if mode == 'full' else ' ' + mode}` at commit {commit()}. "
           f"Machine: {machine()}.")
out.append("")
out.append(f"Mode `{mode}`: {rounds} rounds × {dur} s per configuration, configurations interleaved "
           f"round by round; figures are medians of the rounds (ranges: min–max). wrk -t1; the load "
           f"generator and the servers share the same cores (nothing pinned). Other processes used "
           f"{start_foreign} % of one core when the run started; see \"Disturbance\" at the end.")
out.append("")


# --- disturbance -----------------------------------------------------------------------------
def disturbance():
    out.append("## Disturbance")
    out.append("")
    fs = [r for r in rows if r.get("foreign_pct") is not None]
    if fs:
        sections = {}
        for r in fs:
            sec = r["config"].split("_c")[0] if not r["config"].startswith("sessions") else "sessions"
            sec = "sessions page" if sec.startswith("page_") else sec
            sec = {"upstream": "proxy", "nginx": "proxy", "bare_pingora": "proxy"}.get(sec, sec)
            sec = "proxy" if sec.startswith("qrgate") else sec
            sections.setdefault(sec, []).append(r["foreign_pct"])
        retried = sum(1 for r in rows if r.get("tries", 1) > 1)
        out.append("CPU used by other processes on the machine during the measured rounds, % of one core "
                   "(median / max): "
                   + "; ".join(f"{k} {statistics.median(v):.1f} / {max(v):.1f}" for k, v in sections.items())
                   + f". Rounds run again because another process used more than "
                   f"{os.environ.get('FOREIGN_MAX', '15')} % of a core: {retried}.")
    out.append("")


# --- the sessions page -----------------------------------------------------------------------
def sessions_page():
    """The person's sessions page with 1 and with page_others other sessions in the store."""
    if not by("page_memory_1_c1"):
        return
    out.append(f"## The person's sessions page against the size of the store")
    out.append("")
    out.append(f"`GET /.qrgate/sessions` with a valid cookie (`examples/sessions_page.rs`): the person "
               f"has one session; the store holds 1 or {page_others:,} sessions of 1,000 other people "
               f"besides (minted through the store API). Redis: redis-server on loopback, no "
               f"persistence; CPU is the gateway's plus redis-server's. wrk timeout 60 s.")
    out.append("")
    out.append("| store | others | five single pages, median ms | connections | req/s | p50 µs | p99 µs | CPU µs/page | requests |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for store in ("memory", "redis"):
        for n, others in (("1", 1), ("n", page_others)):
            single = med(f"page_single_{store}_{n}", "median_ms")
            for c in ("1", "4"):
                name = f"page_{store}_{n}_c{c}"
                reqs = sum(r.get("requests", 0) for r in by(name))
                # A round in which no page completed has no latency, not a latency of 0.
                done = [r for r in by(name) if r.get("requests")]
                m = lambda k: statistics.median(float(r[k]) for r in done if r.get(k) is not None) if done else NAN
                out.append(f"| {store} | {others:,} | {single:.2f} | {c} | {f0(m('rps'))} | "
                           f"{f0(m('p50_us'))} | {f0(m('p99_us'))} | "
                           f"{f0(m('cpu_us_per_req'))} | {reqs} |")
    out.append("")
    out.append("\"five single pages\": five requests one after another with curl (`time_total`), after a "
               "first one checks the page is the person's with her one session. The wrk rows: medians "
               "over the rounds in which at least one page completed; \"requests\": pages completed in "
               "all rounds.")
    out.append("")
    for store in ("memory", "redis"):
        one = med(f"page_single_{store}_1", "median_ms")
        many = med(f"page_single_{store}_n", "median_ms")
        mint = [r["mint_s"] for r in by(f"page_mint_{store}_n")]
        targets.append((f"sessions page, {store} store: single page with {page_others:,} other "
                        f"sessions against 1",
                        f"{many:.2f} vs {one:.2f} ms ({many / one:.2f}×)"
                        + (f"; {page_others:,} sessions minted in {mint[0]:.1f} s" if mint else ""),
                        "measured"))


if mode == "sessions":
    sessions_page()
    out.append("## Figures")
    out.append("")
    out.append("| figure | measured | |")
    out.append("|---|---|---|")
    for t in targets:
        out.append("| " + " | ".join(t) + " |")
    out.append("")
    disturbance()
    print("\n".join(out))
    sys.exit(0)

# --- proxy -----------------------------------------------------------------------------------
out.append(f"## Proxy throughput ({conns} connections)")
out.append("")
out.append("| configuration | req/s | req/s range | p50 µs | p99 µs | vs bare pingora | vs nginx | server CPU µs/req |")
out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
bare = med("bare_pingora", "rps")
ngx = med("nginx", "rps")
labels = {
    "upstream": "upstream directly",
    "nginx": "nginx `proxy_pass`",
    "bare_pingora": "bare pingora",
    "bare_pingora_headers": "bare pingora + the same 7 upstream headers",
    "lean_loop": "prototype: forwarding loop on pingora-core, no pingora-proxy (`examples/lean_proxy.rs`)",
    "qrgate_session": "**qrgate, session**",
    "qrgate_bearer": "qrgate, program's bearer token (device login)",
    "qrgate_session_redis": "qrgate, session, Redis store (CPU: gateway + redis-server)",
    "qrgate_302": "qrgate, no cookie (302)",
    "qrgate_public": "qrgate, public path",
    "bare_pingora_tls": "bare pingora, HTTPS",
    "qrgate_session_tls": "**qrgate, session, HTTPS**",
    "nginx_auth_request": "nginx `auth_request` → qrgate verify (CPU: nginx + qrgate)",
    "caddy_forward_auth": "Caddy `forward_auth` → qrgate verify (CPU: Caddy + qrgate)",
    "qrgate_session_scaled": "qrgate, session, 1,000 apps and 100,000 users",
    "qrgate_login_page": "qrgate login page (new attempt, QR)",
    "qrgate_login_page_scaled": "qrgate login page, 1,000 apps and 100,000 users",
}
labels = {n: l for n, l in labels.items() if by(n)}
for name, label in labels.items():
    rps = med(name, "rps")
    cpu = med(name, "cpu_us_per_req")
    out.append(f"| {label} | {f0(rps)} | {spread(name, 'rps')} | {f0(med(name, 'p50_us'))} | "
               f"{f0(med(name, 'p99_us'))} | {rps / bare:.2f}× | {rps / ngx:.2f}× | "
               f"{'' if cpu != cpu else f'{cpu:.1f}'} |")
non2xx = {n: sum(r.get("non_2xx", 0) for r in by(n)) for n in labels}
out.append("")
out.append("\"server CPU µs/req\": user + system CPU of the server's processes (from `/proc`) during "
           "the round, divided by the requests wrk completed — for the upstream row the upstream "
           "nginx, for nginx the proxying nginx (not the upstream). Non-2xx/3xx answers: "
           + ", ".join(f"{n} {v}" for n, v in non2xx.items()) + ".")
out.append("")
auth = med("qrgate_session", "rps")
targets.append(("authenticated qrgate ≥ 0.95× bare pingora (req/s)", f"{auth / bare:.2f}×",
                verdict(auth / bare >= 0.95)))
extra = med("qrgate_session", "cpu_us_per_req") - med("bare_pingora", "cpu_us_per_req")
targets.append(("CPU per authenticated request ≤ bare pingora + 2 µs", f"+{extra:.1f} µs",
                verdict(extra <= 2)))
if by("bare_pingora_headers"):
    same = med("bare_pingora_headers", "rps")
    extra_same = (med("qrgate_session", "cpu_us_per_req")
                  - med("bare_pingora_headers", "cpu_us_per_req"))
    out.append(f"qrgate sends the upstream 7 headers bare pingora does not (`X-Auth-User`, "
               f"`-Pubkey`, `-Roles`, `-App`, `X-Forwarded-For`, `-Proto`, `-Host`). Bare pingora "
               f"adding the same 7 headers: authenticated qrgate is {auth / same:.2f}× its req/s, "
               f"at {extra_same:+.1f} µs CPU per request.")
    out.append("")
    targets.append(("authenticated qrgate against bare pingora sending the same 7 headers (req/s)",
                    f"{auth / same:.2f}×, {extra_same:+.1f} µs CPU", "measured"))
if by("lean_loop"):
    lean = med("lean_loop", "rps")
    targets.append(("prototype forwarding loop on pingora-core against bare pingora (req/s)",
                    f"{lean / bare:.2f}×, {lean / ngx:.2f}× nginx", "measured"))
public = med("qrgate_public", "rps")
targets.append(("public paths ≥ 0.98× bare pingora (req/s)", f"{public / bare:.2f}×",
                verdict(public / bare >= 0.98)))
if by("bare_pingora_tls") and by("qrgate_session_tls"):
    tls_ratio = med("qrgate_session_tls", "rps") / med("bare_pingora_tls", "rps")
    out.append(f"Over HTTPS (TLS 1.3, HTTP/1.1 from wrk, same certificate): authenticated qrgate "
               f"{tls_ratio:.2f}× bare pingora over HTTPS.")
    out.append("")
    targets.append(("authenticated qrgate over TLS ≥ 0.95× bare pingora over TLS (req/s)",
                    f"{tls_ratio:.2f}×", verdict(tls_ratio >= 0.95)))
if by("qrgate_session_redis"):
    redis_ratio = med("qrgate_session_redis", "rps") / auth
    targets.append(("authenticated, Redis store ≥ 0.9× memory store (req/s)", f"{redis_ratio:.2f}×",
                    verdict(redis_ratio >= 0.9)))
if by("cross_redis"):
    out.append("## Across instances (Redis store) against one memory gateway")
    out.append("")
    out.append("Approve → `approved` event at the browser: page and stream on instance A, the phone's "
               "scan and approval through instance B (memory: all on one gateway). Revocation: a "
               "session used on A, logged out through B, A asked until it refuses.")
    out.append("")
    out.append("| store | event p50 ms | event p99 ms | event max ms | revocation p50 ms | revocation worst ms |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for name, label in [("cross_memory", "memory, one gateway"), ("cross_redis", "Redis, two instances")]:
        worst = max(vals(name, "revoke_max_ms")) if vals(name, "revoke_max_ms") else float("nan")
        emax = max(vals(name, "event_max_ms")) if vals(name, "event_max_ms") else float("nan")
        out.append(f"| {label} | {med(name, 'event_p50_ms'):.2f} | {med(name, 'event_p99_ms'):.2f} | "
                   f"{emax:.2f} | {med(name, 'revoke_p50_ms'):.2f} | {worst:.2f} |")
    out.append("")
    p99 = med("cross_redis", "event_p99_ms")
    worst = max(vals("cross_redis", "revoke_max_ms"))
    targets.append(("cross-instance approve → event p99 ≤ 20 ms", f"{p99:.2f} ms", verdict(p99 <= 20)))
    targets.append(("logout on one instance refused by the other within 1 s (worst)", f"{worst:.1f} ms",
                    verdict(worst <= 1000)))
if by("nginx_auth_request"):
    peer = med("nginx_auth_request", "rps")
    targets.append(("qrgate as the proxy ≥ 1.5× nginx + auth_request (req/s)", f"{auth / peer:.2f}×",
                    verdict(auth / peer >= 1.5)))
if by("caddy_forward_auth"):
    peer = med("caddy_forward_auth", "rps")
    targets.append(("qrgate as the proxy against Caddy + forward_auth (req/s)", f"{auth / peer:.2f}×",
                    "measured"))
if by("qrgate_session_scaled"):
    scaled = med("qrgate_session_scaled", "cpu_us_per_req") / med("qrgate_session", "cpu_us_per_req")
    targets.append(("CPU per proxied request, 1,000 apps + 100,000 users vs 1 + 1: within 5 %",
                    f"{scaled:.3f}×", verdict(abs(scaled - 1) <= 0.05)))
if by("qrgate_login_page_scaled"):
    scaled = med("qrgate_login_page_scaled", "cpu_us_per_req") / med("qrgate_login_page", "cpu_us_per_req")
    targets.append(("CPU per login page, 1,000 apps + 100,000 users vs 1 + 1: within 5 %",
                    f"{scaled:.3f}×", verdict(abs(scaled - 1) <= 0.05)))
targets.append(("authenticated qrgate ≥ 1.0× nginx (req/s)", f"{auth / ngx:.2f}×",
                verdict(auth / ngx >= 1.0)))

out.append("## Latency at one connection (no queueing)")
out.append("")
out.append("| configuration | req/s | p50 µs | p99 µs | p99 range µs | p50 added over bare | p99 added over bare |")
out.append("|---|---:|---:|---:|---:|---:|---:|")
b50, b99 = med("bare_pingora_c1", "p50_us"), med("bare_pingora_c1", "p99_us")
for name in ["upstream", "nginx", "bare_pingora", "qrgate_session", "qrgate_bearer", "qrgate_public"]:
    c1 = name + "_c1"
    if name not in labels or not by(c1):
        continue
    out.append(f"| {labels[name]} | {f0(med(c1, 'rps'))} | {f0(med(c1, 'p50_us'))} | {f0(med(c1, 'p99_us'))} | "
               f"{spread(c1, 'p99_us')} | {med(c1, 'p50_us') - b50:+.0f} µs | {med(c1, 'p99_us') - b99:+.0f} µs |")
out.append("")
added99 = med("qrgate_session_c1", "p99_us") - b99
added50 = med("qrgate_session_c1", "p50_us") - b50
bare99 = vals("bare_pingora_c1", "p99_us")
jitter = (max(bare99) - min(bare99)) if bare99 else NAN
# A difference smaller than the round-to-round spread of the baseline itself says nothing.
if jitter <= 50:
    p99_verdict = verdict(added99 <= 50)
else:
    p99_verdict = (f"not resolvable here: bare pingora's own p99 varies by {jitter:.0f} µs between rounds"
                   + ("" if added99 <= 50 else f"; p50 added {added50:+.0f} µs"))
targets.append(("added p99 over bare pingora ≤ 50 µs (one connection)",
                f"{added99:+.0f} µs (p50 {added50:+.0f} µs)", p99_verdict))

if mode == "programs":
    bearer = med("qrgate_bearer", "rps")
    extra = med("qrgate_bearer", "cpu_us_per_req") - med("qrgate_session", "cpu_us_per_req")
    b99 = med("qrgate_bearer_c1", "p99_us") - med("qrgate_session_c1", "p99_us")
    figures = [
        ("a program's bearer token against the cookie session (req/s)",
         f"{bearer / auth:.2f}×, {extra:+.1f} µs CPU per request", "measured"),
        ("a program's bearer token against bare pingora (req/s)", f"{bearer / bare:.2f}×", "measured"),
        ("bearer p99 added over the session's (one connection)", f"{b99:+.0f} µs", "measured"),
    ]
    out.append("## Figures")
    out.append("")
    out.append("| figure | measured | |")
    out.append("|---|---|---|")
    for t in figures:
        out.append("| " + " | ".join(t) + " |")
    out.append("")
    disturbance()
    print("\n".join(out))
    sys.exit(0)

# --- login -----------------------------------------------------------------------------------
login = by("login")
out.append("## Login ceremony (create → scan → approve → claim)")
out.append("")
if login:
    rate = med("login", "per_second")
    gw = med("login", "gateway_cpu_us_per_login")
    cl = med("login", "client_cpu_us_per_login")
    mid = sorted(login, key=lambda r: r["per_second"])[len(login) // 2]
    out.append(f"| figure | median | range |")
    out.append("|---|---:|---:|")
    out.append(f"| complete logins/s ({browsers} simulated browsers) | {f0(rate)} | {spread('login', 'per_second')} |")
    out.append(f"| gateway CPU per login | {gw:.0f} µs | {spread('login', 'gateway_cpu_us_per_login')} |")
    out.append(f"| load client CPU per login | {cl:.0f} µs | {spread('login', 'client_cpu_us_per_login')} |")
    out.append(f"| logins/s the gateway alone could do on 2 cores (2 s ÷ gateway CPU per login) | {f0(2e6 / gw)} | |")
    out.append(f"| failed logins, all rounds | {sum(r['errors'] for r in login)} | |")
    out.append("")
    out.append("Client-observed mean time per step, median round: "
               + ", ".join(f"{k} {v} µs" for k, v in mid["step_us"].items())
               + f". The load client runs on the same two cores and takes {cl:.0f} µs of CPU per "
               f"login (one Ed25519 signature, four requests) from the gateway.")
    targets.append(("≥ 10 000 complete logins/s on 2 cores", f"{f0(rate)}/s", verdict(rate >= 10_000)))
    if vals("login", "verify_us"):
        verify = med("login", "verify_us")
        out.append("")
        out.append(f"One Ed25519 verification (strict, as the gateway makes it) took {verify:.1f} µs of "
                   f"CPU on this machine in the same run, so a login costs {gw / verify:.2f}× one "
                   f"verification.")
        targets.append(("gateway CPU per login ≤ 1.5× one Ed25519 verification (same run)",
                        f"{gw / verify:.2f}× ({gw:.0f} vs {verify:.1f} µs)", verdict(gw / verify <= 1.5)))
out.append("")

# --- SSE -------------------------------------------------------------------------------------
sse = by("sse")
out.append(f"## SSE scale ({int(streams):,} concurrent streams; {len(sse)} rounds, a fresh gateway each)")
out.append("")
if sse:
    held = med("sse", "streams")
    rss = med("sse", "rss_mib_with_streams")
    p99 = med("sse", "approve_to_event_ms_p99")
    out.append("| figure | median | range |")
    out.append("|---|---:|---:|")
    out.append(f"| streams held | {f0(held)} | {spread('sse', 'streams')} |")
    out.append(f"| approved events received | {f0(med('sse', 'approved_events'))} | {spread('sse', 'approved_events')} |")
    out.append(f"| gateway RSS idle | {med('sse', 'rss_mib_idle'):.0f} MiB | {spread('sse', 'rss_mib_idle')} |")
    out.append(f"| gateway RSS with the attempts | {med('sse', 'rss_mib_with_attempts'):.0f} MiB | {spread('sse', 'rss_mib_with_attempts')} |")
    out.append(f"| gateway RSS with the streams open | {rss:.0f} MiB | {spread('sse', 'rss_mib_with_streams')} |")
    per = (rss - med("sse", "rss_mib_with_attempts")) * 1024 / max(held, 1)
    out.append(f"| RSS per open stream (streams − attempts) | {per:.1f} KiB | |")
    out.append(f"| approve → event p50 | {med('sse', 'approve_to_event_ms_p50'):.2f} ms | {spread('sse', 'approve_to_event_ms_p50', '{:.2f}')} |")
    out.append(f"| approve → event p99 | {p99:.2f} ms | {spread('sse', 'approve_to_event_ms_p99', '{:.2f}')} |")
    if int(streams) < 10_000:
        projected = med("sse", "rss_mib_idle") + (rss - med("sse", "rss_mib_idle")) * 10_000 / max(held, 1)
        out.append(f"| gateway RSS projected to 10,000 streams (linear) | {projected:.0f} MiB | |")
    targets.append((f"hold {int(streams):,} concurrent event streams", f"{f0(held)} held, {f0(med('sse', 'approved_events'))} approved events",
                    verdict(held >= int(streams) and med("sse", "approved_events") >= int(streams))))
    if int(streams) >= 10_000:
        targets.append(("gateway RSS ≤ 150 MB with 10,000 streams open", f"{rss * 1.048576:.0f} MB ({rss:.0f} MiB)",
                        verdict(rss * 1.048576 <= 150)))
    else:
        targets.append(("gateway RSS ≤ 150 MB with 10,000 streams open",
                        f"{rss:.0f} MiB at {int(streams):,}; {projected:.0f} MiB projected",
                        f"not measured in this mode; projection {verdict(projected * 1.048576 <= 150)}"))
    targets.append(("approve → event p99 ≤ 10 ms", f"{p99:.2f} ms", verdict(p99 <= 10)))
out.append("")

# --- sessions --------------------------------------------------------------------------------
out.append(f"## Session table ({int(sessions):,} live sessions)")
out.append("")
sb = by("session_bytes")
st = by("sweep_time")
if sb:
    b = sb[0]
    out.append("| figure | idle sweeper | sweeping every 1 s | ratio |")
    out.append("|---|---:|---:|---:|")
    for c in (conns, "1"):
        i, s = f"sessions_idle_c{c}", f"sessions_sweeping_c{c}"
        for key, label in (("rps", "req/s"), ("p50_us", "p50 µs"), ("p99_us", "p99 µs")):
            out.append(f"| {label}, {c} connection{'s' if c != '1' else ''} | {f0(med(i, key))} | "
                       f"{f0(med(s, key))} | {med(s, key) / med(i, key):.2f}× |")
    out.append("")
    sweep_ms = st[0]["sweep_ms"] if st else NAN
    out.append(f"Heap per session: {b['bytes_per_session']:.0f} B (counting allocator; RSS growth "
               f"{b['rss_bytes_per_session']:.0f} B per session). One sweep over the full table "
               f"(nothing expired) takes {sweep_ms:.1f} ms; the gateway runs it on its own "
               f"background thread (pingora background service).")
    targets.append((f"≤ 400 B per session ({int(sessions):,} sessions)", f"{b['bytes_per_session']:.0f} B heap, "
                    f"{b['rss_bytes_per_session']:.0f} B RSS", verdict(max(b['bytes_per_session'], b['rss_bytes_per_session']) <= 400)))
    for c in (conns, "1"):
        i99, s99 = med(f"sessions_idle_c{c}", "p99_us"), med(f"sessions_sweeping_c{c}", "p99_us")
        targets.append((f"proxy p99 while sweeping < 2× idle ({c} connection{'s' if c != '1' else ''})",
                        f"{f0(s99)} vs {f0(i99)} µs ({s99 / i99:.2f}×)", verdict(s99 < 2 * i99)))
out.append("")

sessions_page()

out.append("## Against the targets")
out.append("")
out.append("| target | measured | |")
out.append("|---|---|---|")
for t in targets:
    out.append("| " + " | ".join(t) + " |")
out.append("")

disturbance()
print("\n".join(out))
