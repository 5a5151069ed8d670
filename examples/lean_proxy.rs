//! A prototype for `bench/run`, not part of the product: the forwarding loop of an HTTP/1
//! proxy written directly on pingora-core's own HTTP sessions and upstream connector, without
//! pingora-proxy's per-request machinery (the boxed request future, the two-sided proxy loop
//! and its channel, the filter hooks). It measures how much of bare pingora's cost per request
//! that machinery is.
//!
//! One request at a time per connection: read the head, take a pooled upstream connection,
//! send the head and any body, read the response head, relay the body, give the upstream
//! connection back, wait for the next head. No error pages (any error closes the connection),
//! no HTTP/2, no upgrades, no TLS.
//!
//! Usage: `lean_proxy LISTEN UPSTREAM THREADS` (e.g. `127.0.0.1:18093 127.0.0.1:18081 2`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::connectors::http::v1::Connector;
use pingora::prelude::HttpPeer;
use pingora::protocols::http::v1::server::HttpSession;
use pingora::protocols::Stream;
use pingora::server::configuration::ServerConf;
use pingora::server::{Server, ShutdownWatch};
use pingora::services::listening::Service;
use pingora::Result;

// The same allocator as the qrgate binary and the bare baseline.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long an idle upstream connection stays in the pool, and a quiet client connection open.
const IDLE: Duration = Duration::from_secs(60);

struct Lean {
    peer: HttpPeer,
    connector: Connector,
}

impl Lean {
    /// Forwards the request `down` has read and relays the answer.
    async fn forward(&self, down: &mut HttpSession) -> Result<()> {
        let (mut up, _reused) = self.connector.get_http_session(&self.peer).await?;
        up.write_request_header(Box::new(down.req_header().clone()))
            .await?;
        while let Some(chunk) = down.read_body_bytes().await? {
            up.write_body(&chunk).await?;
        }
        up.finish_body().await?;
        up.read_response().await?;
        let Some(head) = up.resp_header().cloned() else {
            return Err(pingora::Error::new(pingora::ErrorType::InvalidHTTPHeader));
        };
        down.write_response_header(Box::new(head)).await?;
        while let Some(chunk) = up.read_body_bytes().await? {
            down.write_body(&chunk).await?;
        }
        down.finish_body().await?;
        self.connector
            .release_http_session(up, &self.peer, Some(IDLE))
            .await;
        Ok(())
    }
}

#[async_trait]
impl ServerApp for Lean {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        _shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let mut down = HttpSession::new(stream);
        loop {
            down.set_server_keepalive(Some(IDLE.as_secs()));
            match down.read_request().await {
                Ok(Some(_)) => {}
                _ => return None,
            }
            if self.forward(&mut down).await.is_err() {
                return None;
            }
            let next = down.reuse().await.ok()??;
            down = HttpSession::new(next.into_parts().0);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(listen), Some(upstream)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: lean_proxy LISTEN UPSTREAM [THREADS]");
        std::process::exit(2);
    };
    let threads = args.get(3).and_then(|t| t.parse().ok()).unwrap_or(2);
    let Ok(addr) = upstream.parse::<std::net::SocketAddr>() else {
        eprintln!("UPSTREAM must be ip:port");
        std::process::exit(2);
    };
    let conf = ServerConf {
        threads,
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut peer = HttpPeer::new(addr, false, String::new());
    peer.options.connection_timeout = Some(Duration::from_secs(2));
    peer.options.read_timeout = Some(Duration::from_secs(30));
    let lean = Lean {
        peer,
        connector: Connector::new(None),
    };
    let mut service = Service::new("lean".to_string(), lean);
    service.add_listener(
        pingora::listeners::ListenerConfig::tcp(listen.clone())
            .l4_buffer(qrgate::lifecycle::server::listener_buffers()),
    );
    server.add_service(service);
    server.run_forever();
}
