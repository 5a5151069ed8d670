//! Mixed load for `bench/soak`: logins through every signer protocol, proxied requests,
//! logouts, sessions left to expire, and malformed requests, against a running gateway, for
//! a fixed time. Counts answers by class; anything unexpected is an error.
//!
//! Usage: `soak BASE_URL SECONDS WORKERS [PACE_MS]`. Each worker starts a round (a login, its
//! requests, a malformed request) at most every `PACE_MS` (default 0: as fast as it can), so
//! a paced run offers the same load however busy the machine is. The gateway must offer `native`, `pubky` and
//! `tana`, have alice (the published test key) as a user and `/public` as a public path.
//! Prints one JSON line: `{"seconds", "requests", "logins": {native, pubky, tana},
//! "proxied", "logouts", "malformed", "expired_refused", "errors", "status_5xx"}`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ALICE: &str = "546e6707e94ae9fbcc5dd2639f282b8220ff1f2ff44d7a9d39e5c3e35c6bbec6";

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    native: AtomicU64,
    pubky: AtomicU64,
    tana: AtomicU64,
    proxied: AtomicU64,
    logouts: AtomicU64,
    malformed: AtomicU64,
    errors: AtomicU64,
    status_5xx: AtomicU64,
}

struct Load {
    base: String,
    origin: String,
    addr: String,
    secret: [u8; 32],
    counts: Counts,
}

type Res<T> = Result<T, String>;

