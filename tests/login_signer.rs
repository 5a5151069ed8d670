//! The reference signer as the phone: the `qrgate sign` binary approves and `keygen` writes a
//! private file, and it signs only a message that is exactly what it shows.

use serde_json::Value;

use crate::common::{alice_key, browser, client, open_login, TestGateway};
use crate::login::{approve_raw, claim};
use qrgate::cli::signer;

#[tokio::test]
async fn the_signer_binary_approves_and_keygen_writes_a_private_file() {
    let gw = TestGateway::start().await;
    let b = browser();
    let (id, payload, _) = open_login(&gw, &b, "/").await;
    let dir = tempfile::tempdir().expect("dir");
    let key_path = dir.path().join("alice.key");
    std::fs::write(&key_path, crate::common::ALICE_SECRET_HEX).expect("key");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_qrgate"))
        .args(["sign", "--yes", "--key"])
        .arg(&key_path)
        .arg(format!(
            "qrgate://sign?url={}",
            url::form_urlencoded::byte_serialize(payload.as_bytes()).collect::<String>()
        ))
        .output()
        .await
        .expect("run signer");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Sign in to:  Test app") && stdout.contains("signed in as alice"),
        "{stdout}"
    );
    // What the person approving is shown: app, origin, who asks, from where, and when.
    for line in [
        format!("Origin:      http://{}", gw.addr),
        "Requested by Unknown browser on unknown system (127.0.0.1)".to_string(),
        "Requested at ".to_string(),
        " GMT (expires ".to_string(),
    ] {
        assert!(stdout.contains(&line), "{line} in {stdout}");
    }
    assert_eq!(claim(&gw, &b, &id).await.status(), 200);

    let new_key = dir.path().join("new.key");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_qrgate"))
        .args(["keygen", "--out"])
        .arg(&new_key)
        .output()
        .expect("keygen");
    assert!(out.status.success());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&new_key)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    let z32 = signer::Key::load(&new_key)
        .expect("loads")
        .public()
        .to_z32();
    assert!(printed.contains(&z32), "{printed}");
}

/// A server of its own that answers every request with `answer` (JSON), as a phishing site
/// relaying another origin's challenge would; returns its origin.
async fn relay_answering(answer: std::sync::Arc<std::sync::Mutex<String>>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind relay");
    let addr = listener.local_addr().expect("relay addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut chunk = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(n) if n > 0 => head.extend_from_slice(&chunk[..n]),
                        _ => return,
                    }
                }
                let body = answer.lock().map(|a| a.clone()).unwrap_or_default();
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn the_reference_signer_signs_only_a_message_that_is_exactly_what_it_shows() {
    let gw = TestGateway::start().await;
    let origin = format!("http://{}", gw.addr);
    // The attacker's own browser starts a real login at the gateway and takes its challenge.
    let attacker = browser();
    let (id, _, _) = open_login(&gw, &attacker, "/").await;
    let genuine: Value = client()
        .post(gw.url(&format!("/.qrgate/auth/session/{id}/scan")))
        .send()
        .await
        .expect("scan")
        .json()
        .await
        .expect("json");
    let message = genuine["message"].as_str().expect("message").to_string();
    let answer = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let evil = relay_answering(answer.clone()).await;
    let phone = client();
    let scan_at = |origin: &str, attempt: &str| {
        signer::attempt_url(&format!("{origin}/.qrgate/auth/session/{attempt}")).expect("url")
    };
    let forged = |edit: &dyn Fn(&mut Value)| {
        let mut v = genuine.clone();
        edit(&mut v);
        *answer.lock().expect("answer") = v.to_string();
    };
    // The phishing site shows itself (its origin, as the link scanned) while the message it
    // hands over is the gateway's challenge for the attacker's browser.
    forged(&|v| v["origin"] = Value::from(evil.clone()));
    let refused = signer::scan(&phone, &scan_at(&evil, &id)).await;
    assert!(
        matches!(&refused, Err(signer::SignerError::Refused { message, .. }) if message.contains("not what the answer shows")),
        "{refused:?}"
    );
    // Its own attempt id in the link, the gateway's in the message: refused.
    let other_id = "sess_0123456789abcdef0123456789abcdef";
    forged(&|v| {
        v["origin"] = Value::from(evil.clone());
        v["attempt"] = Value::from(other_id);
        v["message"] = Value::from(message.replace(&origin, &evil));
    });
    assert!(signer::scan(&phone, &scan_at(&evil, other_id))
        .await
        .is_err());
    // Shown as another app, another requester, other times, a grant or an action the message
    // does not carry, or a message with a line more: refused.
    let edits: [fn(&mut Value); 8] = [
        |v| v["app"] = Value::from("Your bank"),
        |v| v["requester_agent"] = Value::from("Safari on iPhone"),
        |v| v["requester_ip"] = Value::from("192.0.2.1"),
        |v| v["expires_at"] = Value::from(v["expires_at"].as_u64().unwrap_or(0) + 60),
        |v| v["access"] = Value::from("read /"),
        |v| v["action"] = Value::from("add a new device for alice"),
        |v| {
            let m = v["message"].as_str().unwrap_or_default().to_string();
            v["message"] = Value::from(format!("{m}access: read /\n"));
        },
        |v| v["app"] = Value::from("Test app\nSafe to approve"),
    ];
    let own = |v: &mut Value| {
        v["origin"] = Value::from(evil.clone());
        v["message"] = Value::from(message.replace(&origin, &evil));
    };
    for (n, edit) in edits.iter().enumerate() {
        forged(&|v| {
            own(v);
            edit(v);
        });
        let answer = signer::scan(&phone, &scan_at(&evil, &id)).await;
        assert!(answer.is_err(), "edit {n} was signed: {answer:?}");
    }
    // The same answer made consistent is the site's own challenge: shown, and signable, but
    // a signature over it is worth nothing at the gateway.
    forged(&own);
    let req = signer::scan(&phone, &scan_at(&evil, &id))
        .await
        .expect("a consistent answer is shown");
    let sig = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        alice_key().sign(req.message.as_bytes()),
    );
    let body = serde_json::json!({"public_key": alice_key().public().to_z32(), "signature": sig});
    let (status, refusal) = approve_raw(&gw, &id, body.to_string()).await;
    assert_eq!(
        (status, refusal["error"].as_str()),
        (401, Some("bad_signature"))
    );
    // Nothing was approved for the attacker's browser; the genuine challenge still scans.
    assert_eq!(claim(&gw, &attacker, &id).await.status(), 409);
    let url = scan_at(&origin, &id);
    let req = signer::scan(&phone, &url).await.expect("genuine scan");
    assert_eq!(req.message, message);
}
