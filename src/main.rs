//! The `qrgate` command: run the gateway, check a config, run the demo upstream, and act as
//! a reference signer.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use qrgate::cli::signer::{self, Key};
use qrgate_core::clock::Clock;
use qrgate_core::config::LogFormat;

// glibc's allocator serializes on arena locks when tokio moves a request between worker
// threads (allocated on one, freed on another); mimalloc does not. Measured in BENCHMARKS.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        /// Take the listening sockets and sessions over from a running gateway (which then
        /// gets SIGQUIT). `SIGUSR2` to the running gateway does all of this by itself.
        #[arg(long)]
        upgrade: bool,
    },
    /// Validate a config file and summarise it.
    CheckConfig {
        /// Config file.
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
    },
    /// Create a signing key (file mode 0600) and print its public key.
    Keygen {
        /// Where to write the secret key.
        #[arg(long, default_value = "qrgate.key")]
        out: PathBuf,
    },
    /// Act as the phone: scan a login code, show what is asked, approve (or reject) it.
    Sign {
        /// Secret key file from `qrgate keygen`.
        #[arg(long)]
        key: PathBuf,
        /// The QR payload (the login URL, or a qrgate:// link).
        payload: String,
        /// Approve without asking.
        #[arg(long)]
        yes: bool,
        /// Reject instead of approving.
        #[arg(long, conflicts_with = "yes")]
        reject: bool,
    },
    /// List or end live sessions, through the admin listener's session API.
    Sessions {
        /// Config file (for `[admin] listen` and `token_file`).
        #[arg(long, default_value = "config.toml", global = true)]
        config: PathBuf,
        #[command(subcommand)]
        action: SessionsAction,
    },
    /// List or remove devices enrolled by invitation, through the admin listener.
    Devices {
        /// Config file (for `[admin] listen` and `token_file`).
        #[arg(long, default_value = "config.toml", global = true)]
        config: PathBuf,
        #[command(subcommand)]
        action: DevicesAction,
    },
    /// List or revoke programs' tokens (device logins and OpenID Connect grants), through
    /// the admin listener.
    Tokens {
        /// Config file (for `[admin] listen` and `token_file`).
        #[arg(long, default_value = "config.toml", global = true)]
        config: PathBuf,
        #[command(subcommand)]
        action: TokensAction,
    },
    /// Make a one-time link that enrolls a phone's browser as a signing device of a
    /// configured user; prints it and shows it as a QR code to scan with that phone.
    Invite {
        /// Config file (for `[admin] listen` and `token_file`).
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// The configured user the device will sign in as.
        #[arg(long)]
        user: String,
        /// An app the device will sign in to; repeat for several. The link is on the first
        /// one's origin (default: the default app, else the first app).
        #[arg(long)]
        app: Vec<String>,
        /// How long the link works, e.g. `15m`, `2h` (1 minute to 24 hours).
        #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
        ttl: std::time::Duration,
    },
    /// Sign a program in to an app by phone (the device authorization grant): shows a link
    /// and a QR code to approve on the phone, then keeps the token (mode 0600) for
    /// `qrgate token`, or prints it.
    Login {
        /// The gateway's SSO origin, e.g. https://id.example.com.
        #[arg(long)]
        sso: String,
        /// The app the program acts on.
        #[arg(long)]
        app: String,
        /// Read access only.
        #[arg(long)]
        read: bool,
        /// Only under this path prefix of the app (e.g. /api/).
        #[arg(long)]
        path: Option<String>,
        /// No refresh token: the access token alone (one hour).
        #[arg(long)]
        no_refresh: bool,
        /// Where to keep the token (default: ~/.config/qrgate/tokens/APP.json).
        #[arg(long, conflicts_with = "print")]
        token_file: Option<PathBuf>,
        /// Print the access token on standard output instead of keeping it.
        #[arg(long)]
        print: bool,
    },
    /// Print a live access token that `qrgate login` kept, refreshing it when it is about to
    /// expire: curl -H "Authorization: Bearer $(qrgate token --app Wiki)" ...
    Token {
        /// The app it was made for.
        #[arg(long, required_unless_present = "token_file")]
        app: Option<String>,
        /// The token file (default: ~/.config/qrgate/tokens/APP.json).
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
    /// Run the demo upstream app that shows the identity headers it receives.
    DemoUpstream {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: String,
    },
}

