//! The reference signer: what a phone app does, for demos, tests and headless devices.
//!
//! It speaks only the documented native protocol (docs/protocol.md) over HTTP — no
//! shortcuts into gateway internals — so every use of it checks the document. Before
//! signing it checks that the origin inside the challenge is the origin it is talking to,
//! so a challenge relayed from another site cannot be signed by mistake.

use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use serde::Deserialize;

use qrgate_core::http::route::{self, Route};
use qrgate_core::identity::keys::PublicKey;

/// Why signing failed.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// Key file unreadable or malformed.
    #[error("key file {path}: {reason}")]
    Key {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The QR payload is not a qrgate login URL.
    #[error("not a qrgate login code: {0}")]
    Payload(String),
    /// Transport failure.
    #[error("could not reach the gateway: {0}")]
    Http(#[from] reqwest::Error),
    /// The gateway refused.
    #[error("the gateway answered {status}: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Its message.
        message: String,
    },
    /// The challenge names another origin than the one we talk to.
    #[error("the challenge is for {challenge}, but this code points at {url}; refusing to sign")]
    OriginMismatch {
        /// Origin in the challenge.
        challenge: String,
        /// Origin of the URL.
        url: String,
    },
}

/// A signing key loaded from a file.
pub struct Key(SigningKey);

impl Key {
    /// A fresh random key.
    pub fn generate() -> Key {
        Key(SigningKey::from_bytes(&qrgate_core::random_bytes::<32>()))
    }

    /// Parses a key file: 64 hex digits (optionally `ed25519_`-prefixed), whitespace ignored.
    pub fn parse(text: &str) -> Option<Key> {
        let t = text.trim();
        let t = t.strip_prefix("ed25519_").unwrap_or(t);
        let mut secret = [0u8; 32];
        hex::decode_to_slice(t, &mut secret).ok()?;
        Some(Key(SigningKey::from_bytes(&secret)))
    }

    /// Reads a key file.
    pub fn load(path: &Path) -> Result<Key, SignerError> {
        let err = |reason: String| SignerError::Key {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Key::parse(&text).ok_or_else(|| err("expected 64 hex digits".into()))
    }

    /// Writes the key file with mode 0600, refusing to overwrite.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        writeln!(f, "{}", hex::encode(self.0.to_bytes()))
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        // A key derived from a signing key is always a valid point.
        PublicKey::from_bytes(&self.0.verifying_key().to_bytes()).unwrap_or_else(|_| unreachable!())
    }

