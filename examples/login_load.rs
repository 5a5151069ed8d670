//! Login ceremony load for `bench/run`: many simulated browsers, each completing full logins
//! (create → scan → sign → approve → claim) against a running gateway as fast as it allows.
//!
//! Each simulated browser has its own keep-alive connection and cookie jar (so its binding
//! cookie is reused across its logins, as a real browser's would be); each has a phone with
//! its own connection that scans, signs with `qrgate::cli::signer::Key` and approves. HTTP/1.1 is
//! spoken directly over the sockets, because this client shares the machine's cores with the
//! gateway: every microsecond it spends is taken from the gateway being measured. The client
//! reports its own CPU time per login so the split is visible.
//!
//! Usage: `login_load BASE_URL SECRET_KEY_HEX WORKERS SECONDS`, e.g.
//! `login_load http://127.0.0.1:18100 546e…bec6 64 5`. Prints one JSON line:
//! `{"logins": N, "seconds": S, "per_second": R, "errors": E, "client_cpu_us_per_login": C,
//! "step_us": {...}}`.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use qrgate::cli::signer::{Key, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

struct Response {
    status: u16,
    set_cookies: Vec<String>,
    body: Vec<u8>,
}

impl Conn {
    async fn open(addr: &str) -> Result<Conn, String> {
        let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Sends `head` (request line and headers, without the blank line) and `body`; reads one
    /// response with a `Content-Length` body.
    async fn send(&mut self, head: &str, body: &[u8]) -> Result<Response, String> {
        let mut req = Vec::with_capacity(head.len() + body.len() + 48);
        req.extend_from_slice(head.as_bytes());
        req.extend_from_slice(format!("\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
        req.extend_from_slice(body);
        self.stream
            .write_all(&req)
            .await
            .map_err(|e| e.to_string())?;
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).map_err(|e| e.to_string())?;
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or("no status line")?;
        let mut length = 0;
        let mut set_cookies = Vec::new();
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().map_err(|_| "bad content-length")?;
            } else if name.eq_ignore_ascii_case("set-cookie") {
                set_cookies.push(value.trim().to_string());
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err("chunked answers are not expected here".into());
            }
        }
        while self.buf.len() < head_end + length {
            self.fill().await?;
        }
        let body = self.buf[head_end..head_end + length].to_vec();
        self.buf.drain(..head_end + length);
        Ok(Response {
            status,
            set_cookies,
            body,
        })
    }

    async fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(Duration::from_secs(30), self.stream.read(&mut chunk))
            .await
            .map_err(|_| "read timed out")?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

/// A browser: its connection and cookie jar.
struct Browser {
    conn: Conn,
    jar: BTreeMap<String, String>,
}

impl Browser {
    fn cookie_header(&self) -> String {
        let pairs: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if pairs.is_empty() {
            String::new()
        } else {
            format!("\r\nCookie: {}", pairs.join("; "))
        }
    }

    fn keep(&mut self, set_cookies: &[String]) {
        for c in set_cookies {
            let pair = c.split(';').next().unwrap_or_default();
            if let Some((k, v)) = pair.split_once('=') {
                self.jar.insert(k.to_string(), v.to_string());
            }
        }
    }
}

#[derive(Default)]
struct Totals {
    logins: Cell<u64>,
    errors: Cell<u64>,
    step_us: [Cell<u64>; 4],
}

fn add(c: &Cell<u64>, v: u64) {
    c.set(c.get() + v);
}

struct Target {
    host: String,
    origin: String,
    public_key: String,
}

async fn one_login(
    t: &Target,
    browser: &mut Browser,
    phone: &mut Conn,
    key: &Key,
    totals: &Totals,
) -> Result<(), String> {
    let (host, origin) = (&t.host, &t.origin);
    let start = Instant::now();
    let head = format!(
        "POST /.qrgate/auth/session/create HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}{}",
        browser.cookie_header()
    );
    let created = browser.conn.send(&head, b"").await?;
    if created.status != 201 {
        return Err(format!("create answered {}", created.status));
    }
    browser.keep(&created.set_cookies);
    let created: serde_json::Value =
        serde_json::from_slice(&created.body).map_err(|e| e.to_string())?;
    let id = created["id"].as_str().ok_or("no id")?;
    add(&totals.step_us[0], start.elapsed().as_micros() as u64);

    let start = Instant::now();
    let head = format!("POST /.qrgate/auth/session/{id}/scan HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json");
    let scanned = phone.send(&head, b"{}").await?;
    if scanned.status != 200 {
        return Err(format!("scan answered {}", scanned.status));
    }
    let req: Request = serde_json::from_slice(&scanned.body).map_err(|e| e.to_string())?;
    // What the reference signer checks before signing.
    if &req.origin != origin {
        return Err(format!("challenge for {}, not {origin}", req.origin));
    }
    add(&totals.step_us[1], start.elapsed().as_micros() as u64);

    let start = Instant::now();
    let signature = URL_SAFE_NO_PAD.encode(key.sign(req.message.as_bytes()));
    let body = serde_json::json!({ "public_key": t.public_key, "signature": signature });
    let head = format!("POST /.qrgate/auth/session/{id}/approve HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json");
    let approved = phone.send(&head, body.to_string().as_bytes()).await?;
    if approved.status != 200 {
        return Err(format!("approve answered {}", approved.status));
    }
    add(&totals.step_us[2], start.elapsed().as_micros() as u64);

    let start = Instant::now();
    let head = format!(
        "POST /.qrgate/auth/session/{id}/claim HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nAccept: application/json{}",
        browser.cookie_header()
    );
    let claimed = browser.conn.send(&head, b"").await?;
    if claimed.status != 200 || claimed.set_cookies.is_empty() {
        return Err(format!("claim answered {}", claimed.status));
    }
    browser.keep(&claimed.set_cookies);
    add(&totals.step_us[3], start.elapsed().as_micros() as u64);
    Ok(())
}

/// This process's user + system CPU seconds so far.
fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of /proc/PID/stat, i.e. 11 and 12 after the name,
    // in USER_HZ ticks (100 per second on Linux).
    (ticks(11) + ticks(12)) / 100.0
}

