//! The baseline for `bench/run`: a pingora 0.9 proxy with no authentication at all, built with
//! the same pingora settings as qrgate (`qrgate::lifecycle::server::server_conf`), so the difference
//! between the two is what qrgate's own work costs.
//!
//! Usage: `bare_proxy LISTEN UPSTREAM THREADS [TLS_LISTEN CERT KEY]` (e.g. `127.0.0.1:18090
//! 127.0.0.1:18081 2`); with the last three it also serves HTTPS (rustls, HTTP/2 by ALPN), as
//! qrgate's `tls_listen` does. With `BARE_HEADERS=7` in the environment it sends the upstream
//! the seven headers an authenticated qrgate request carries (identity and forwarding, with
//! values of the same length), so the header cost can be told apart from qrgate's own.

use async_trait::async_trait;
use pingora::prelude::HttpPeer;
use pingora::proxy::{ProxyHttp, Session};
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::Result;

// The same allocator as the qrgate binary, so the comparison isolates qrgate's own work.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Bare {
    peer: HttpPeer,
    /// Headers set on every upstream request.
    headers: Vec<(&'static str, String)>,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(self.peer.clone()))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream: &mut pingora::http::RequestHeader,
        _ctx: &mut (),
    ) -> Result<()> {
        for (name, value) in &self.headers {
            upstream.insert_header(*name, value.as_str())?;
        }
        Ok(())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(listen), Some(upstream)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: bare_proxy LISTEN UPSTREAM [THREADS]");
        std::process::exit(2);
    };
    let threads = args.get(3).and_then(|t| t.parse().ok()).unwrap_or(2);
    let Ok(addr) = upstream.parse::<std::net::SocketAddr>() else {
        eprintln!("UPSTREAM must be ip:port");
        std::process::exit(2);
    };
    // The same settings qrgate's server_conf sets; everything else at pingora's defaults.
    let conf = ServerConf {
        threads,
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    // Same peer options as qrgate's defaults (connect 2 s, read 30 s).
    let mut peer = HttpPeer::new(addr, false, String::new());
    peer.options.connection_timeout = Some(std::time::Duration::from_secs(2));
    peer.options.read_timeout = Some(std::time::Duration::from_secs(30));
    let headers = if std::env::var("BARE_HEADERS").as_deref() == Ok("7") {
        vec![
            ("x-auth-user", "alice".to_string()),
            ("x-auth-pubkey", "z".repeat(52)),
            ("x-auth-roles", "admin".to_string()),
            ("x-auth-app", "bench".to_string()),
            ("x-forwarded-for", "127.0.0.1".to_string()),
            ("x-forwarded-proto", "http".to_string()),
            ("x-forwarded-host", listen.clone()),
        ]
    } else {
        Vec::new()
    };
    let bare = Bare { peer, headers };
    let mut proxy = pingora::proxy::http_proxy_service(&server.configuration, bare);
    proxy.add_listener(
        pingora::listeners::ListenerConfig::tcp(listen.clone())
            .l4_buffer(qrgate::lifecycle::server::listener_buffers()),
    );
    if let (Some(tls), Some(cert), Some(key)) = (args.get(4), args.get(5), args.get(6)) {
        let mut settings =
            pingora::listeners::tls::TlsSettings::intermediate(cert, key).expect("tls settings");
        settings.enable_h2();
        proxy.add_listener(
            pingora::listeners::ListenerConfig::tcp(tls.clone())
                .tls(settings)
                .l4_buffer(qrgate::lifecycle::server::listener_buffers()),
        );
    }
    server.add_service(proxy);
    server.run_forever();
}
