//! The gateway exactly as `qrgate run` starts it, but on the system allocator, for heap
//! profilers that only see `malloc` (valgrind's dhat, used by `bench/profile`); the qrgate
//! binary itself uses mimalloc.
//!
//! Usage: `gateway_sysalloc CONFIG_FILE`.

use std::path::Path;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: gateway_sysalloc CONFIG_FILE");
        std::process::exit(2);
    };
    let config = qrgate::files::config_file::load(Path::new(&path)).expect("valid config");
    let gateway = qrgate_core::gateway::Gateway::new(config, qrgate_core::clock::Clock::system())
        .expect("gateway");
    qrgate::lifecycle::server::run(gateway, None, false).expect("upstreams resolve");
}
