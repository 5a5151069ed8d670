//! Ending a single sign-on family's sessions: the SSO session (the family's root, whose
//! [`session_id`] is the family's id) and every app session made from it
//! (`SessionMeta::family`).
//!
//! Every member of a family carries the root's signing key (an app session redeemed from a
//! code is made for the key of the SSO session that issued it), so the members are read
//! through the store's per-key index, which each store keeps in the same step as the session
//! (memory: under the index entry's lock; Redis: one Lua script), and never by reading the
//! whole store. Each revocation goes through [`Gateway::revoke_session`], so tethered
//! connections are woken here and, with Redis, every instance hears it on the revocation
//! channel and drops what it cached.

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

/// Ends every live session of family `family` (whose members carry `key`); `by` says who
/// asked, for the audit trail. Returns how many ended.
pub async fn end_sessions(
    gw: &Gateway,
    key: &KeyBytes,
    family: &str,
    by: &str,
) -> Result<usize, StoreError> {
    let mut ended = 0;
    for (hash, r) in gw.sessions().of_keys(&[*key]).await? {
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