/// Which sessions a `sessions` command applies to.
#[derive(clap::Args)]
struct Which {
    /// A session id (as `sessions list` shows it).
    #[arg(long)]
    id: Option<String>,
    /// Every session of this user.
    #[arg(long)]
    user: Option<String>,
    /// Every session of this key (z-base32 or hex): the lost-phone case.
    #[arg(long)]
    key: Option<String>,
    /// Every session on this app.
    #[arg(long)]
    app: Option<String>,
}

impl From<Which> for qrgate::cli::admin_client::Selection {
    fn from(w: Which) -> Self {
        Self {
            id: w.id,
            user: w.user,
            key: w.key,
            app: w.app,
        }
    }
}

#[derive(Subcommand)]
enum SessionsAction {
    /// List live sessions (all, or those selected).
    List(Which),
    /// End the selected sessions (at least one of --id, --user, --key, --app).
    Revoke(Which),
}

/// Which devices a `devices` command applies to.
#[derive(clap::Args)]
struct WhichDevice {
    /// A device id (as `devices list` shows it).
    #[arg(long)]
    id: Option<String>,
    /// Every device of this user.
    #[arg(long)]
    user: Option<String>,
    /// The device with this key (z-base32 or hex).
    #[arg(long)]
    key: Option<String>,
}

impl From<WhichDevice> for qrgate::cli::admin_client::Selection {
    fn from(w: WhichDevice) -> Self {
        Self {
            id: w.id,
            user: w.user,
            key: w.key,
            app: None,
        }
    }
}

