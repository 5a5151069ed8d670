//! `qrgate sessions list|revoke`, `qrgate devices list|revoke` and `qrgate invite`: clients
//! of the admin listener's control API, configured from the same config file
//! (`[admin] listen`, `[admin] token_file`). Every request goes through `admin_client`,
//! which never uses a proxy.

use std::time::{Duration, UNIX_EPOCH};

use qrgate_core::config::Config;
use serde_json::Value;

/// Why the command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The config does not say where or how to reach the API.
    #[error("{0}")]
    Config(String),
    /// The API could not be reached.
    #[error("admin listener: {0}")]
    Http(#[from] reqwest::Error),
    /// The API refused.
    #[error("admin listener answered {status}: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Its message.
        message: String,
    },
}

/// Which sessions: the query of the API.
#[derive(Debug, Default)]
pub struct Selection {
    /// A session id.
    pub id: Option<String>,
    /// A user name.
    pub user: Option<String>,
    /// A key (z-base32 or hex).
    pub key: Option<String>,
    /// An app name.
    pub app: Option<String>,
}

impl Selection {
    fn query(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("id", &self.id),
            ("user", &self.user),
            ("key", &self.key),
            ("app", &self.app),
        ] {
            if let Some(v) = value {
                q.append_pair(name, v);
            }
        }
        q.finish()
    }
}

/// The one client of the admin listener: straight to it, never through a proxy the
/// environment names (`http_proxy`, `ALL_PROXY` …), which would see the bearer token, and
/// never on to where a redirect points (whatever answers on the admin address does not
/// choose where the token goes next).
fn admin_client() -> Result<reqwest::Client, CommandError> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()?)
}

/// Calls the API at `path` with `query` (`GET /sessions`, `POST /sessions/revoke` …).
async fn call(config: &Config, post: bool, path: &str, query: &str) -> Result<Value, CommandError> {
    let listen = config.admin.listen.as_ref().ok_or_else(|| {
        CommandError::Config("the config has no [admin] listen: the session API lives there".into())
    })?;
    let token_file = config.admin.token_file.as_ref().ok_or_else(|| {
        CommandError::Config("the config has no [admin] token_file: the session API is off".into())
    })?;
    let token = crate::admin::token::read_to_send(token_file)
        .map_err(|e| CommandError::Config(e.to_string()))?;
    let url = format!("http://{listen}{path}?{query}");
    let client = admin_client()?;
    let req = if post {
        client.post(url)
    } else {
        client.get(url)
    };
    let resp = req.bearer_auth(token).send().await?;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status != 200 {
        return Err(CommandError::Refused {
            status,
            message: body["message"].as_str().unwrap_or("no message").to_string(),
        });
    }
    Ok(body)
}

fn when(secs: &Value) -> String {
    secs.as_u64().map_or_else(
        || "?".into(),
        |s| httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(s)),
    )
}

/// Lists the selected sessions, one per line (never a token).
pub async fn list(config: &Config, sel: &Selection) -> Result<String, CommandError> {
    let body = call(config, false, "/sessions", &sel.query()).await?;
    let sessions = body["sessions"].as_array().cloned().unwrap_or_default();
    let mut out = format!("{} session(s)\n", sessions.len());
    for s in &sessions {
        let text = |k: &str| s[k].as_str().unwrap_or("-").to_string();
        out.push_str(&format!(
            "{}  {}  {}  {}  {}  since {}  last seen {}  {}  {}\n",
            text("id"),
            s["user"].as_str().unwrap_or("(no longer configured)"),
            text("app"),
            text("protocol"),
            text("key"),
            when(&s["created"]),
            when(&s["last_seen"]),
            text("client_ip"),
            text("browser"),
        ));
    }
    Ok(out)
}

/// Ends the selected sessions; returns how many ended.
pub async fn revoke(config: &Config, sel: &Selection) -> Result<u64, CommandError> {
    let body = call(config, true, "/sessions/revoke", &sel.query()).await?;
    Ok(body["revoked"].as_u64().unwrap_or(0))
}

