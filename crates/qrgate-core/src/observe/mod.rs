//! What the gateway tells its operators: the audit trail and the Prometheus metrics.

pub mod audit;
pub(crate) mod metrics;