impl Load {
    fn browser() -> Res<reqwest::Client> {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| e.to_string())
    }

    /// Counts a response; 5xx is always an error.
    fn seen(&self, status: u16) {
        self.counts.requests.fetch_add(1, Ordering::Relaxed);
        if status >= 500 {
            self.counts.status_5xx.fetch_add(1, Ordering::Relaxed);
            // Told as it happens, so a runner can place it in time (bench/soak_ha.py).
            eprintln!("soak: answered {status}");
        }
    }

    async fn post(&self, c: &reqwest::Client, path: &str, body: Vec<u8>) -> Res<(u16, Value)> {
        let r = c
            .post(format!("{}{path}", self.base))
            .header("origin", &self.origin)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        self.seen(status);
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    async fn get(&self, c: &reqwest::Client, path: &str) -> Res<u16> {
        let r = c
            .get(format!("{}{path}", self.base))
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        self.seen(status);
        let _ = r.bytes().await;
        Ok(status)
    }

    /// Creates an attempt: (id, payloads by protocol).
    async fn create(&self, b: &reqwest::Client) -> Res<(String, Value)> {
        let (s, v) = self
            .post(b, "/.qrgate/auth/session/create", Vec::new())
            .await?;
        if s != 201 {
            return Err(format!("create answered {s}: {v}"));
        }
        let id = v["id"].as_str().ok_or("no id")?.to_string();
        Ok((id, v["payloads"].clone()))
    }

    async fn claim(&self, b: &reqwest::Client, id: &str) -> Res<()> {
        let (s, v) = self
            .post(b, &format!("/.qrgate/auth/session/{id}/claim"), Vec::new())
            .await?;
        if s != 200 {
            return Err(format!("claim answered {s}: {v}"));
        }
        Ok(())
    }

    async fn native_login(&self, b: &reqwest::Client, phone: &reqwest::Client) -> Res<()> {
        let (id, _) = self.create(b).await?;
        let (s, scan) = self
            .post(
                phone,
                &format!("/.qrgate/auth/session/{id}/scan"),
                b"{}".to_vec(),
            )
            .await?;
        if s != 200 {
            return Err(format!("scan answered {s}"));
        }
        let message = scan["message"].as_str().ok_or("no message")?;
        let sk = SigningKey::from_bytes(&self.secret);
        let body = serde_json::json!({
            "public_key": z32::encode(sk.verifying_key().as_bytes()),
            "signature": URL_SAFE_NO_PAD.encode(sk.sign(message.as_bytes()).to_bytes()),
        });
        let (s, v) = self
            .post(
                phone,
                &format!("/.qrgate/auth/session/{id}/approve"),
                body.to_string().into_bytes(),
            )
            .await?;
        if s != 200 {
            return Err(format!("native approve answered {s}: {v}"));
        }
        self.claim(b, &id).await?;
        self.counts.native.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn pubky_login(&self, b: &reqwest::Client, phone: &reqwest::Client) -> Res<()> {
        let (id, payloads) = self.create(b).await?;
        let link = payloads
            .as_array()
            .and_then(|a| a.iter().find(|p| p["protocol"] == "pubky"))
            .and_then(|p| p["payload"].as_str())
            .ok_or("no pubky payload")?
            .to_string();
        let query = link.split_once('?').map(|(_, q)| q).ok_or("no query")?;
        let mut caps = String::new();
        let mut relay = String::new();
        let mut secret = String::new();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "caps" => caps = v.into_owned(),
                "relay" => relay = v.into_owned(),
                "secret" => secret = v.into_owned(),
                _ => {}
            }
        }
        let secret: [u8; 32] = URL_SAFE_NO_PAD
            .decode(secret)
            .map_err(|e| e.to_string())?
            .try_into()
            .map_err(|_| "secret is not 32 bytes")?;
        let kp = pubky_common::crypto::Keypair::from_secret(&self.secret);
        let caps: pubky_common::capabilities::Capabilities =
            caps.parse().map_err(|_| "caps do not parse")?;
        let token = pubky_common::auth::AuthToken::sign(&kp, caps).serialize();
        let body = pubky_common::crypto::encrypt(&token, &secret);
        let channel = URL_SAFE_NO_PAD.encode(pubky_common::crypto::hash(&secret).as_bytes());
        let r = phone
            .post(format!("{relay}{channel}"))
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let s = r.status().as_u16();
        self.seen(s);
        if s != 200 {
            return Err(format!("relay answered {s}"));
        }
        self.claim(b, &id).await?;
        self.counts.pubky.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn tana_login(&self, b: &reqwest::Client, phone: &reqwest::Client) -> Res<()> {
        let (id, _) = self.create(b).await?;
        let (_, scan) = self
            .post(
                phone,
                &format!("/.qrgate/auth/session/{id}/scan"),
                b"{}".to_vec(),
            )
            .await?;
        let challenge = scan["challenge"].as_str().ok_or("no challenge")?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_millis();
        let user_id = "550e8400-e29b-41d4-a716-446655440000";
        let message = format!(
            "{{\"sessionId\":\"{id}\",\"challenge\":\"{challenge}\",\"userId\":\"{user_id}\",\"username\":\"alice\",\"timestamp\":{now}}}"
        );
        let sk = SigningKey::from_bytes(&self.secret);
        let sig = sk.sign(&Sha256::digest(message.as_bytes())).to_bytes();
        let body = serde_json::json!({
            "userId": user_id,
            "username": "alice",
            "publicKey": format!("ed25519_{}", hex::encode(sk.verifying_key().as_bytes())),
            "signature": format!("ed25519_sig_{}", hex::encode(sig)),
            "message": message,
        });
        let (s, v) = self
            .post(
                phone,
                &format!("/.qrgate/auth/session/{id}/approve"),
                body.to_string().into_bytes(),
            )
            .await?;
        if s != 200 {
            return Err(format!("tana approve answered {s}: {v}"));
        }
        self.claim(b, &id).await?;
        self.counts.tana.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Proxied requests with the session, then (sometimes) a logout that must end it.
    async fn use_session(&self, b: &reqwest::Client, round: u64) -> Res<()> {
        for _ in 0..5 {
            let s = self.get(b, "/app/page").await?;
            if s != 200 {
                return Err(format!("proxied request answered {s}"));
            }
            self.counts.proxied.fetch_add(1, Ordering::Relaxed);
        }
        if round % 2 == 0 {
            let (s, _) = self.post(b, "/.qrgate/logout", Vec::new()).await?;
            if s != 200 {
                return Err(format!("logout answered {s}"));
            }
            let after = self.get(b, "/app/page").await?;
            if after != 401 {
                return Err(format!("after logout the app answered {after}"));
            }
            self.counts.logouts.fetch_add(1, Ordering::Relaxed);
        }
        // Otherwise the session is left behind to expire (the soak config's lifetimes are
        // short), which the sweeper must reclaim.
        Ok(())
    }

    /// Requests a broken client would send; each must get a 4xx (or a close), never a 5xx.
    async fn malformed(&self, round: u64) -> Res<()> {
        let host = &self.addr;
        let bad = [
            format!("GET /public/%252e%252e/x HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
            format!("GET /a/../../b HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
            format!("POST /.qrgate/auth/session/create HTTP/1.1\r\nHost: {host}\r\nOrigin: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n", self.origin),
            format!("POST /.qrgate/auth/session/sess_0000000000000000/approve HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{{{{{{{{{{"),
            format!("GET /{} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n", "a".repeat(9000)),
            format!("GET / HTTP/1.1\r\nHost: {host}\r\nX-Big: {}\r\nConnection: close\r\n\r\n", "v".repeat(40_000)),
            "NONSENSE\r\n\r\n".to_string(),
        ];
        let req = &bad[usize::try_from(round).unwrap_or(0) % bad.len()];
        let mut s = tokio::net::TcpStream::connect(host)
            .await
            .map_err(|e| e.to_string())?;
        let _ = s.write_all(req.as_bytes()).await;
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf)).await;
        let text = String::from_utf8_lossy(&buf);
        let status: u16 = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if status != 0 {
            self.seen(status);
        }
        if status >= 500 || (status != 0 && status < 400) {
            return Err(format!("malformed request {round} answered {status}"));
        }
        self.counts.malformed.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn worker(self: Arc<Self>, until: Instant, pace: Duration) {
        let mut round = 0u64;
        while Instant::now() < until {
            let next = tokio::time::Instant::now() + pace;
            let result = async {
                let b = Self::browser()?;
                let phone = Self::browser()?;
                match round % 3 {
                    0 => self.native_login(&b, &phone).await?,
                    1 => self.pubky_login(&b, &phone).await?,
                    _ => self.tana_login(&b, &phone).await?,
                }
                self.use_session(&b, round).await?;
                self.malformed(round).await?;
                let s = self.get(&b, "/public/x").await?;
                if s != 200 {
                    return Err(format!("public path answered {s}"));
                }
                Ok::<(), String>(())
            }
            .await;
            if let Err(e) = result {
                self.counts.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("soak: {e}");
            }
            round += 1;
            tokio::time::sleep_until(next).await;
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 && args.len() != 5 {
        eprintln!("usage: soak BASE_URL SECONDS WORKERS [PACE_MS]");
        std::process::exit(2);
    }
    let pace = Duration::from_millis(args.get(4).and_then(|p| p.parse().ok()).unwrap_or(0));
    let base = args[1].trim_end_matches('/').to_string();
    let seconds: u64 = args[2].parse().expect("SECONDS");
    let workers: usize = args[3].parse().expect("WORKERS");
    let addr = base.trim_start_matches("http://").to_string();
    let mut secret = [0u8; 32];
    hex::decode_to_slice(ALICE, &mut secret).expect("key");
    let load = Arc::new(Load {
        origin: base.clone(),
        base,
        addr,
        secret,
        counts: Counts::default(),
    });
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..workers)
        .map(|_| tokio::spawn(load.clone().worker(until, pace)))
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let c = &load.counts;
    let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!(
        "{}",
        serde_json::json!({
            "seconds": started.elapsed().as_secs_f64(),
            "requests": n(&c.requests),
            "logins": { "native": n(&c.native), "pubky": n(&c.pubky), "tana": n(&c.tana) },
            "proxied": n(&c.proxied),
            "logouts": n(&c.logouts),
            "malformed": n(&c.malformed),
            "errors": n(&c.errors),
            "status_5xx": n(&c.status_5xx),
        })
    );
}
