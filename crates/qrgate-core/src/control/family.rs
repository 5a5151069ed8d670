//! Ending a single sign-on family's sessions: the SSO session (the family's root, whose
//! [`session_id`] is the family's id) and every app session made from it
//! (`SessionMeta::family`).
//!
//! The members are read through the store's per-family index
//! ([`SessionStore::of_family`](crate::session::SessionStore::of_family)), kept in the same
//! step as the session (memory: under the index entries' locks; Redis: one Lua script), and
//! never by reading the whole store. The root is found through its key's index (every member
//! carries the SSO session's key: an app session redeemed from a code is made for the key of
//! the SSO session that issued it). Each
//! revocation goes through `Gateway::revoke_session`, so tethered connections are woken here
//! and, with Redis, every instance hears it on the revocation channel and drops what it
//! cached.

use crate::gateway::Gateway;
use crate::observe::audit;
use crate::raw::KeyBytes;
use crate::session::{session_id, SessionRecord, StoreError, TokenHash};

/// Whether session `hash` belongs to family `family`: its root, or made from it.
pub fn member(hash: &TokenHash, record: &SessionRecord, family: &str) -> bool {
    match &record.meta.family {
        Some(f) => f == family,
        None => session_id(hash) == family,
    }
}

/// Ends every live session made from family `family`, and with `key` (the SSO session's)
/// its root too; without, the SSO session is left to whoever holds it (a relying party's
/// logout naming the sign-on from another browser). `by` says who asked, for the audit
/// trail. Returns how many ended.
pub async fn end_sessions(
    gw: &Gateway,
    key: Option<&KeyBytes>,
    family: &str,
    by: &str,
) -> Result<usize, StoreError> {
    let mut found = gw.sessions().of_family(family).await?;
    if let Some(key) = key {
        found.extend(gw.sessions().of_keys(&[*key]).await?);
    }
    found.sort_unstable_by_key(|(h, _)| *h);
    found.dedup_by_key(|(h, _)| *h);
    let mut ended = 0;
    for (hash, r) in found {
        if member(&hash, &r, family) && gw.revoke_session(&hash).await? {
            audit::revoked(
                &r.app,
                &z32::encode(r.key.as_bytes()),
                &session_id(&hash),
                by,
            );
            ended += 1;
        }
    }
    Ok(ended)
}
