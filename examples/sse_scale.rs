//! SSE scale for `bench/run`: hold many concurrent login event streams on a running gateway,
//! read its memory, then approve every attempt and measure approve → `approved` event latency.
//!
//! Usage: `sse_scale BASE_URL SECRET_KEY_HEX STREAMS GATEWAY_PID`. Prints one JSON line.
//! Needs a high file-descriptor limit (the script raises it) and `[login] max_pending` above
//! STREAMS in the gateway's config.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use qrgate::cli::signer::{self, Key};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn rss_mib(pid: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Creates an attempt as a fresh browser: (attempt id, binding cookie `name=value`).
async fn create(c: &reqwest::Client, base: &str) -> Option<(String, String)> {
    let resp = c
        .post(format!("{base}/.qrgate/auth/session/create"))
        .header("origin", base)
        .send()
        .await
        .ok()?;
    let cookie = resp
        .headers()
        .get("set-cookie")?
        .to_str()
        .ok()?
        .split(';')
        .next()?
        .to_string();
    let v: serde_json::Value = resp.json().await.ok()?;
    Some((v["id"].as_str()?.to_string(), cookie))
}

/// Opens the event stream and returns it once the first (`pending`) event has arrived.
async fn open_stream(addr: &str, id: &str, cookie: &str) -> Option<TcpStream> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    let req = format!(
        "GET /.qrgate/auth/session/{id}/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\nCookie: {cookie}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !String::from_utf8_lossy(&buf).contains("event: pending") {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(s)
}

/// Waits for `event: approved` on an open stream; returns when it arrived.
async fn wait_approved(mut s: TcpStream) -> Option<Instant> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(120), s.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if String::from_utf8_lossy(&buf).contains("event: approved") {
            return Some(Instant::now());
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(base), Some(secret), Some(pid)) =
        (args.get(1).cloned(), args.get(2), args.get(4).cloned())
    else {
        eprintln!("usage: sse_scale BASE_URL SECRET_KEY_HEX STREAMS GATEWAY_PID");
        std::process::exit(2);
    };
    let key = Arc::new(Key::parse(secret).expect("64 hex digits"));
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let addr = base.trim_start_matches("http://").to_string();
    let c = reqwest::Client::new();
    let rss_idle = rss_mib(&pid);

    let created: Vec<(String, String)> = stream::iter(0..n)
        .map(|_| create(&c, &base))
        .buffer_unordered(64)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    let rss_attempts = rss_mib(&pid);
    let opened: Vec<(String, TcpStream)> = stream::iter(created)
        .map(|(id, cookie)| {
            let addr = addr.clone();
            async move { open_stream(&addr, &id, &cookie).await.map(|s| (id, s)) }
        })
        .buffer_unordered(256)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    let streams = opened.len();
    let rss_streams = rss_mib(&pid);

    // Every stream waits on its own task; approvals are timed one by one from just before the
    // approve request to the moment the event is read.
    let mut waiting = Vec::with_capacity(streams);
    let mut ids = Vec::with_capacity(streams);
    for (id, s) in opened {
        ids.push(id);
        waiting.push(tokio::spawn(wait_approved(s)));
    }
    let phone = reqwest::Client::new();
    let scanned: Vec<(usize, url::Url, signer::Request)> = stream::iter(ids.iter().enumerate())
        .map(|(i, id)| {
            let phone = phone.clone();
            let url = signer::attempt_url(&format!("{base}/.qrgate/auth/session/{id}"));
            async move {
                let url = url.ok()?;
                let req = signer::scan(&phone, &url).await.ok()?;
                Some((i, url, req))
            }
        })
        .buffer_unordered(64)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    let sent: Vec<(usize, Instant)> = stream::iter(scanned)
        .map(|(i, url, req)| {
            let phone = phone.clone();
            let key = key.clone();
            async move {
                let t = Instant::now();
                signer::approve(&phone, &url, &key, &req).await.ok()?;
                Some((i, t))
            }
        })
        .buffer_unordered(16)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    let mut arrived = vec![None; streams];
    for (i, w) in waiting.into_iter().enumerate() {
        arrived[i] = w.await.ok().flatten();
    }
    let mut lat_ms: Vec<f64> = sent
        .iter()
        .filter_map(|(i, t)| {
            arrived[*i].map(|a| a.saturating_duration_since(*t).as_secs_f64() * 1000.0)
        })
        .collect();
    lat_ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{}",
        serde_json::json!({
            "streams": streams,
            "approved_events": lat_ms.len(),
            "rss_mib_idle": rss_idle,
            "rss_mib_with_attempts": rss_attempts,
            "rss_mib_with_streams": rss_streams,
            "approve_to_event_ms_p50": percentile(&lat_ms, 0.50),
            "approve_to_event_ms_p99": percentile(&lat_ms, 0.99),
        })
    );
}