#[derive(Subcommand)]
enum TokensAction {
    /// List live tokens (all, or one user's).
    List {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke one token by its id (as `tokens list` shows it), on every instance.
    Revoke {
        /// The token's id.
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
enum DevicesAction {
    /// List enrolled devices (all, or those selected).
    List(WhichDevice),
    /// Remove the selected devices and end their sessions (at least one of --id, --user,
    /// --key).
    Revoke(WhichDevice),
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("qrgate: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config, upgrade } => {
            let loaded = qrgate::files::config_file::load(&config)?;
            init_tracing(loaded.log.format);
            let (gateway, shared) = qrgate::lifecycle::server::build(loaded, Clock::system())?;
            qrgate::lifecycle::server::run_shared(gateway, shared, Some(config), upgrade)?;
            Ok(())
        }
        Command::Sessions { config, action } => {
            init_tracing(LogFormat::Text);
            let config = qrgate::files::config_file::load(&config)?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                match action {
                    SessionsAction::List(which) => {
                        print!(
                            "{}",
                            qrgate::cli::admin_client::list(&config, &which.into()).await?
                        );
                    }
                    SessionsAction::Revoke(which) => {
                        if which.id.is_none()
                            && which.user.is_none()
                            && which.key.is_none()
                            && which.app.is_none()
                        {
                            anyhow::bail!("say which sessions: --id, --user, --key or --app");
                        }
                        let n = qrgate::cli::admin_client::revoke(&config, &which.into()).await?;
                        println!("revoked {n} session(s)");
                    }
                }
                Ok(())
            })
        }
        Command::Devices { config, action } => {
            init_tracing(LogFormat::Text);
            let config = qrgate::files::config_file::load(&config)?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                match action {
                    DevicesAction::List(which) => {
                        print!(
                            "{}",
                            qrgate::cli::admin_client::list_devices(&config, &which.into()).await?
                        );
                    }
                    DevicesAction::Revoke(which) => {
                        if which.id.is_none() && which.user.is_none() && which.key.is_none() {
                            anyhow::bail!("say which devices: --id, --user or --key");
                        }
                        let (devices, sessions) =
                            qrgate::cli::admin_client::revoke_devices(&config, &which.into())
                                .await?;
                        println!("removed {devices} device(s), ended {sessions} session(s)");
                    }
                }
                Ok(())
            })
        }
        Command::Tokens { config, action } => {
            init_tracing(LogFormat::Text);
            let config = qrgate::files::config_file::load(&config)?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                match action {
                    TokensAction::List { user } => print!(
                        "{}",
                        qrgate::cli::admin_client::list_tokens(&config, user.as_deref()).await?
                    ),
                    TokensAction::Revoke { id } => {
                        let n = qrgate::cli::admin_client::revoke_token(&config, &id).await?;
                        println!("revoked {n} token(s)");
                    }
                }
                Ok(())
            })
        }
        Command::Invite {
            config,
            user,
            app,
            ttl,
        } => {
            init_tracing(LogFormat::Text);
            let config = qrgate::files::config_file::load(&config)?;
            let rt = tokio::runtime::Runtime::new()?;
            let invited =
                rt.block_on(qrgate::cli::admin_client::invite(&config, &user, &app, ttl))?;
            print!("{invited}");
            Ok(())
        }
        Command::Login {
            sso,
            app,
            read,
            path,
            no_refresh,
            token_file,
            print,
        } => {
            let req = qrgate::cli::login::LoginRequest {
                sso,
                app: app.clone(),
                read_only: read,
                prefix: path,
                refresh: !no_refresh,
            };
            let path = match (print, token_file) {
                (true, _) => None,
                (false, Some(p)) => Some(p),
                (false, None) => Some(qrgate::cli::login::default_path(&app).ok_or_else(|| {
                    anyhow::anyhow!("no HOME to keep the token in: give --token-file")
                })?),
            };
            let rt = tokio::runtime::Runtime::new()?;
            let token = rt.block_on(qrgate::cli::login::login(&req, |text| eprintln!("{text}")))?;
            match path {
                None => println!("{}", token.access_token),
                Some(p) => {
                    qrgate::cli::login::save(&p, &token)?;
                    eprintln!("Signed in; the token is kept in {}", p.display());
                }
            }
            Ok(())
        }
        Command::Token { app, token_file } => {
            let path = match (token_file, app) {
                (Some(p), _) => p,
                (None, Some(app)) => qrgate::cli::login::default_path(&app)
                    .ok_or_else(|| anyhow::anyhow!("no HOME: give --token-file"))?,
                (None, None) => anyhow::bail!("say which token: --app or --token-file"),
            };
            let rt = tokio::runtime::Runtime::new()?;
            println!("{}", rt.block_on(qrgate::cli::login::token(&path))?);
            Ok(())
        }
        Command::CheckConfig { config } => {
            init_tracing(LogFormat::Text);
            let c = qrgate::files::config_file::load(&config)?;
            // What `run` would refuse, said now.
            let token_note = match qrgate::admin::token::check_at_start(&c) {
                // Root checking a service's config cannot know the service's user (as for
                // the state file below).
                Err(qrgate::admin::token::TokenError::Unusable {
                    path,
                    reason: qrgate::files::private_file::ReadError::Owner { owner, me: 0 },
                }) => Some(format!(
                    "admin token file {path}: owned by uid {owner}; only a gateway running as \
                     uid {owner} uses it (run as root, or as anyone else, it refuses it)"
                )),
                Err(e) => return Err(e.into()),
                Ok(()) => None,
            };
            let state = match (&c.session.state_file, &c.store) {
                (Some(path), qrgate_core::config::StoreConfig::Memory) => {
                    match qrgate::lifecycle::state::read(path) {
                        Ok(None) => Some(format!("state file {}: none yet", path.display())),
                        Ok(Some(contents)) => {
                            let (sessions, devices) = contents.counts();
                            Some(format!(
                                "state file {}: {sessions} session(s), {devices} device(s)",
                                path.display()
                            ))
                        }
                        // Root checking a service's config (its state file is the service
                        // user's, e.g. systemd's DynamicUser): the owner is only wrong if the
                        // gateway does not run as that user, which root cannot know.
                        Err(qrgate::lifecycle::state::StateError::Unsafe {
                            reason: qrgate::files::private_file::ReadError::Owner { owner, me: 0 },
                            ..
                        }) => Some(format!(
                            "state file {}: owned by uid {owner}; only a gateway running as uid \
                             {owner} reads it (run as root, or as anyone else, it refuses it)",
                            path.display()
                        )),
                        Err(e) => anyhow::bail!("{e}\n{}", e.way_out()),
                    }
                }
                _ => None,
            };
            println!("ok: {}", config.display());
            for app in &c.apps {
                let signers: Vec<&str> = app.signers.iter().map(|s| s.name()).collect();
                println!(
                    "app {}: {} -> {} (hosts {}; public {}; signers {})",
                    app.name,
                    app.origin,
                    app.upstream,
                    app.hosts.join(", "),
                    if app.public_paths.is_empty() {
                        "none".to_string()
                    } else {
                        app.public_paths
                            .iter()
                            .map(|p| p.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                    signers.join(", "),
                );
            }
            if let Some(sso) = &c.sso {
                println!("sso {}: issuer {}", sso.name, sso.origin);
                // Which apps sign in there, and which keep their own approval and why.
                for (id, app) in c.app_ids() {
                    match qrgate_core::oidc::apps::takes_part(&c, id) {
                        Ok(()) => println!("sso app {}: signs in at {}", app.name, sso.origin),
                        Err(qrgate_core::oidc::apps::OwnApproval::SsoOrigin) => {}
                        Err(why) => {
                            println!("sso app {}: its own approval ({})", app.name, why.reason())
                        }
                    }
                }
            }
            for client in &c.oidc_clients {
                println!(
                    "oidc client {} ({}): {}, {}, redirect {}",
                    client.id,
                    client.name,
                    if client.is_public() {
                        "public"
                    } else {
                        "confidential"
                    },
                    client.id_token_alg.as_str(),
                    client.redirect_uris.join(", "),
                );
            }
            for note in [token_note, state].into_iter().flatten() {
                println!("{note}");
            }
            Ok(())
        }
        Command::Keygen { out } => {
            init_tracing(LogFormat::Text);
            let key = Key::generate();
            key.save(&out)
                .with_context(|| format!("writing {}", out.display()))?;
            let public = key.public();
            println!("wrote {} (keep it secret)", out.display());
            println!("public key (z-base32): {}", public.to_z32());
            println!("public key (hex):      ed25519_{}", public.to_hex());
            Ok(())
        }
        Command::Sign {
            key,
            payload,
            yes,
            reject,
        } => {
            init_tracing(LogFormat::Text);
            let key = Key::load(&key)?;
            let url = signer::attempt_url(&payload)?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                let client = reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(15))
                    .build()?;
                let req = signer::scan(&client, &url).await?;
                match &req.action {
                    Some(action) => {
                        println!("NOT A SIGN-IN. Confirm: {action}");
                        println!("App:         {}", req.app);
                    }
                    None => println!("Sign in to:  {}", req.app),
                }
                println!("Origin:      {}", req.origin);
                println!(
                    "Requested by {} ({})",
                    req.requester_agent, req.requester_ip
                );
                let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(req.issued_at);
                println!(
                    "Requested at {} (expires {})",
                    httpdate::fmt_http_date(at),
                    httpdate::fmt_http_date(
                        std::time::UNIX_EPOCH + std::time::Duration::from_secs(req.expires_at)
                    )
                );
                if let Some(access) = &req.access {
                    println!("Access:      {access}");
                }
                if reject {
                    signer::reject(&client, &url).await?;
                    println!("Rejected.");
                    return Ok(());
                }
                let question = match &req.action {
                    Some(action) => format!("Approve: {action}? [y/N] "),
                    None => "Approve this sign-in? [y/N] ".to_string(),
                };
                if !yes && !confirm(&question)? {
                    signer::reject(&client, &url).await?;
                    println!("Rejected.");
                    return Ok(());
                }
                let user = signer::approve(&client, &url, &key, &req).await?;
                match &req.action {
                    Some(action) => println!("Approved as {user}: {action}."),
                    None => println!("Approved: signed in as {user}."),
                }
                Ok(())
            })
        }
        Command::DemoUpstream { listen } => {
            init_tracing(LogFormat::Text);
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                let listener = tokio::net::TcpListener::bind(&listen)
                    .await
                    .with_context(|| format!("binding {listen}"))?;
                tracing::info!(%listen, "demo upstream listening");
                qrgate::cli::demo::serve(listener).await;
                Ok(())
            })
        }
    }
}

fn confirm(prompt: &str) -> anyhow::Result<bool> {
    use std::io::Write;
    print!("{prompt}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // pingora logs through `log`; bridge it so one filter (RUST_LOG) governs both. The bridge
    // only admits levels the filter can enable: otherwise every disabled `log::debug!` in
    // pingora's per-request path would still cross into tracing before being dropped.
    let max = filter
        .max_level_hint()
        .unwrap_or(tracing::level_filters::LevelFilter::TRACE);
    let _ = tracing_log::LogTracer::builder()
        .with_max_level(tracing_log::AsLog::as_log(&max))
        .init();
    // Colours only for a terminal: journald and log files get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        // One JSON object per line: time, level, target ("audit" for the audit trail) and
        // the event's fields at the top level.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
