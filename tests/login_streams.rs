//! How the browser learns of and collects its login: event streams that notice a closed
//! browser and answer alike beside and through pingora, and the no-script form's claim.

use std::time::Duration;

use crate::common::{
    alice_key, browser, client, open_login, read_until, send_until, Sse, TestGateway, NAV,
};
use crate::login::scanned;
use qrgate::cli::signer;

#[tokio::test]
async fn event_streams_notice_a_closed_browser() {
    let gw = TestGateway::start().await;
    let b = browser();
    let (id, _, _) = open_login(&gw, &b, "/").await;
    let attempt = gw.state.logins().get(&id).await.expect("attempt");
    let mut events = Sse::open(&b, gw.url(&format!("/.qrgate/auth/session/{id}/events"))).await;
    assert_eq!(events.next().await.expect("pending").0, "pending");
    assert_eq!(gw.state.logins().watchers(&attempt), 1);
    drop(events);
    let logins = &gw.state.logins();
    let cleaned = crate::common::eventually(Duration::from_secs(10), || async {
        logins.watchers(&attempt) == 0
    })
    .await;
    assert!(
        cleaned,
        "the stream's watcher was dropped after the client went away"
    );
}

#[tokio::test]
async fn the_no_script_form_claims_with_a_redirect() {
    let gw = TestGateway::start().await;
    let (b, id, url, c, req) = scanned(&gw, "/after").await;
    let form_claim = || {
        b.post(gw.url(&format!("/.qrgate/auth/session/{id}/claim")))
            .header("origin", format!("http://{}", gw.addr))
            .header("accept", NAV)
            .header("content-type", "application/x-www-form-urlencoded")
            .send()
    };
    let early = form_claim().await.expect("claim");
    assert_eq!(early.status(), 409);
    assert!(early.headers()["content-type"]
        .to_str()
        .expect("ct")
        .starts_with("text/html"));
    assert!(early
        .text()
        .await
        .expect("page")
        .contains("not been approved"));
    signer::approve(&c, &url, &alice_key(), &req)
        .await
        .expect("approve");
    let done = form_claim().await.expect("claim");
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()["location"], "/after");
    assert!(done.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .starts_with("qrgate_session="));
}

/// A response head's status line and fields, lowercased and sorted, for comparing answers.
fn head_fields(text: &str) -> Vec<String> {
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default().to_string();
    // The date may tick between two answers; that it is there is what counts.
    let mut fields: Vec<String> = lines
        .map(str::to_ascii_lowercase)
        .map(|f| {
            if f.starts_with("date: ") {
                "date".into()
            } else {
                f
            }
        })
        .collect();
    fields.sort();
    fields.insert(0, status);
    fields
}

/// Plain HTTP/1.1 event streams are served beside pingora's proxy; a head the hand-off
/// leaves alone (here one with `Content-Length: 0`) goes through pingora. Both must answer
/// the same way: the same head, the same frames, the same refusals, and a connection that
/// carries the next request once the stream is complete.
#[tokio::test]
async fn event_streams_answer_alike_beside_and_through_pingora() {
    use tokio::io::AsyncWriteExt;
    let gw = TestGateway::start().await;
    let (id, cookie) = crate::common::create_attempt(&client(), &gw.url("")).await;
    let request = |cookie: &str, extra: &str| {
        format!(
            "GET /.qrgate/auth/session/{id}/events HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nCookie: {cookie}\r\n{extra}\r\n",
            gw.addr
        )
    };
    let paths = ["", "Content-Length: 0\r\n"];

    // Refusals: another browser's cookie gets the same 403 on both paths.
    let mut refusals = Vec::new();
    for extra in paths {
        let (_, text, seen) = send_until(gw.addr, &request("qrgate_bind=x", extra), "}").await;
        assert!(seen, "refusal: {text:?}");
        assert!(text.starts_with("HTTP/1.1 403"), "{text}");
        refusals.push((
            head_fields(&text),
            text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()),
        ));
    }
    assert_eq!(refusals[0], refusals[1]);

    // Streams: the same head and first frame on both paths.
    let mut streams = Vec::new();
    for extra in paths {
        let (s, text, seen) = send_until(gw.addr, &request(&cookie, extra), "event: pending").await;
        assert!(seen, "{text:?}");
        streams.push((s, text));
    }
    let heads: Vec<_> = streams.iter().map(|(_, t)| head_fields(t)).collect();
    assert_eq!(heads[0], heads[1]);
    assert_eq!(heads[0][0], "HTTP/1.1 200 OK");
    for field in [
        "content-type: text/event-stream",
        "transfer-encoding: chunked",
        "cache-control: no-store",
        "x-accel-buffering: no",
    ] {
        assert!(
            heads[0].iter().any(|f| f == field),
            "{field} in {:?}",
            heads[0]
        );
    }
    let frame = |t: &str| t.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
    assert_eq!(frame(&streams[0].1), frame(&streams[1].1));

    // Heads at the edge of what the hand-off takes get the same answer on both paths: a
    // target and a Host pingora refuses, and a request to close the connection.
    let addr = gw.addr;
    let variants = [
        (format!("{id}/events?x=<>"), format!("{addr}"), ""),
        (format!("{id}/events"), format!("u@{addr}"), ""),
        (
            format!("{id}/events"),
            format!("{addr}"),
            "Connection: close\r\n",
        ),
    ];
    for (target, host, extra) in &variants {
        let mut answers = Vec::new();
        for path_extra in paths {
            let head = format!(
                "GET /.qrgate/auth/session/{target} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\nCookie: {cookie}\r\n{extra}{path_extra}\r\n"
            );
            // Up to the first frame, or the whole answer of a refusal that closes.
            let (_, text, _) = send_until(addr, &head, "event: pending").await;
            answers.push((head_fields(&text), frame(&text)));
        }
        assert_eq!(answers[0], answers[1], "{target} {host} {extra}");
        assert!(
            !answers[0].0.is_empty(),
            "an answer to {target} {host} {extra}"
        );
    }

    // A rejection ends both streams; the hand-off's connection then carries the next request.
    let url = signer::attempt_url(&gw.url(&format!("/.qrgate/auth/session/{id}"))).expect("url");
    signer::reject(&client(), &url).await.expect("reject");
    for (s, text) in &mut streams {
        assert!(
            read_until(s, text, "\r\n0\r\n\r\n").await,
            "terminal chunk: {text:?}"
        );
        assert!(text.contains("event: rejected"), "{text}");
    }
    let (s, _) = &mut streams[0];
    s.write_all(format!("GET /.qrgate/healthz HTTP/1.1\r\nHost: {}\r\n\r\n", gw.addr).as_bytes())
        .await
        .expect("write");
    let mut next = String::new();
    assert!(read_until(s, &mut next, "\"ok\"").await, "{next:?}");
    assert!(next.starts_with("HTTP/1.1 200"), "{next}");
}
