//! One handle on the store's connection, whatever the deployment: a connection manager to
//! one server (a URL's, or the primary Sentinel names), or a Redis Cluster connection (which
//! follows the cluster's own failovers and redirections). Commands, pipelines and scripts go
//! through it alike.
//!
//! On a cluster every key carries the prefix's hash tag, so all of them live in one slot; a
//! `SCAN` (which names no key) is sent to that slot's primary, where the keys are.

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr};
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// A cheap, cloneable handle.
#[derive(Clone)]
pub enum Conn {
    /// One server.
    One(ConnectionManager),
    /// A cluster, and the route to the slot every key of this store is in.
    Cluster(ClusterConnection, Route),
}

impl Conn {
    /// A cluster connection for a store whose keys start with `prefix` (with a hash tag).
    pub fn cluster(conn: ClusterConnection, prefix: &str) -> Conn {
        Conn::Cluster(
            conn,
            Route::with_slot(Slot::for_key(prefix), SlotAddr::Master),
        )
    }
}

/// Whether `cmd` is a `SCAN`.
fn is_scan(cmd: &Cmd) -> bool {
    matches!(
        cmd.args_iter().next(),
        Some(redis::Arg::Simple(name)) if name.eq_ignore_ascii_case(b"SCAN")
    )
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::One(c) => c.req_packed_command(cmd),
            Conn::Cluster(c, route) => {
                if is_scan(cmd) {
                    let routing =
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(*route));
                    Box::pin(c.route_command(cmd.clone(), routing))
                } else {
                    c.req_packed_command(cmd)
                }
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::One(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c, _) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::One(c) => c.get_db(),
            Conn::Cluster(c, _) => c.get_db(),
        }
    }
}
