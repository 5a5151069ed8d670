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
    let config = qrgate::config::Config::load(Path::new(&path)).expect("valid config");
    let state = qrgate::proxy::State::new(config, qrgate::clock::Clock::system()).expect("state");
    qrgate::server::run(state);
}
