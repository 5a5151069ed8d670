"""Summarises bench/profile's callgrind dumps and dhat profile into markdown.

Usage: profile_report.py WORK_DIR STREAMS
"""
import datetime
import glob
import json
import re
import subprocess
import sys

work, streams = sys.argv[1], int(sys.argv[2])
counts = dict(line.split() for line in open(f"{work}/counts"))
counts = {k: int(v) for k, v in counts.items()}

# --- callgrind -------------------------------------------------------------------------------
dumps = {}
for path in glob.glob(f"{work}/cg.*.*"):
    text = open(path, errors="replace").read(4096)
    m = re.search(r"^desc: Trigger: dump (\w+)", text, re.M)
    if m:
        dumps[m.group(1)] = path

FUNCS = [
    ("qrgate `request_filter` (host, path, session lookup, 302/401)", r"Proxy as pingora_proxy::proxy_trait::ProxyHttp>::request_filter::\{\{closure\}\}$"),
    ("  of which `MemoryStore::lookup` (SHA-256 + map)", r"MemoryStore as qrgate_core::session::SessionStore>::lookup::\{\{closure\}\}$"),
    ("    of which SHA-256 (software under valgrind)", r"^sha2::sha256::compress256$"),
    ("  of which `Config::app_for_host`", r"^qrgate_core::config::Config::app_for_host$"),
    ("  of which `path::canonicalize`", r"^qrgate_core::http::path::canonicalize$"),
    ("qrgate `upstream_request_filter` (strip, identity + forwarding headers)", r"Proxy as pingora_proxy::proxy_trait::ProxyHttp>::upstream_request_filter::\{\{closure\}\}$"),
    ("  of which pingora `RequestHeader::insert_header` (not inlined calls)", r"^pingora_http::RequestHeader::insert_header$"),
    ("  of which `upstream::header_edits`", r"^qrgate_core::gate::upstream::header_edits$"),
    ("    of which `cookies::strip`", r"^qrgate_core::http::cookies::strip$"),
    ("qrgate `upstream_peer`", r"Proxy as pingora_proxy::proxy_trait::ProxyHttp>::upstream_peer::\{\{closure\}\}$"),
    ("pingora `HttpProxy::process_request` (whole request)", r"^pingora_proxy::HttpProxy<SV,C>::process_request::\{\{closure\}\}$"),
    ("pingora `proxy_to_upstream`", r"^pingora_proxy::HttpProxy<SV,C>::proxy_to_upstream::\{\{closure\}\}$"),
    ("libc `memcpy` (all callers)", r"^__memcpy_avx_unaligned_erms$"),
    ("qrgate `Guard::connection` (head limits, keep-alive loop; includes all below it)", r"^qrgate::conn::guard::Guard<A>::connection::\{\{closure\}\}$"),
    ("qrgate `Tethered::process_new_http` (includes pingora's request below it)", r"Tethered<A> as pingora_core::apps::HttpServerApp>::process_new_http::\{\{closure\}\}$"),
    ("pingora `HttpProxy::process_new_http` (one request, session setup included)", r"HttpProxy<SV,C> as pingora_core::apps::HttpServerApp>::process_new_http::\{\{closure\}\}$"),
    ("  of which `HttpSession::read_request` (downstream head: parse, header maps)", r"^pingora_core::protocols::http::v1::server::HttpSession::read_request::\{\{closure\}\}$"),
    ("    of which `httparse`", r"^httparse::Request::parse"),
    ("  of which `proxy_handle_downstream` (downstream side of the proxy loop)", r"proxy_handle_downstream::\{\{closure\}\}$"),
    ("  of which `process_upstream_tasks` (upstream side, fed over a channel)", r"process_upstream_tasks::\{\{closure\}\}$"),
    ("  of which `prepare_response_header` (downstream response head)", r"HttpSession::prepare_response_header$"),
    ("  of which `sanitize_h1_upstream_request`", r"sanitize_h1_upstream_request$"),
    ("  of which the upstream pool: `reused_stream`", r"TransportConnector::reused_stream::\{\{closure\}\}$"),
    ("  of which the upstream pool: `release_http_session`", r"Connector<C>::release_http_session::\{\{closure\}\}$"),
    ("mimalloc `mi_malloc_aligned` (all callers)", r"^mi_malloc_aligned$"),
]


