//! A tiny upstream app that shows what it received — above all the identity headers — so
//! a newcomer sees the gateway working end to end, and tests have a real HTTP upstream.
//!
//! Browsers get a page; other clients get JSON `{method, uri, headers: [[name, value], …]}`
//! with headers in arrival order and duplicates kept. `?sleep_ms=N` (at most 60 000) delays
//! the answer, to see the gateway's upstream timeout.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use qrgate_core::http::negotiate::prefers_html;
use qrgate_core::http::reply::escape_html;
use qrgate_core::identity;

/// Serves the demo app on `listener` forever.
pub async fn serve(listener: TcpListener) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve_connection(tcp));
    }
}

/// Serves the demo app on one connection of any transport (plain TCP, or TLS in tests of
/// HTTPS upstreams).
pub async fn serve_connection<I>(io: I)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service_fn(answer))
        .await;
}

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let delay = req
        .uri()
        .query()
        .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "sleep_ms"))
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .map(|ms| ms.min(60_000));
    if let Some(ms) = delay {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let html = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(prefers_html);
    let (content_type, body) = if html {
        (
            "text/html; charset=utf-8",
            page(req.method().as_str(), &req.uri().to_string(), &headers),
        )
    } else {
        let json = serde_json::json!({
            "method": req.method().as_str(),
            "uri": req.uri().to_string(),
            "headers": headers,
        });
        ("application/json", json.to_string())
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    Ok(resp)
}

fn page(method: &str, uri: &str, headers: &[(String, String)]) -> String {
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| escape_html(v))
            .unwrap_or_else(|| "—".into())
    };
    let rows: String = headers
        .iter()
        .map(|(k, v)| {
            format!(
                "<tr><th>{}</th><td>{}</td></tr>",
                escape_html(k),
                escape_html(v)
            )
        })
        .collect();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>qrgate demo app</title><style>body{{font:16px/1.5 system-ui,sans-serif;max-width:48rem;\
         margin:2rem auto;padding:0 1rem}}th{{text-align:left;padding-right:1rem;vertical-align:top}}\
         td{{word-break:break-all}}.who{{font-size:1.3rem}}</style></head><body>\
         <h1>Demo app</h1><p class=\"who\" id=\"who\">Signed in as <strong id=\"user\">{user}</strong></p>\
         <p>Key <code id=\"pubkey\">{pubkey}</code>, roles <code>{roles}</code>, app <code>{app}</code></p>\
         <form method=\"post\" action=\"/.qrgate/logout\"><button>Sign out</button></form>\
         <form method=\"post\" action=\"/.qrgate/logout\"><input type=\"hidden\" name=\"scope\" \
         value=\"everywhere\"><button>Sign out everywhere</button></form>\
         <h2>Request</h2><p><code>{method} {uri}</code></p><table>{rows}</table></body></html>",
        user = find(identity::USER),
        pubkey = find(identity::PUBKEY),
        roles = find(identity::ROLES),
        app = find(identity::APP),
        method = escape_html(method),
        uri = escape_html(uri),
    )
}

/// Runs the demo app inside the gateway process (for apps whose upstream is `builtin:demo`):
/// a pingora background service over a listener bound before the server started.
pub struct Builtin {
    listener: std::sync::Mutex<Option<std::net::TcpListener>>,
}

impl Builtin {
    /// Binds the demo app on a free loopback port; returns it and the address.
    pub fn bind() -> std::io::Result<(Builtin, std::net::SocketAddr)> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        Ok((
            Builtin {
                listener: std::sync::Mutex::new(Some(listener)),
            },
            addr,
        ))
    }
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for Builtin {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        let taken = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(listener) = taken.and_then(|l| TcpListener::from_std(l).ok()) else {
            tracing::error!("the built-in demo app could not start");
            return;
        };
        tokio::select! {
            _ = serve(listener) => {}
            _ = shutdown.changed() => {}
        }
    }
}
