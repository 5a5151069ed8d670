#!/usr/bin/env python3
"""Failover window and kill -9, measured with the real servers on loopback. Not part of the tests.

Usage: python3 bench/failover.py [ROUNDS] (default 3). BIN (default target/release) holds the
qrgate binary; `cargo build --release --bin qrgate` first, or BIN=target/debug.

Each round starts a Redis primary, its replica and three Sentinels (down-after 1000 ms,
failover-timeout 3000 ms), and two gateways on them (Sentinel, cache_ms = 1 so every request
asks Redis and the window is not hidden by the cache, replicas_to_wait = 1). It signs in
SESSIONS sessions through the gateways, then WORKERS threads request /app with them round robin
over both gateways without pause, recording each answer's time and status.

1. Redis failover: the primary is killed with SIGKILL. Reported: the window (first refused
   request after the kill to the last one), the requests refused in it, the time from the kill
   to the first request answered again, answers >= 500 other than 503, and sessions lost (each
   session is asked once more at the end).
2. Gateway kill -9: gateway A is killed with SIGKILL under the same load. Reported: errors
   on B (expected 0), errors on A (connection refused: only its own clients), sessions lost
   (each asked through B at the end).
"""
import http.client
import http.cookiejar
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
BIN = os.environ.get("BIN", "target/release")
SESSIONS = int(os.environ.get("SESSIONS", "20"))
WORKERS = int(os.environ.get("WORKERS", "4"))
ORIGIN = "http://qrgate.bench"
ALICE = "ed25519_17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660"
NODE_PW, SENTINEL_PW = "node-secret", "sentinel-secret"
PORT = [26500]


def port():
    PORT[0] += 1
    return PORT[0]


def wait_port(p, deadline=20):
    end = time.time() + deadline
    while time.time() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", p, timeout=1)
            c.connect()
            c.close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {p}")


def redis_cli(p, *args, password=NODE_PW):
    out = subprocess.run(["redis-cli", "-p", str(p), "--no-auth-warning", "-a", password, *args],
                         capture_output=True, text=True, timeout=5)
    return out.stdout


class Round:
    def __init__(self, work):
        self.work, self.procs, self.soak = work, [], False

    def spawn(self, args, log):
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        self.procs.append(p)
        return p

    def node(self, name, extra, p=None):
        p = p or port()
        proc = self.spawn(["redis-server", "--port", str(p), "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no", "--requirepass", NODE_PW, "--masterauth", NODE_PW,
                           "--dir", self.work, *extra], f"{self.work}/{name}.log")
        return p, proc

    def start(self, soak=False):
        self.soak = soak
        self.primary, self.primary_proc = self.node("primary", [])
        self.replica, _ = self.node("replica", ["--replicaof", "127.0.0.1", str(self.primary)])
        while "master_link_status:up" not in redis_cli(self.replica, "INFO", "replication"):
            time.sleep(0.1)
        self.sentinels = []
        for i in range(3):
            p = port()
            conf = f"{self.work}/sentinel{i}.conf"
            with open(conf, "w") as f:
                f.write(f"port {p}\nbind 127.0.0.1\ndir {self.work}\nrequirepass {SENTINEL_PW}\n"
                        f"sentinel monitor qrgate 127.0.0.1 {self.primary} 2\n"
                        f"sentinel auth-pass qrgate {NODE_PW}\n"
                        "sentinel down-after-milliseconds qrgate 1000\n"
                        "sentinel failover-timeout qrgate 3000\n")
            self.spawn(["redis-server", conf, "--sentinel"], f"{self.work}/sentinel{i}.log")
            self.sentinels.append(p)
        for s in self.sentinels:
            while True:
                m = redis_cli(s, "SENTINEL", "MASTER", "qrgate", password=SENTINEL_PW).split("\n")
                info = dict(zip(m[::2], m[1::2]))
                if info.get("num-slaves") == "1" and info.get("num-other-sentinels") == "2":
                    break
                time.sleep(0.2)
        self.upstream = port()
        self.spawn([f"{BIN}/qrgate", "demo-upstream", "--listen", f"127.0.0.1:{self.upstream}"],
                   f"{self.work}/upstream.log")
        self.gateways = {}
        for name in ("a", "b"):
            self.gateways[name] = self.gateway(name)

    def gateway(self, name, p=None):
        p = p or port()
        nodes = ", ".join(f'"127.0.0.1:{s}"' for s in self.sentinels)
        conf = f"{self.work}/{name}.toml"
        with open(conf, "w") as f:
            f.write(f"""[server]
listen = ["127.0.0.1:{p}"]
threads = 2
[limits]
create_per_minute = 1000000
signer_per_minute = 1000000
claim_per_minute = 1000000
verify_per_minute = 1000000
pending_per_client = 100000
max_connections_per_client = 100000
{self.app(p)}
[[user]]
name = "alice"
key = "{ALICE}"
[store]
backend = "redis"
sentinels = [{nodes}]
master_name = "qrgate"
password = "{NODE_PW}"
sentinel_password = "{SENTINEL_PW}"
prefix = "bench:"
timeout_ms = 500
{"" if self.soak else "cache_ms = 1"}
replicas_to_wait = 1
""")
        env = dict(os.environ, RUST_LOG="warn")
        proc = subprocess.Popen([f"{BIN}/qrgate", "run", "--config", conf], env=env,
                                stdout=subprocess.DEVNULL, stderr=open(f"{self.work}/{name}.log", "w"))
        self.procs.append(proc)
        wait_port(p)
        return p, proc

    def app(self, p):
        if self.soak:
            # The soak's own app (bench/soak): short lifetimes, every signer, a public path.
            return f"""[session]
lifetime_seconds = 30
idle_timeout_seconds = 10
sweep_interval_seconds = 2
[login]
attempt_lifetime_seconds = 30
claim_window_seconds = 10
[[app]]
name = "Soak"
origin = "http://127.0.0.1:{p}"
upstream = "127.0.0.1:{self.upstream}"
public_paths = ["/public"]
signers = ["native", "pubky", "tana"]"""
        return (f'[[app]]\nname = "bench"\norigin = "{ORIGIN}"\n'
                f'hosts = ["qrgate.bench", "127.0.0.1:{p}"]\n'
                f'upstream = "127.0.0.1:{self.upstream}"')

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()