def inclusive(path):
    """function name -> inclusive instructions. callgrind_annotate lists a function once per
    source file its (inlined) code comes from; the largest of those entries is the function's
    own inclusive cost (the others are parts of it)."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    costs = {}
    for line in out.splitlines():
        m = re.match(r"^\s*([\d,]+) \([ \d.]+%\)\s+\S*?:(.*?)( \[[^\]]+\])?$", line)
        if not m:
            continue
        name = m.group(2).strip()
        cost = int(m.group(1).replace(",", ""))
        costs[name] = max(costs.get(name, 0), cost)
    return costs


def total(path):
    for line in open(path, errors="replace"):
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
    return 0


out = []
now = datetime.datetime.now(datetime.timezone.utc)
out.append(f"# qrgate profile — {now:%Y-%m-%d %H:%M} UTC (`bash bench/profile`)")
out.append("")
out.append("## Instructions per proxied request (callgrind, one worker thread, wrk -c4)")
out.append("")
out.append("| configuration | requests | instructions / request | vs bare pingora |")
out.append("|---|---:|---:|---:|")
per = {}
for label in ["bare", "lean", "session", "public", "redirect"]:
    if label in dumps and counts.get(label):
        per[label] = total(dumps[label]) / counts[label]
names = {"bare": "bare pingora", "lean": "prototype loop on pingora-core (`examples/lean_proxy.rs`)",
         "session": "qrgate, session cookie", "public": "qrgate, public path",
         "redirect": "qrgate, no cookie (302, answered locally)"}
for label, v in per.items():
    out.append(f"| {names[label]} | {counts[label]:,} | {v:,.0f} | {v / per['bare']:.2f}× |")
out.append("")
out.append("Inclusive instructions per request in the functions that matter:")
out.append("")
cols = [l for l in ["bare", "lean", "session", "public", "redirect"] if l in per]
out.append("| function | " + " | ".join(names[c] for c in cols) + " |")
out.append("|---|" + "---:|" * len(cols))
costs = {c: inclusive(dumps[c]) for c in cols}
for label, pattern in FUNCS:
    row = []
    for c in cols:
        hits = [v for k, v in costs[c].items() if re.search(pattern, k)]
        row.append(f"{max(hits) / counts[c]:,.0f}" if hits else "")
    out.append(f"| {label} | " + " | ".join(row) + " |")
out.append("")

# --- dhat ------------------------------------------------------------------------------------
d = json.load(open(f"{work}/dhat.json"))
sse = json.load(open(f"{work}/sse.json"))
ftbl, pps = d["ftbl"], d["pps"]
BORING = re.compile(r"^(malloc|memalign|posix_memalign|realloc|calloc|alloc|alloc_impl|alloc_impl_runtime|"
                    r"allocate|box_new_uninit|UnknownInlinedFun|new|pin|with_capacity|try_allocate_in|"
                    r"allocate_in|grow_amortized|finish_grow|reserve|do_reserve_and_handle|grow_one|push|"
                    r"from|into|clone|to_vec|try_with_capacity|with_capacity_in|exchange_malloc|"
                    r"reserve_rehash|resize|aligned_malloc|__rustc::__rdl_alloc|__rust\w*|.*RawVec.*)$")


def site(frames):
    parts = []
    for i in frames:
        m = re.match(r"0x[0-9A-Fa-f]+: (.*) \((.*?)\)$", ftbl[i])
        if not m:
            continue
        name, loc = m.group(1), m.group(2)
        if BORING.match(name.split("<")[0]):
            continue
        for _ in range(4):
            name = re.sub(r"<[^<>]*>", "", name)
        parts.append(f"{name.strip(':')[:60]} ({loc.split('/src/')[-1]})")
        if len(parts) == 2:
            break
    return " ← ".join(parts)


peak = sum(p["gb"] for p in pps)
held = sse.get("streams", streams)
out.append(f"## Heap per open login event stream (dhat, {held:,} streams open at the peak)")
out.append("")
out.append(f"Heap at the peak: {peak / 2**20:.1f} MiB in {sum(p['gbk'] for p in pps):,} blocks. Allocation "
           f"sites holding about one block per open stream at the peak:")
out.append("")
out.append("| bytes per stream | block size | site (innermost interesting frame ← its caller) |")
out.append("|---:|---:|---|")
per_stream = 0
rows = []
for p in pps:
    if p["gbk"] >= 0.9 * held:
        rows.append((p["gb"] / held, p["gb"] / p["gbk"], site(p["fs"])))
for b, size, s in sorted(rows, reverse=True)[:20]:
    per_stream += b
    out.append(f"| {b:,.0f} B | {size:,.0f} B | {s} |")
out.append("")
out.append(f"Sum of the rows: {per_stream / 1024:.1f} KiB per stream (these include the login attempt "
           f"each stream belongs to; its own rows are marked by `qrgate_core::login`).")
out.append("")
print("\n".join(out))
