//! What the gateway does with each request that is not one of its own endpoints: the
//! decision (forward, login redirect, 401, error), forward-auth's judgement for a fronting
//! proxy, who the client is and its rate limits, and the header edits on what is forwarded.

pub mod decision;
pub(crate) mod forward_auth;
pub mod limits;
pub mod program;
pub mod upstream;
