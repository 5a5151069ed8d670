use super::*;
use crate::session::StoreError;

#[test]
fn every_client_mistake_is_a_4xx_and_only_capacity_or_store_is_503() {
    let all = [
        LoginError::Attempt(AttemptError::NotFound),
        LoginError::Attempt(AttemptError::Expired),
        LoginError::Attempt(AttemptError::AlreadyDone("approved")),
        LoginError::Attempt(AttemptError::NotApproved),
        LoginError::Attempt(AttemptError::WrongBrowser),
        LoginError::Refused(Refusal::BadBody("x".into())),
        LoginError::Refused(Refusal::BadKey("x")),
        LoginError::Refused(Refusal::BadSignatureEncoding("x")),
        LoginError::Refused(Refusal::BadMessage("x".into())),
        LoginError::Refused(Refusal::WrongChallenge),
        LoginError::Refused(Refusal::Inconsistent),
        LoginError::Refused(Refusal::Stale("x")),
        LoginError::Refused(Refusal::BadSignature("x")),
        LoginError::Refused(Refusal::Undecryptable),
        LoginError::Refused(Refusal::BadToken("x".into())),
        LoginError::Refused(Refusal::WrongCapabilities),
        LoginError::Refused(Refusal::Replay),
        LoginError::BadJson("x".into()),
        LoginError::UnknownBody,
        LoginError::NotOffered("Tana"),
        LoginError::UnknownChannel,
        LoginError::BodyTooLarge(2048),
        LoginError::NotPermitted {
            user: "a".into(),
            app: "b".into(),
        },
        LoginError::UnknownKey { app: "b".into() },
        LoginError::DeviceOtherApp {
            user: "a".into(),
            app: "b".into(),
        },
        LoginError::IdentityMismatch {
            owner: "a".into(),
            asserted: "m".into(),
        },
        LoginError::CrossOrigin("x"),
        LoginError::Unauthenticated,
        LoginError::OtherNetwork,
        LoginError::Attempt(AttemptError::OtherPurpose),
        LoginError::OtherUser { user: "a".into() },
        LoginError::SameDevice,
        LoginError::NoOtherKey,
        LoginError::UnknownDevice,
    ];
    for e in &all {
        let r = login_error(Form::Json(Lang::En), e);
        assert!((400..500).contains(&r.status), "{e:?} -> {}", r.status);
        let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(body["error"], status(e).1);
        assert!(!body["message"].as_str().unwrap_or_default().is_empty());
        let page = login_error(Form::Page(Lang::En), e);
        assert_eq!(page.status, r.status);
        assert!(page.content_type.starts_with("text/html"));
    }
    for e in [
        LoginError::Attempt(AttemptError::Full),
        LoginError::Store(StoreError::Unavailable("down".into())),
    ] {
        let r = login_error(Form::Json(Lang::En), &e);
        assert_eq!(r.status, 503);
        assert!(r.headers.iter().any(|(n, _)| *n == "retry-after"));
    }
    // A store failure says plainly to try again and shows nothing of the store's own words.
    for e in [
        LoginError::Store(StoreError::Unavailable("redis: Connection refused".into())),
        LoginError::Attempt(AttemptError::Store(StoreError::Unavailable(
            "redis: timed out".into(),
        ))),
        LoginError::Store(StoreError::NotReplicated),
    ] {
        let r = login_error(Form::Json(Lang::En), &e);
        let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains("Try again"), "{message}");
        assert!(!message.contains("redis"), "{message}");
        assert_eq!(r.status, 503);
    }
    for e in [
        LoginError::Attempt(AttemptError::ClientBusy),
        LoginError::RateLimited(crate::gate::limits::Limited {
            retry_after_secs: 7,
        }),
    ] {
        let r = login_error(Form::Json(Lang::En), &e);
        assert_eq!(r.status, 429);
        assert!(r.headers.iter().any(|(n, _)| *n == "retry-after"));
    }
    let r = login_error(
        Form::Json(Lang::En),
        &LoginError::RateLimited(crate::gate::limits::Limited {
            retry_after_secs: 7,
        }),
    );
    assert!(r.headers.contains(&("retry-after", "7".into())));
    let r = login_error(Form::Json(Lang::En), &LoginError::Internal("secret detail"));
    assert_eq!(r.status, 500);
    assert!(!String::from_utf8_lossy(&r.body).contains("secret detail"));
}

