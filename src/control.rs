//! `qrgate sessions list|revoke`: a client of the admin listener's session control API,
//! configured from the same config file (`[admin] listen`, `[admin] token_file`).

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

/// Calls the API at `path` (`GET /sessions` or `POST /sessions/revoke`).
async fn call(
    config: &Config,
    post: bool,
    path: &str,
    sel: &Selection,
) -> Result<Value, CommandError> {
    let listen = config.admin.listen.as_ref().ok_or_else(|| {
        CommandError::Config("the config has no [admin] listen: the session API lives there".into())
    })?;
    let token_file = config.admin.token_file.as_ref().ok_or_else(|| {
        CommandError::Config("the config has no [admin] token_file: the session API is off".into())
    })?;
    let token = std::fs::read_to_string(token_file)
        .map_err(|e| CommandError::Config(format!("{}: {e}", token_file.display())))?;
    let url = format!("http://{listen}{path}?{}", sel.query());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()?;
    let req = if post {
        client.post(url)
    } else {
        client.get(url)
    };
    let resp = req.bearer_auth(token.trim()).send().await?;
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
    let body = call(config, false, "/sessions", sel).await?;
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
    let body = call(config, true, "/sessions/revoke", sel).await?;
    Ok(body["revoked"].as_u64().unwrap_or(0))
}
