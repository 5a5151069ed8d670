//! An app that lets programs in, described to them: its OAuth 2.0 Protected Resource Metadata
//! (RFC 9728) at `/.well-known/oauth-protected-resource`, naming the SSO origin as its
//! authorization server, so a client that meets its 401 finds where to get a token.

use serde_json::json;

use crate::config::AppId;
use crate::http::reply::{Form, Reply};
use crate::oidc::device::AppScope;
use crate::settings::Settings;
use crate::web::respond::{self, EndpointRefusal};

/// `GET /.well-known/oauth-protected-resource` on an app with `programs = true`.
pub(crate) fn metadata(s: &Settings, app: AppId) -> Reply {
    let Some(sso) = s.config.sso.as_ref() else {
        return respond::endpoint_refusal(
            Form::Json(crate::i18n::Lang::En),
            &EndpointRefusal::NotFound,
        );
    };
    let a = s.app(app);
    Reply::json(
        200,
        &json!({
            "resource": a.origin.to_string(),
            "resource_name": a.name,
            "authorization_servers": [sso.origin.to_string()],
            "bearer_methods_supported": ["header"],
            "scopes_supported": [AppScope::token(&a.name, false, None), AppScope::token(&a.name, true, None)],
        }),
    )
}