/// nginx's `auth_request` acts on 2xx, 401 and 403 only; everything a client or a proxy
/// can cause is one of those, and only a 401 for a browser names a page.
#[test]
fn forward_auth_refusals_are_statuses_a_proxy_acts_on() {
    use crate::gate::forward_auth::{OriginalError, Refusal, REDIRECT_HEADER};
    use crate::http::path::PathError;
    let redirect = |r: &Reply| {
        r.headers
            .iter()
            .find(|(n, _)| *n == REDIRECT_HEADER)
            .map(|(_, v)| v.clone())
    };
    let page = "/.qrgate/step-up?rd=%2Fadmin".to_string();
    let cases = [
        (Refusal::Original(OriginalError::Missing), 403, None),
        (Refusal::Original(OriginalError::BadUri), 403, None),
        (
            Refusal::Original(OriginalError::Incomplete("X-Forwarded-Uri")),
            403,
            None,
        ),
        (
            Refusal::Denied(Denial::BadPath(PathError::EncodedSeparator)),
            403,
            None,
        ),
        (
            Refusal::Denied(Denial::OutsideGrant { access: "read" }),
            403,
            None,
        ),
        (
            Refusal::Denied(Denial::StepUpRequired {
                location: page.clone(),
            }),
            403,
            None,
        ),
        (
            Refusal::Denied(Denial::StepUpRedirect {
                location: page.clone(),
            }),
            401,
            Some(page.clone()),
        ),
        (
            Refusal::Denied(Denial::LoginRedirect {
                location: "/.qrgate/login?rd=%2F".into(),
            }),
            401,
            Some("/.qrgate/login?rd=%2F".to_string()),
        ),
        (
            Refusal::Denied(Denial::Unauthenticated {
                realm: "a".into(),
                login: "/.qrgate/login".into(),
                resource_metadata: None,
                invalid_token: false,
            }),
            401,
            None,
        ),
        (Refusal::Login(LoginError::Unauthenticated), 401, None),
        (
            Refusal::Login(LoginError::RateLimited(crate::gate::limits::Limited {
                retry_after_secs: 7,
            })),
            403,
            None,
        ),
    ];
    for (refusal, status, to) in cases {
        let r = forward_auth_refusal(&refusal);
        assert_eq!((r.status, redirect(&r)), (status, to), "{refusal:?}");
    }
    let r = forward_auth_refusal(&Refusal::Original(OriginalError::Missing));
    let body = String::from_utf8_lossy(&r.body).into_owned();
    assert!(
        body.contains("original_request_unknown") && body.contains("X-Forwarded-Uri"),
        "{body}"
    );
    let r = forward_auth_refusal(&Refusal::Login(LoginError::RateLimited(
        crate::gate::limits::Limited {
            retry_after_secs: 7,
        },
    )));
    assert!(r.headers.contains(&("retry-after", "7".into())), "{r:?}");
    assert!(String::from_utf8_lossy(&r.body).contains("rate_limited"));
}

/// The admin listener's own refusals keep the bodies it has always written.
#[test]
fn admin_refusals_are_the_listeners_wire_answers() {
    let cases = [
        (
            AdminRefusal::NotReady("store down".into()),
            503,
            r#"{"ready":false,"reason":"store down"}"#,
        ),
        (AdminRefusal::NotFound, 404, r#"{"error":"not_found"}"#),
        (
            AdminRefusal::ControlOff,
            404,
            r#"{"error":"disabled","message":"Session control is off: set [admin] token_file."}"#,
        ),
        (
            AdminRefusal::MethodNotAllowed { allow: "POST" },
            405,
            r#"{"error":"method_not_allowed"}"#,
        ),
    ];
    for (r, status, body) in cases {
        let reply = admin_refusal(&r);
        assert_eq!(
            (reply.status, reply.content_type, &reply.body[..]),
            (status, "application/json", body.as_bytes()),
            "{r:?}"
        );
    }
}

#[test]
fn endpoint_refusals_answer_as_documented() {
    let r = endpoint_refusal(
        Form::Page(Lang::En),
        &EndpointRefusal::Method { allow: "GET, POST" },
    );
    assert_eq!(r.status, 405);
    assert!(r.content_type.starts_with("application/json"));
    assert!(r.headers.contains(&("allow", "GET, POST".into())));
    let r = endpoint_refusal(Form::Json(Lang::En), &EndpointRefusal::Method { allow: "" });
    assert!(r.headers.iter().all(|(n, _)| *n != "allow"));
    assert_eq!(
        endpoint_refusal(Form::Page(Lang::En), &EndpointRefusal::NotFound).status,
        404
    );
    let r = endpoint_refusal(Form::Json(Lang::En), &EndpointRefusal::PageFailed);
    assert_eq!(r.status, 500);
    assert!(r.content_type.starts_with("text/html"));
    let r = endpoint_refusal(
        Form::Json(Lang::En),
        &EndpointRefusal::BadForm {
            title: "title-nothing-to-do",
            hint: "form-remove-device",
        },
    );
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.body).contains("bad_form"));
}

