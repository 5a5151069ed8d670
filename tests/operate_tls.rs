//! The real binary over HTTPS: HTTP/2 logins and proxying, HSTS, and a certificate swapped
//! by a reload; the test PKI and clients trusting it, shared with `cookies.rs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::common::{client, echoed_headers, eventually, free_port, sign_in_with, test_pki};

use crate::operate::{alice, Binary};

/// A certificate for 127.0.0.1 from a new test CA, written into a directory, and the
/// `[server]` lines of an HTTPS listener serving it.
pub(crate) struct TlsFiles {
    /// The CA's certificate (PEM), for clients to trust.
    pub ca: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// `tls_listen`, `tls_cert` and `tls_key` for a listener on the port given.
    pub server: String,
}

/// [`TlsFiles`] from a CA named `name`, in `dir`, for a listener on port `tls`.
pub(crate) fn tls_files(dir: &Path, name: &str, tls: u16) -> TlsFiles {
    let (ca, chain, key_pem) = test_pki(name);
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &chain).expect("cert");
    std::fs::write(&key, &key_pem).expect("key");
    let server = format!(
        "tls_listen = [\"127.0.0.1:{tls}\"]\ntls_cert = \"{}\"\ntls_key = \"{}\"",
        cert.display(),
        key.display()
    );
    TlsFiles {
        ca,
        cert,
        key,
        server,
    }
}

/// A client trusting only `ca_pem` (with a cookie store if `cookies`).
pub(crate) fn trusting(ca_pem: &str, cookies: bool) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("ca");
    reqwest::Client::builder()
        .add_root_certificate(ca)
        .tls_built_in_root_certs(false)
        .cookie_store(cookies)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

#[tokio::test]
async fn https_with_http2_login_proxying_hsts_and_a_certificate_swapped_by_reload() {
    let tls = free_port();
    let dir = tempfile::tempdir().expect("pki dir");
    let TlsFiles {
        ca: ca1,
        cert,
        key,
        server,
    } = tls_files(dir.path(), "one", tls);
    let server = format!("{server}\nredirect_to_https = true");
    let origin = format!("https://127.0.0.1:{tls}");
    let gw = Binary::start_with(&server, Some(origin.clone()), "", &alice("\"staff\"")).await;

    // A login and a proxied request, all over HTTPS, HTTP/2 where the client offers it.
    let browser = trusting(&ca1, true);
    let (b, _) = sign_in_with(&origin, browser, trusting(&ca1, false)).await;
    let resp = b
        .get(format!("{origin}/app"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("https");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), reqwest::Version::HTTP_2, "HTTP/2 by ALPN");
    assert_eq!(
        resp.headers()
            .get("strict-transport-security")
            .map(|v| v.as_bytes()),
        Some(&b"max-age=31536000"[..])
    );
    let echo: Value = resp.json().await.expect("echo");
    assert!(echoed_headers(&echo).contains(&("x-forwarded-proto".into(), "https".into())));

    // A waiting page over HTTPS/1.1: its event stream (served beside pingora) carries HSTS
    // like every other answer over TLS.
    let ca = reqwest::Certificate::from_pem(ca1.as_bytes()).expect("ca");
    let h1 = reqwest::Client::builder()
        .add_root_certificate(ca)
        .tls_built_in_root_certs(false)
        .http1_only()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let (id, cookie) = crate::common::create_attempt(&h1, &origin).await;
    let mut events = h1
        .get(format!("{origin}/.qrgate/auth/session/{id}/events"))
        .header("cookie", &cookie)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), 200);
    assert_eq!(events.version(), reqwest::Version::HTTP_11);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    assert_eq!(
        events.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let first = events.chunk().await.expect("frame").expect("a first frame");
    assert!(String::from_utf8_lossy(&first).starts_with("event: pending"));
    drop(events);

    // Plain HTTP for the https app: 308 to the same path on the https origin.
    let plain = client()
        .get(format!("{}/docs?x=1", gw.base))
        .header("host", format!("127.0.0.1:{tls}"))
        .send()
        .await
        .expect("plain");
    assert_eq!(plain.status(), 308);
    assert_eq!(
        plain.headers()["location"],
        format!("{origin}/docs?x=1").as_str()
    );

    // A new certificate from another CA: after SIGHUP, new handshakes use it.
    let (ca2, chain2, key2) = test_pki("two");
    std::fs::write(&cert, &chain2).expect("cert");
    std::fs::write(&key, &key2).expect("key");
    gw.signal("HUP");
    let health = format!("{origin}/.qrgate/healthz");
    let swapped = eventually(Duration::from_secs(10), || {
        let (c, url) = (trusting(&ca2, false), health.clone());
        async move { c.get(url).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    assert!(swapped, "the reloaded certificate is served");
    assert!(
        trusting(&ca1, false).get(&health).send().await.is_err(),
        "the old certificate is gone"
    );
}