def sign_in(gw, phone):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{gw}"
    req = urllib.request.Request(f"{base}/.qrgate/auth/session/create", method="POST",
                                 headers={"Origin": ORIGIN})
    attempt = json.load(opener.open(req))["id"]
    env = dict(os.environ, HTTP_PROXY=f"http://127.0.0.1:{phone}")
    subprocess.run([f"{BIN}/qrgate", "sign", "--yes", "--key", "demo/alice.key",
                    f"{ORIGIN}/.qrgate/auth/session/{attempt}"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    req = urllib.request.Request(f"{base}/.qrgate/auth/session/{attempt}/claim", method="POST",
                                 headers={"Origin": ORIGIN, "Accept": "application/json"})
    opener.open(req).read()
    return next(c.value for c in jar if c.name == "qrgate_session")


def ask(gw, cookie, timeout=5):
    try:
        c = http.client.HTTPConnection("127.0.0.1", gw, timeout=timeout)
        c.request("GET", "/app", headers={"Cookie": f"qrgate_session={cookie}",
                                          "Accept": "application/json"})
        status = c.getresponse().status
        c.close()
        return status
    except OSError:
        return 0


def load(gateways, cookies, stop, records):
    def worker(i):
        n = i
        while not stop.is_set():
            name, gw = gateways[n % len(gateways)]
            cookie = cookies[n % len(cookies)]
            status = ask(gw, cookie)
            # Timed at the answer: a request sent before the kill and refused after it
            # belongs to the window.
            records.append((time.monotonic(), name, status))
            n += WORKERS
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    return threads


def run_round(i):
    work = tempfile.mkdtemp()
    r = Round(work)
    try:
        r.start()
        a, b = r.gateways["a"][0], r.gateways["b"][0]
        cookies = [sign_in(a if k % 2 else b, b if k % 2 else a) for k in range(SESSIONS)]
        gws = [("a", a), ("b", b)]
        # 1. Redis failover.
        stop, records = threading.Event(), []
        threads = load(gws, cookies, stop, records)
        time.sleep(2)
        killed = time.monotonic()
        r.primary_proc.send_signal(signal.SIGKILL)
        while "role:master" not in redis_cli(r.replica, "INFO", "replication"):
            time.sleep(0.05)
        promoted = time.monotonic() - killed
        time.sleep(6)
        stop.set()
        for t in threads:
            t.join()
        after = [(t - killed, s) for (t, _, s) in records if t >= killed]
        refused = [(t, s) for (t, s) in after if s != 200]
        window = (refused[-1][0] - refused[0][0]) if refused else 0.0
        back = next((t for (t, s) in after if s == 200 and (not refused or t > refused[-1][0])), None)
        other_5xx = sum(1 for (_, s) in after if s >= 500 and s != 503)
        before_errors = sorted(s for (t, _, s) in records if t < killed and s != 200)
        lost = sum(1 for c in cookies if ask(a, c) != 200)
        failover = dict(promoted=promoted, window=window, refused=len(refused),
                        answered=len(after), back=back, other_5xx=other_5xx,
                        before_errors=before_errors, lost=lost)
        # 2. kill -9 of gateway A.
        stop, records = threading.Event(), []
        threads = load(gws, cookies, stop, records)
        time.sleep(2)
        killed = time.monotonic()
        r.gateways["a"][1].send_signal(signal.SIGKILL)
        time.sleep(3)
        stop.set()
        for t in threads:
            t.join()
        b_after = [s for (t, n, s) in records if n == "b" and t >= killed]
        a_after = [s for (t, n, s) in records if n == "a" and t >= killed]
        kill9 = dict(b_errors=sum(1 for s in b_after if s != 200), b_answered=len(b_after),
                     a_errors=sum(1 for s in a_after if s != 200),
                     lost=sum(1 for c in cookies if ask(b, c) != 200))
        return failover, kill9
    finally:
        r.stop()


def main():
    results = []
    for i in range(ROUNDS):
        f, k = run_round(i)
        results.append((f, k))
        print(f"round {i + 1}: primary killed -> replica promoted {f['promoted']:.2f} s; "
              f"refused window {f['window']:.2f} s ({f['refused']} of {f['answered']} requests refused, "
              f"all 503: {f['other_5xx'] == 0}); first answer after the window at {f['back']:.2f} s; "
              f"sessions lost {f['lost']}/{SESSIONS}; answers other than 200 before the kill: "
              f"{f['before_errors'] or 'none'}")
        print(f"round {i + 1}: gateway A kill -9: B {k['b_errors']} errors of {k['b_answered']}, "
              f"A {k['a_errors']} errors (its own clients); sessions lost {k['lost']}/{SESSIONS}")
    fs = [f for f, _ in results]
    print(f"median over {ROUNDS} rounds: promoted {statistics.median(f['promoted'] for f in fs):.2f} s, "
          f"window {statistics.median(f['window'] for f in fs):.2f} s, "
          f"back at {statistics.median(f['back'] for f in fs):.2f} s after the kill, "
          f"sessions lost {sum(f['lost'] for f in fs)}, B errors on gateway kill "
          f"{sum(k['b_errors'] for _, k in results)}")


if __name__ == "__main__":
    main()
