//! A request body read by the gateway itself, and the minimum pace every request body keeps
//! (`[limits]`), whether the gateway reads it or pingora forwards it.

use bytes::Bytes;
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};
use qrgate_core::gate::limits;
use qrgate_core::settings::Settings;
use qrgate_core::web::respond::ProxyFailure;

/// An error (a slow body, 408) unless a body that has delivered `bytes` since `started` keeps the pace
/// `[limits]` asks for.
pub(crate) fn on_pace(bytes: u64, started: std::time::Instant, s: &Settings) -> Result<()> {
    if limits::body_on_pace(bytes, started.elapsed(), &s.config.limits) {
        return Ok(());
    }
    Err(Error::explain(
        ErrorType::HTTPStatus(ProxyFailure::SlowBody.status()),
        "request body below the minimum rate",
    )
    .into_down())
}

/// Reads the whole body, or `None` if it is longer than `cap` (without buffering past it),
/// at the pace `[limits]` asks for.
pub(crate) async fn read_capped(
    session: &mut Session,
    cap: usize,
    s: &Settings,
) -> Result<Option<Bytes>> {
    let started = std::time::Instant::now();
    let declared = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > cap) {
        return Ok(None);
    }
    // A client that waits for `100 Continue` before its body would otherwise spend its
    // window waiting for us (pingora sends it only when an upstream does).
    let expects_continue = session
        .req_header()
        .headers
        .get(http::header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"));
    if expects_continue {
        session.write_continue_response().await?;
    }
    let mut buf = Vec::new();
    while let Some(chunk) = session.read_request_body().await? {
        if buf.len().saturating_add(chunk.len()) > cap {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk);
        on_pace(u64::try_from(buf.len()).unwrap_or(u64::MAX), started, s)?;
    }
    Ok(Some(buf.into()))
}
