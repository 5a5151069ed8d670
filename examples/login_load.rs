//! Login ceremony load for `bench/run`: many simulated browsers, each completing full logins
//! (create → scan → sign → approve → claim) against a running gateway as fast as it allows.
//!
//! Usage: `login_load BASE_URL SECRET_KEY_HEX WORKERS SECONDS`, e.g.
//! `login_load http://127.0.0.1:18100 546e…bec6 64 5`. Prints one JSON line:
//! `{"logins": N, "seconds": S, "per_second": R, "errors": E, "step_us": {...}}`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qrgate::signer::{self, Key};

#[derive(Default)]
struct Totals {
    logins: AtomicU64,
    errors: AtomicU64,
    create_us: AtomicU64,
    scan_us: AtomicU64,
    approve_us: AtomicU64,
    claim_us: AtomicU64,
}

fn elapsed_us(t: Instant) -> u64 {
    t.elapsed().as_micros() as u64
}

async fn one_login(
    base: &str,
    origin: &str,
    browser: &reqwest::Client,
    phone: &reqwest::Client,
    key: &Key,
    totals: &Totals,
) -> Result<(), String> {
    let t = Instant::now();
    let created: serde_json::Value = browser
        .post(format!("{base}/.qrgate/auth/session/create"))
        .header("origin", origin)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    totals.create_us.fetch_add(elapsed_us(t), Ordering::Relaxed);
    let id = created["id"].as_str().ok_or("no id")?;
    let url = signer::attempt_url(&format!("{base}/.qrgate/auth/session/{id}"))
        .map_err(|e| e.to_string())?;
    let t = Instant::now();
    let req = signer::scan(phone, &url).await.map_err(|e| e.to_string())?;
    totals.scan_us.fetch_add(elapsed_us(t), Ordering::Relaxed);
    let t = Instant::now();
    signer::approve(phone, &url, key, &req)
        .await
        .map_err(|e| e.to_string())?;
    totals
        .approve_us
        .fetch_add(elapsed_us(t), Ordering::Relaxed);
    let t = Instant::now();
    let claim = browser
        .post(format!("{base}/.qrgate/auth/session/{id}/claim"))
        .header("origin", origin)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    totals.claim_us.fetch_add(elapsed_us(t), Ordering::Relaxed);
    if claim.status() != 200 {
        return Err(format!("claim {}", claim.status()));
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(base), Some(secret)) = (args.get(1).cloned(), args.get(2)) else {
        eprintln!("usage: login_load BASE_URL SECRET_KEY_HEX [WORKERS] [SECONDS]");
        std::process::exit(2);
    };
    let Some(key) = Key::parse(secret) else {
        eprintln!("SECRET_KEY_HEX must be 64 hex digits");
        std::process::exit(2);
    };
    let workers: usize = args.get(3).and_then(|w| w.parse().ok()).unwrap_or(64);
    let seconds: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(5);
    let origin = base.trim_end_matches('/').to_string();
    let key = Arc::new(key);
    let totals = Arc::new(Totals::default());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let phone = reqwest::Client::builder()
        .pool_max_idle_per_host(workers)
        .build()
        .expect("client");
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (base, origin, key, totals, phone) = (
            base.clone(),
            origin.clone(),
            key.clone(),
            totals.clone(),
            phone.clone(),
        );
        tasks.push(tokio::spawn(async move {
            // One browser per worker: its binding cookie is reused across its logins.
            let browser = reqwest::Client::builder()
                .cookie_store(true)
                .build()
                .expect("client");
            while Instant::now() < deadline {
                match one_login(&base, &origin, &browser, &phone, &key, &totals).await {
                    Ok(()) => totals.logins.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        if totals.errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("login failed: {e}");
                        }
                        0
                    }
                };
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let secs = started.elapsed().as_secs_f64();
    let n = totals.logins.load(Ordering::Relaxed).max(1);
    let avg = |a: &AtomicU64| a.load(Ordering::Relaxed) / n;
    println!(
        "{}",
        serde_json::json!({
            "logins": totals.logins.load(Ordering::Relaxed),
            "seconds": secs,
            "per_second": totals.logins.load(Ordering::Relaxed) as f64 / secs,
            "errors": totals.errors.load(Ordering::Relaxed),
            "step_us": {
                "create": avg(&totals.create_us),
                "scan": avg(&totals.scan_us),
                "approve": avg(&totals.approve_us),
                "claim": avg(&totals.claim_us),
            },
        })
    );
}
