//! The HTTP vocabulary the gateway speaks, with no state and no store: request paths, heads,
//! cookies, content negotiation, origins, return paths, replies and their bytes on the wire,
//! the facts of one request, and the table of the gateway's own routes.
//!
//! Nothing here imports another folder of the crate (a tidy test keeps it so): every rule
//! above is built on these words.

pub(crate) mod agent;
pub mod cookies;
pub mod head;
pub(crate) mod method_override;
pub mod negotiate;
pub mod origin;
pub mod path;
pub mod redirect;
pub mod reply;
pub mod request;
pub mod route;
pub(crate) mod shown;
pub mod wire;
