//! Programs' tokens as lists show them, and their revocation: each grant of the OpenID
//! Connect provider (a device login's, or a relying party's) is one entry, never a token.
//! Revoking one ends its refresh and access tokens in the store (every instance reads them
//! there, so at once everywhere), and its client is told by back-channel when it has a URI.

use serde::Serialize;

use crate::gateway::Gateway;
use crate::oidc::device::AppScope;
use crate::oidc::store::Grant;
use crate::settings::Settings;

use super::ControlError;

/// One grant as lists show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TokenView {
    /// The grant's id (what revocation names).
    pub id: String,
    /// Its person.
    pub user: String,
    /// The client's id (`qrgate-cli`, or a configured client).
    pub client: String,
    /// The client's display name.
    pub client_name: String,
    /// A personal token's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What it may do: each app with its access ("Wiki: read"), or the scopes of a sign-in.
    pub grant: Vec<String>,
    /// Made then, seconds since the epoch (0: unknown).
    pub created_at: u64,
    /// Ends then (its last refresh), seconds since the epoch.
    pub expires_at: u64,
    /// Where the client asked from.
    pub from: String,
    /// When one of its tokens was last used on a proxied request, seconds since the epoch
    /// (to the minute; absent: not since it was made).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<u64>,
    /// From which address it was last used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_from: Option<String>,
    /// The key (z-base32) that approved it on the phone, for a device login's grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
}

fn view(s: &Settings, g: &Grant) -> TokenView {
    let apps: Vec<String> = g
        .scope
        .iter()
        .filter_map(|x| AppScope::parse(x))
        .map(|a| {
            let access = crate::login::signers::program::access(a.read_only);
            match a.prefix {
                Some(p) => format!("{}: {access} under {}", a.app, p.as_str()),
                None => format!("{}: {access}", a.app),
            }
        })
        .collect();
    let grant = if apps.is_empty() {
        g.scope.clone()
    } else {
        apps
    };
    TokenView {
        id: g.id.clone(),
        user: g.user.clone(),
        client: g.client_id.clone(),
        client_name: s
            .config
            .oidc_client(&g.client_id)
            .map_or_else(|| g.client_id.clone(), |c| c.name.clone()),
        name: (!g.name.is_empty()).then(|| g.name.clone()),
        grant,
        created_at: g.created_ms / 1000,
        expires_at: g.expires_ms / 1000,
        from: g.from.clone(),
        last_used_at: (g.last_used_ms > 0).then_some(g.last_used_ms / 1000),
        last_used_from: (g.last_used_ms > 0 && !g.last_from.is_empty())
            .then(|| g.last_from.clone()),
        approved_by: g
            .family
            .strip_prefix("key:")
            .and_then(crate::raw::KeyBytes::from_hex)
            .map(|k| z32::encode(k.as_bytes())),
    }
}

/// The live grants of `user` (every configured user when `None`), oldest first per user.
pub async fn list_tokens(
    gw: &Gateway,
    s: &Settings,
    user: Option<&str>,
) -> Result<Vec<TokenView>, ControlError> {
    let clients: Vec<String> = s.config.oidc_clients.iter().map(|c| c.id.clone()).collect();
    let users: Vec<&str> = match user {
        Some(u) => vec![u],
        None => s.config.users.iter().map(|u| u.name.as_str()).collect(),
    };
    let now_ms = gw.clock().now_millis();
    let mut out = Vec::new();
    for u in users {
        for g in gw.oidc().store().grants_of(u, &clients, now_ms).await? {
            out.push(view(s, &g));
        }
    }
    Ok(out)
}

/// Revokes grant `id`, if it is live (and `user`'s, when one is named: a person revokes only
/// their own); audited, its client told. Returns how many ended (0 or 1).
pub async fn revoke_token(
    gw: &Gateway,
    s: &Settings,
    id: &str,
    user: Option<&str>,
    by: &str,
) -> Result<usize, ControlError> {
    if let Some(user) = user {
        let own = list_tokens(gw, s, Some(user)).await?;
        if !own.iter().any(|t| t.id == id) {
            return Ok(0);
        }
    }
    let Some(ended) = gw.oidc().store().revoke_grant(id).await? else {
        return Ok(0);
    };
    let now_ms = gw.clock().now_millis();
    crate::observe::audit::oidc(
        "oidc_grant_revoked",
        &ended.client_id,
        &ended.user,
        &ended.id,
        by,
        None,
    );
    gw.oidc()
        .ended(&s.config, std::slice::from_ref(&ended), now_ms);
    Ok(1)
}
