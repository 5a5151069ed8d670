//! The `qrgate` command: run the gateway, check a config, run the demo upstream, and act as
//! a reference signer.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use qrgate::clock::Clock;
use qrgate::config::Config;
use qrgate::proxy::State;

#[derive(Parser)]
#[command(name = "qrgate", version, about = "QR-login authentication gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Run {
        /// Config file.
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
    },
    /// Validate a config file and summarise it.
    CheckConfig {
        /// Config file.
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
    },
    /// Run the demo upstream app that shows the identity headers it receives.
    DemoUpstream {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: String,
    },
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("qrgate: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    match cli.command {
        Command::Run { config } => {
            let config = Config::load(&config)?;
            let state = State::new(config, Clock::system())?;
            qrgate::server::run(state);
            Ok(())
        }
        Command::CheckConfig { config } => {
            let c = Config::load(&config)?;
            println!("ok: {}", config.display());
            for app in &c.apps {
                let signers: Vec<&str> = app.signers.iter().map(|s| s.as_str()).collect();
                println!(
                    "app {}: {} -> {} (hosts {}; public {}; signers {})",
                    app.name,
                    app.origin,
                    app.upstream,
                    app.hosts.join(", "),
                    if app.public_paths.is_empty() { "none".to_string() } else { app.public_paths.join(", ") },
                    signers.join(", "),
                );
            }
            Ok(())
        }
        Command::DemoUpstream { listen } => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                let listener = tokio::net::TcpListener::bind(&listen)
                    .await
                    .with_context(|| format!("binding {listen}"))?;
                tracing::info!(%listen, "demo upstream listening");
                qrgate::demo::serve(listener).await;
                Ok(())
            })
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    // pingora logs through `log`; bridge it so one filter (RUST_LOG) governs both.
    let _ = tracing_log::LogTracer::init();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