// One thread: the client should take as little of the shared cores as it can.
/// CPU microseconds of one Ed25519 verification as the gateway makes it (strict, on a message
/// of a native challenge's size), measured here so the login target's ratio uses this run's
/// machine.
fn verify_us(key: &Key) -> f64 {
    let message = [b'q'; 200];
    let signature = key.sign(&message);
    let public = key.public();
    // 10,000 runs: about half a second, so the 10 ms tick of /proc's CPU time is 2 %.
    let n = 10_000;
    let before = own_cpu_seconds();
    for _ in 0..n {
        assert!(std::hint::black_box(&public).verify(&message, &signature));
    }
    (own_cpu_seconds() - before) * 1e6 / f64::from(n)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(base), Some(secret)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: login_load BASE_URL SECRET_KEY_HEX [WORKERS] [SECONDS]");
        std::process::exit(2);
    };
    let Some(key) = Key::parse(secret) else {
        eprintln!("SECRET_KEY_HEX must be 64 hex digits");
        std::process::exit(2);
    };
    let verify_us = verify_us(&key);
    let workers: usize = args.get(3).and_then(|w| w.parse().ok()).unwrap_or(64);
    let seconds: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(5);
    let origin = base.trim_end_matches('/').to_string();
    let Some(host) = origin.strip_prefix("http://").map(str::to_string) else {
        eprintln!("BASE_URL must be http://HOST:PORT");
        std::process::exit(2);
    };
    let target = Rc::new(Target {
        public_key: key.public().to_z32(),
        host,
        origin,
    });
    let key = Rc::new(key);
    let totals = Rc::new(Totals::default());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let cpu_before = own_cpu_seconds();
    let started = Instant::now();
    let local = tokio::task::LocalSet::new();
    for _ in 0..workers {
        let (target, key, totals) = (target.clone(), key.clone(), totals.clone());
        local.spawn_local(async move {
            let mut conns = None;
            while Instant::now() < deadline {
                if conns.is_none() {
                    let opened = async {
                        let browser = Browser {
                            conn: Conn::open(&target.host).await?,
                            jar: BTreeMap::new(),
                        };
                        Ok::<_, String>((browser, Conn::open(&target.host).await?))
                    };
                    match opened.await {
                        Ok(c) => conns = Some(c),
                        Err(e) => {
                            eprintln!("connect failed: {e}");
                            add(&totals.errors, 1);
                            return;
                        }
                    }
                }
                let (browser, phone) = conns.as_mut().expect("connected above");
                match one_login(&target, browser, phone, &key, &totals).await {
                    Ok(()) => add(&totals.logins, 1),
                    Err(e) => {
                        if totals.errors.get() < 3 {
                            eprintln!("login failed: {e}");
                        }
                        add(&totals.errors, 1);
                        // Start over on fresh connections, keeping nothing half-read.
                        conns = None;
                    }
                }
            }
        });
    }
    local.await;
    let secs = started.elapsed().as_secs_f64();
    let cpu = own_cpu_seconds() - cpu_before;
    let logins = totals.logins.get();
    let n = logins.max(1);
    let avg = |i: usize| totals.step_us[i].get() / n;
    println!(
        "{}",
        serde_json::json!({
            "logins": logins,
            "seconds": secs,
            "per_second": logins as f64 / secs,
            "errors": totals.errors.get(),
            "client_cpu_us_per_login": cpu * 1e6 / n as f64,
            "verify_us": verify_us,
            "step_us": {
                "create": avg(0),
                "scan": avg(1),
                "approve": avg(2),
                "claim": avg(3),
            },
        })
    );
}
