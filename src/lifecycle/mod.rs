//! The process's life: starting the server, reloading the config, the binary upgrade and the
//! signals that end the process, the session state file kept across restarts, and the
//! background sweeper.

pub mod reload;
pub mod server;
pub mod state;
pub mod sweeper;
pub mod upgrade;
