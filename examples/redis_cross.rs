//! Cross-instance figures for `bench/run`: two gateways sharing one Redis (or one gateway
//! twice, for the memory store's baseline).
//!
//! - **Event latency**: the login page and its event stream on instance A, the phone's scan
//!   and approval through instance B; the time from sending the approval to the `approved`
//!   event arriving at the browser.
//! - **Revocation delay**: a session used on A (so A has it cached), logged out through B,
//!   then A asked again and again until it refuses; the time from the logout's answer to the
//!   first refusal.
//!
//! Usage: `redis_cross ORIGIN A_BASE B_BASE KEY_FILE LOGINS REVOCATIONS`. Every app origin
//! check sees ORIGIN; the phone reaches B as a load balancer would send it (B as its proxy).
//! Prints one JSON line.

use std::time::{Duration, Instant};

use qrgate::cli::signer::Key;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn attempt_on(b: &reqwest::Client, base: &str, origin: &str) -> Result<String, String> {
    let v: serde_json::Value = b
        .post(format!("{base}/.qrgate/auth/session/create"))
        .header("origin", origin)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    v["id"].as_str().map(str::to_string).ok_or("no id".into())
}

/// Reads the stream until an event named `name`.
async fn until_event(resp: &mut reqwest::Response, name: &str) -> Result<(), String> {
    let mut buf = String::new();
    loop {
        if buf.contains(&format!("event: {name}")) {
            return Ok(());
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .map_err(|_| "no event in time")?
            .map_err(|e| e.to_string())?
            .ok_or("stream ended")?;
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

async fn login(
    b: &reqwest::Client,
    phone: &reqwest::Client,
    key: &Key,
    origin: &str,
    a: &str,
) -> Result<f64, String> {
    let id = attempt_on(b, a, origin).await?;
    let mut events = b
        .get(format!("{a}/.qrgate/auth/session/{id}/events"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    until_event(&mut events, "pending").await?;
    let url = url::Url::parse(&format!("{origin}/.qrgate/auth/session/{id}"))
        .map_err(|e| e.to_string())?;
    let req = qrgate::cli::signer::scan(phone, &url)
        .await
        .map_err(|e| format!("{e:?}"))?;
    until_event(&mut events, "scanned").await?;
    let sent = Instant::now();
    let approve = qrgate::cli::signer::approve(phone, &url, key, &req);
    let (approved, heard) = tokio::join!(approve, until_event(&mut events, "approved"));
    let latency = sent.elapsed().as_secs_f64() * 1000.0;
    approved.map_err(|e| format!("{e:?}"))?;
    heard?;
    let claimed = b
        .post(format!("{a}/.qrgate/auth/session/{id}/claim"))
        .header("origin", origin)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if claimed.status() != 200 {
        return Err(format!("claim: {}", claimed.status()));
    }
    Ok(latency)
}

async fn app_status(b: &reqwest::Client, base: &str) -> u16 {
    b.get(format!("{base}/app"))
        .header("accept", "application/json")
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, origin, a, b_base, key, logins, revocations] = args.as_slice() else {
        return Err("usage: redis_cross ORIGIN A_BASE B_BASE KEY_FILE LOGINS REVOCATIONS".into());
    };
    let key = Key::load(std::path::Path::new(key)).map_err(|e| e.to_string())?;
    let logins: usize = logins.parse().map_err(|_| "LOGINS")?;
    let revocations: usize = revocations.parse().map_err(|_| "REVOCATIONS")?;
    let phone = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(b_base.as_str()).map_err(|e| e.to_string())?)
        .build()
        .map_err(|e| e.to_string())?;
    let browser = || {
        reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .map_err(|e| e.to_string())
    };

    let mut latencies = Vec::with_capacity(logins);
    for _ in 0..logins {
        latencies.push(login(&browser()?, &phone, &key, origin, a).await?);
    }
    latencies.sort_by(f64::total_cmp);

    let mut delays = Vec::with_capacity(revocations);
    for _ in 0..revocations {
        let b = browser()?;
        login(&b, &phone, &key, origin, a).await?;
        if app_status(&b, a).await != 200 {
            return Err("signed-in request refused".into());
        }
        let out = b
            .post(format!("{b_base}/.qrgate/logout"))
            .header("origin", origin.as_str())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !out.status().is_success() {
            return Err(format!("logout: {}", out.status()));
        }
        let done = Instant::now();
        let deadline = done + Duration::from_secs(5);
        while app_status(&b, a).await == 200 {
            if Instant::now() > deadline {
                return Err("not revoked within 5 s".into());
            }
        }
        delays.push(done.elapsed().as_secs_f64() * 1000.0);
    }
    delays.sort_by(f64::total_cmp);
    println!(
        "{}",
        serde_json::json!({
            "logins": logins,
            "event_p50_ms": percentile(&latencies, 0.5),
            "event_p99_ms": percentile(&latencies, 0.99),
            "event_max_ms": latencies.last().copied().unwrap_or(0.0),
            "revocations": revocations,
            "revoke_p50_ms": percentile(&delays, 0.5),
            "revoke_max_ms": delays.last().copied().unwrap_or(0.0),
        })
    );
    Ok(())
}
