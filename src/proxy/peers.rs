//! Upstream peers: each app's configured upstream resolved once (at start and on reload) to
//! the pingora peer requests to it go to, with its TLS verification, CA list and timeouts.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use pingora::prelude::HttpPeer;
use pingora::utils::tls::{parse_x509, WrappedX509};
use qrgate_core::config::{https_upstream, App, Config, BUILTIN_DEMO, BUILTIN_SSO};

use super::StartError;

pub(super) fn resolve_peers(
    config: &Config,
    demo: Option<SocketAddr>,
) -> Result<Vec<HttpPeer>, StartError> {
    config
        .apps
        .iter()
        .map(|app| resolve_peer(app, demo))
        .collect()
}

fn resolve_peer(app: &App, demo: Option<SocketAddr>) -> Result<HttpPeer, StartError> {
    let fail = |reason: String| StartError::Upstream {
        app: app.name.clone(),
        upstream: app.upstream.clone(),
        reason,
    };
    let resolve = |host_port: &str| -> Result<SocketAddr, StartError> {
        host_port
            .to_socket_addrs()
            .map_err(|e| fail(e.to_string()))?
            .next()
            .ok_or_else(|| fail("no addresses".into()))
    };
    let mut peer = if app.upstream == BUILTIN_SSO {
        // Never connected to: the decision answers every path of the SSO origin itself.
        HttpPeer::new(SocketAddr::from(([127, 0, 0, 1], 9)), false, String::new())
    } else if app.upstream == BUILTIN_DEMO {
        let addr = demo.ok_or_else(|| fail("the built-in demo app is not running".into()))?;
        HttpPeer::new(addr, false, String::new())
    } else if let Some((host, port)) = https_upstream(&app.upstream) {
        let addr = resolve(&format!("{host}:{port}"))?;
        // SNI and the verified name are the configured host, never the client's Host.
        let mut peer = HttpPeer::new(addr, true, host);
        peer.options.verify_cert = app.upstream_tls_verify;
        peer.options.verify_hostname = app.upstream_tls_verify;
        if let Some(path) = &app.upstream_ca {
            peer.options.ca = Some(upstream_ca(path).map_err(fail)?);
        }
        peer
    } else {
        HttpPeer::new(resolve(&app.upstream)?, false, String::new())
    };
    peer.options.connection_timeout = Some(app.connect_timeout);
    peer.options.read_timeout = Some(app.read_timeout);
    Ok(peer)
}

/// Every certificate in a PEM file, as pingora's per-peer CA list.
fn upstream_ca(path: &std::path::Path) -> Result<Arc<[WrappedX509]>, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for der in rustls_pemfile::certs(&mut text.as_slice()) {
        let der = der.map_err(|e| format!("{}: {e}", path.display()))?;
        // Parsed once here so that a malformed certificate is an error, not a panic later.
        pingora::tls::RootCertStore::empty()
            .add(der.clone())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        out.push(WrappedX509::new(der.to_vec(), parse_x509));
    }
    if out.is_empty() {
        return Err(format!("{}: no certificate", path.display()));
    }
    Ok(out.into())
}