    /// Signs raw bytes (RFC 8032 Ed25519).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

/// What the gateway asks the person to approve (the scan answer).
#[derive(Debug, Clone, Deserialize)]
pub struct Request {
    /// App name.
    pub app: String,
    /// The app's origin.
    pub origin: String,
    /// Who asked: IP.
    pub requester_ip: String,
    /// Who asked: browser summary.
    pub requester_agent: String,
    /// Issued, epoch seconds.
    pub issued_at: u64,
    /// Expires, epoch seconds.
    pub expires_at: u64,
    /// The exact message to sign.
    pub message: String,
    /// What the login grants, when the app grants less than read-write everywhere.
    #[serde(default)]
    pub access: Option<String>,
    /// When the approval confirms an action instead of a sign-in, what it does ("add a new
    /// device for alice"); the message then opens with `qrgate-action-v1` and names it too.
    #[serde(default)]
    pub action: Option<String>,
}

/// The attempt URL inside a QR payload (a plain URL or a `qrgate://sign?url=` link).
pub fn attempt_url(payload: &str) -> Result<url::Url, SignerError> {
    let payload = payload.trim();
    let raw = if let Some(rest) = payload.strip_prefix("qrgate://sign?") {
        url::form_urlencoded::parse(rest.as_bytes())
            .find(|(k, _)| k == "url")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| SignerError::Payload("link without url".into()))?
    } else {
        payload.to_string()
    };
    let url = url::Url::parse(&raw).map_err(|e| SignerError::Payload(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || route::attempt_of(url.as_str()).is_none() {
        return Err(SignerError::Payload(raw));
    }
    Ok(url)
}

/// The URL of the attempt's route `to` (scan, approve, reject) beside attempt URL `attempt`.
fn beside(attempt: &url::Url, to: fn(&str) -> Route<'_>) -> Result<String, SignerError> {
    let (base, id) = route::attempt_of(attempt.as_str())
        .ok_or_else(|| SignerError::Payload(attempt.to_string()))?;
    Ok(to(id).url(base))
}

async fn post(
    client: &reqwest::Client,
    url: String,
    body: serde_json::Value,
) -> Result<serde_json::Value, SignerError> {
    let resp = client.post(url).json(&body).send().await?;
    let status = resp.status().as_u16();
    let value: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
    if !(200..300).contains(&status) {
        let message = value["message"]
            .as_str()
            .unwrap_or("no reason given")
            .to_string();
        return Err(SignerError::Refused { status, message });
    }
    Ok(value)
}

/// Announces the scan and fetches what to show and sign; checks the origin.
pub async fn scan(client: &reqwest::Client, attempt: &url::Url) -> Result<Request, SignerError> {
    let value = post(
        client,
        beside(attempt, |id| Route::Scan { id })?,
        serde_json::json!({}),
    )
    .await?;
    let req: Request = serde_json::from_value(value).map_err(|e| SignerError::Refused {
        status: 200,
        message: format!("unexpected answer: {e}"),
    })?;
    let url_origin = attempt.origin().ascii_serialization();
    if req.origin != url_origin {
        return Err(SignerError::OriginMismatch {
            challenge: req.origin,
            url: url_origin,
        });
    }
    if !signs_what_it_shows(&req, &url_origin, attempt) {
        return Err(SignerError::Refused {
            status: 200,
            message: "the message to sign is not what the answer shows".into(),
        });
    }
    Ok(req)
}

/// Whether the message is exactly the native challenge of what is shown: the attempt the
/// scanned link names, at the link's origin, with the answer's app, requester, times, access
/// and action (the domain line follows from the action), rebuilt around the message's own
/// nonce. Any other line, value or order — another origin's or another attempt's challenge
/// relayed by the server that answered, a sign-in shown as an action or the reverse — is
/// refused before anything is signed. A shown value with a control character is refused too:
/// the gateway never sends one, and the message could not carry it as shown.
fn signs_what_it_shows(req: &Request, origin: &str, attempt: &url::Url) -> bool {
    use qrgate_core::login::signers::native::Challenge;
    let Some(id) = attempt.path_segments().and_then(|mut s| s.next_back()) else {
        return false;
    };
    let Some(nonce) = Challenge::nonce_of(&req.message) else {
        return false;
    };
    let shown = [&req.app, &req.requester_ip, &req.requester_agent]
        .into_iter()
        .chain(&req.access)
        .chain(&req.action);
    if shown.flat_map(|v| v.chars()).any(char::is_control) {
        return false;
    }
    let expected = Challenge {
        origin,
        app: &req.app,
        attempt: id,
        nonce: &nonce,
        requester_ip: &req.requester_ip,
        requester_agent: &req.requester_agent,
        issued_at: req.issued_at,
        expires_at: req.expires_at,
        access: req.access.as_deref(),
        action: req.action.as_deref(),
    };
    expected.message() == req.message
}

/// Signs the challenge and approves.
pub async fn approve(
    client: &reqwest::Client,
    attempt: &url::Url,
    key: &Key,
    req: &Request,
) -> Result<String, SignerError> {
    let signature = URL_SAFE_NO_PAD.encode(key.sign(req.message.as_bytes()));
    let body = serde_json::json!({ "public_key": key.public().to_z32(), "signature": signature });
    let value = post(client, beside(attempt, |id| Route::Approve { id })?, body).await?;
    Ok(value["user"].as_str().unwrap_or_default().to_string())
}

/// Declines.
pub async fn reject(client: &reqwest::Client, attempt: &url::Url) -> Result<(), SignerError> {
    post(
        client,
        beside(attempt, |id| Route::Reject { id })?,
        serde_json::json!({ "reason": "declined" }),
    )
    .await?;
    Ok(())
}

/// What an invitation link offers (its JSON form).
#[derive(Debug, Clone, Deserialize)]
pub struct InvitationOffer {
    /// The configured user the key will sign in as.
    pub user: String,
    /// The app.
    pub app: String,
    /// The app's origin.
    pub origin: String,
    /// When the invitation lapses, epoch seconds.
    pub expires_at: u64,
}

/// Enrolls `key` through invitation link `link`, as the enrollment page does: reads the
/// invitation, checks its origin is the link's, signs the enrollment text, posts it. Returns
/// the user the key now signs in as.
pub async fn enroll(
    client: &reqwest::Client,
    link: &str,
    key: &Key,
) -> Result<String, SignerError> {
    let url = url::Url::parse(link).map_err(|e| SignerError::Payload(e.to_string()))?;
    let token = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or_default()
        .to_string();
    let resp = client
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await?;
    let status = resp.status().as_u16();
    let value: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
    if status != 200 {
        let message = value["message"].as_str().unwrap_or("no reason given");
        return Err(SignerError::Refused {
            status,
            message: message.to_string(),
        });
    }
    let offer: InvitationOffer =
        serde_json::from_value(value).map_err(|e| SignerError::Refused {
            status,
            message: format!("unexpected answer: {e}"),
        })?;
    let url_origin = url.origin().ascii_serialization();
    if offer.origin != url_origin {
        return Err(SignerError::OriginMismatch {
            challenge: offer.origin,
            url: url_origin,
        });
    }
    let public = key.public();
    let text =
        qrgate_core::control::enrollment::message(&offer.origin, &offer.user, &token, &public);
    let body = serde_json::json!({
        "public_key": public.to_hex(),
        "signature": URL_SAFE_NO_PAD.encode(key.sign(text.as_bytes())),
    });
    let value = post(client, url.to_string(), body).await?;
    Ok(value["user"].as_str().unwrap_or_default().to_string())
}