/// Lists the selected enrolled devices, one per line.
pub async fn list_devices(config: &Config, sel: &Selection) -> Result<String, CommandError> {
    let body = call(config, false, "/devices", &sel.query()).await?;
    let devices = body["devices"].as_array().cloned().unwrap_or_default();
    let mut out = format!("{} device(s)\n", devices.len());
    for d in &devices {
        let text = |k: &str| d[k].as_str().unwrap_or("-").to_string();
        out.push_str(&format!(
            "{}  {}  {}  {}  since {}  {}\n",
            text("id"),
            text("user"),
            text("app"),
            text("key"),
            when(&d["created"]),
            text("browser"),
        ));
    }
    Ok(out)
}

/// Removes the selected devices; returns how many, and how many sessions ended with them.
pub async fn revoke_devices(config: &Config, sel: &Selection) -> Result<(u64, u64), CommandError> {
    let body = call(config, true, "/devices/revoke", &sel.query()).await?;
    Ok((
        body["revoked"].as_u64().unwrap_or(0),
        body["sessions"].as_u64().unwrap_or(0),
    ))
}

/// Lists programs' tokens (all, or `user`'s), one per line (never a token).
pub async fn list_tokens(config: &Config, user: Option<&str>) -> Result<String, CommandError> {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if let Some(u) = user {
        q.append_pair("user", u);
    }
    let body = call(config, false, "/tokens", &q.finish()).await?;
    let tokens = body["tokens"].as_array().cloned().unwrap_or_default();
    let mut out = format!("{} token(s)\n", tokens.len());
    for t in &tokens {
        let text = |k: &str| t[k].as_str().unwrap_or("-").to_string();
        let grant: Vec<&str> = t["grant"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        out.push_str(&format!(
            "{}  {}  {}  {}  since {}  until {}  from {}  last used {}\n",
            text("id"),
            text("user"),
            text("client_name"),
            grant.join(", "),
            when(&t["created_at"]),
            when(&t["expires_at"]),
            text("from"),
            match t["last_used_at"].is_u64() {
                true => format!(
                    "{} from {}",
                    when(&t["last_used_at"]),
                    text("last_used_from")
                ),
                false => "never".to_string(),
            },
        ));
    }
    Ok(out)
}

/// Revokes the token (grant) with id `id`; returns how many ended (0 or 1).
pub async fn revoke_token(config: &Config, id: &str) -> Result<u64, CommandError> {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("id", id);
    let body = call(config, true, "/tokens/revoke", &q.finish()).await?;
    Ok(body["revoked"].as_u64().unwrap_or(0))
}

/// Makes an invitation for `user` lasting `ttl`, for a device that signs in to `apps` (the
/// link is on the first one's origin; none: the default app); returns the text to print:
/// the link, its expiry, and the link as a QR code drawn with Unicode half blocks.
pub async fn invite(
    config: &Config,
    user: &str,
    apps: &[String],
    ttl: Duration,
) -> Result<String, CommandError> {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("user", user);
    for app in apps {
        q.append_pair("app", app);
    }
    q.append_pair("ttl", &ttl.as_secs().to_string());
    let body = call(config, true, "/invites", &q.finish()).await?;
    let link = body["link"].as_str().unwrap_or_default();
    let code = super::terminal_qr(link);
    let signs_in_to: Vec<&str> = body["apps"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    Ok(format!(
        "Invitation for {} on {} (works once, until {}; the device signs in to {}):\n\n{link}\n\nScan with the phone to add:\n\n{code}\n",
        body["user"].as_str().unwrap_or(user),
        body["app"].as_str().unwrap_or("-"),
        when(&body["expires_at"]),
        if signs_in_to.is_empty() { "-".to_string() } else { signs_in_to.join(", ") },
    ))
}