#[test]
fn a_proxy_failure_survives_its_trip_through_a_status() {
    for f in [ProxyFailure::SlowBody, ProxyFailure::Client(413)] {
        assert_eq!(ProxyFailure::from_status(f.status()), f);
    }
    assert_eq!(
        proxy_failure(ProxyFailure::from_status(ProxyFailure::BadRequest.status())),
        proxy_failure(ProxyFailure::BadRequest)
    );
}

#[test]
fn denials_answer_as_documented() {
    let r = denial(
        Form::Json(Lang::En),
        &Denial::Unauthenticated {
            realm: "A \"quoted\" app".into(),
            login: "/.qrgate/login".into(),
            resource_metadata: None,
            invalid_token: false,
        },
    );
    assert_eq!(r.status, 401);
    assert!(r.headers.contains(&(
        "www-authenticate",
        "QRGate realm=\"A quoted app\", login=\"/.qrgate/login\"".into()
    )));
    // An app that lets programs in names its resource metadata first, and a refused token.
    let r = denial(
        Form::Json(Lang::En),
        &Denial::Unauthenticated {
            realm: "Wiki".into(),
            login: "/.qrgate/login".into(),
            resource_metadata: Some(
                "https://wiki.example.com/.well-known/oauth-protected-resource".into(),
            ),
            invalid_token: true,
        },
    );
    let challenges: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| *n == "www-authenticate")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        challenges,
        [
            "Bearer realm=\"Wiki\", resource_metadata=\"https://wiki.example.com/.well-known/oauth-protected-resource\", error=\"invalid_token\"",
            "QRGate realm=\"Wiki\", login=\"/.qrgate/login\""
        ]
    );
    let r = denial(
        Form::Page(Lang::En),
        &Denial::LoginRedirect {
            location: "/.qrgate/login?rd=%2F".into(),
        },
    );
    assert_eq!(
        (r.status, r.headers[0].1.as_str()),
        (302, "/.qrgate/login?rd=%2F")
    );
    assert_eq!(
        denial(Form::Page(Lang::En), &Denial::UnknownHost).status,
        404
    );
    assert_eq!(
        denial(
            Form::Json(Lang::En),
            &Denial::Store(StoreError::Unavailable("x".into()))
        )
        .status,
        503
    );
}

#[test]
fn refusals_speak_the_visitors_language_as_pages_and_json() {
    let e = LoginError::Attempt(AttemptError::Expired);
    let page = login_error(Form::Page(Lang::De), &e);
    let body = String::from_utf8_lossy(&page.body);
    assert!(body.contains("<html lang=\"de\" dir=\"ltr\">"), "{body}");
    assert!(body.contains("Anmeldung nicht abgeschlossen"), "{body}");
    assert!(body.contains("abgelaufen"), "{body}");
    let json = login_error(Form::Json(Lang::Fr), &e);
    let body: serde_json::Value = serde_json::from_slice(&json.body).expect("json");
    assert_eq!(body["error"], "expired", "the code stays as it is");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("expiré")),
        "{body}"
    );
    let page = denial(Form::Page(Lang::Ar), &Denial::UnknownHost);
    let body = String::from_utf8_lossy(&page.body);
    assert!(body.contains("<html lang=\"ar\" dir=\"rtl\">"), "{body}");
    assert!(body.contains("غير موجود"), "{body}");
    let page = proxy_failure_reply(Form::Page(Lang::Es), ProxyFailure::Timeout);
    assert_eq!(page.status, 504);
    assert!(String::from_utf8_lossy(&page.body).contains("La aplicación tardó demasiado"));
    // A wait is a duration with the language's plural forms.
    let limited = LoginError::RateLimited(crate::gate::limits::Limited {
        retry_after_secs: 1,
    });
    let body =
        String::from_utf8_lossy(&login_error(Form::Json(Lang::De), &limited).body).into_owned();
    assert!(body.contains("1 Sekunde"), "{body}");
}
