//! Starting the gateway: a pingora server with the proxy and the sweeper, or — for tests
//! and embedding — the proxy served on a listener the caller already bound.

use std::path::PathBuf;
use std::sync::Arc;

use pingora::apps::ServerApp;
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::protocols::l4::socket::SocketAddr as PingoraSocketAddr;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::GetSocketDigest;
use pingora::protocols::SocketDigest;
use pingora::protocols::Stream;
use pingora::proxy::HttpProxy;
use pingora::server::configuration::Opt;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server, ShutdownWatch};
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use tokio::net::TcpListener;

use qrgate_core::clock::Clock;
use qrgate_core::config::{Config, StoreConfig, BUILTIN_DEMO};
use qrgate_core::gateway::Gateway;
use qrgate_core::session::Lifetimes;

use crate::admin::Admin;
use crate::cli::demo::Builtin;
use crate::conn::event_streams::EventServer;
use crate::conn::guard::Guard;
use crate::conn::tls::Certificates;
use crate::lifecycle::reload::Reloader;
use crate::lifecycle::state::{self, Keeper};
use crate::lifecycle::sweeper::Sweeper;
use crate::lifecycle::upgrade::{Handover, Signals, Successor};
use crate::proxy::tether::Tethered;
use crate::proxy::{Proxy, StartError};
use crate::redis::announcements::Listener;
use crate::redis::attempts::RedisAttempts;
use crate::redis::devices::RedisDevices;
use crate::redis::sessions::RedisSessions;
use crate::redis::Link;

/// pingora's server settings derived from our config.
pub fn server_conf(config: &Config) -> ServerConf {
    ServerConf {
        threads: config.server.threads,
        grace_period_seconds: Some(config.server.grace_period.as_secs()),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    }
}

/// Per-connection socket buffering for downstream connections.
///
/// pingora reads each connection through a 64 KiB buffer by default, which pays off for TLS
/// (16 KiB records) but not for plain HTTP/1: the request head is read into the session's own
/// buffer either way. Login pages hold one connection per waiting browser for minutes (the
/// event stream), so the default would cost 64 KiB per waiting browser. Measured in
/// BENCHMARKS.md (SSE scale and proxy throughput).
pub fn listener_buffers() -> L4BufferSettings {
    L4BufferSettings::default().read(0)
}

/// How long a new process waits for its predecessor's hand-over state before serving
/// without it: pingora's 5 s close timeout plus the predecessor's final write.
const HANDOVER_PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

/// The gateway for `config`, with the store it names, and the Redis parts the server runs
/// (the pub/sub listener) when it names Redis.
pub fn build(config: Config, clock: Clock) -> Result<(Gateway, Option<Shared>), StartError> {
    let lifetimes = Lifetimes {
        absolute: config.session.lifetime,
        idle: config.session.idle_timeout,
    };
    let (gateway, shared) = match config.store.clone() {
        StoreConfig::Memory => (Gateway::new(config, clock)?, None),
        StoreConfig::Redis(redis) => {
            let link = Link::new(&redis)?;
            let sessions = Arc::new(RedisSessions::new(link.clone(), lifetimes, clock.clone()));
            let attempts = Arc::new(RedisAttempts::new(link.clone()));
            tracing::info!(url = %redis.display_url(), prefix = %redis.prefix, "sessions and logins are shared through redis");
            let devices = Arc::new(RedisDevices::new(link.clone()));
            let gateway = Gateway::shared(config, clock, sessions.clone(), attempts, devices)?;
            gateway
                .oidc()
                .use_store(Arc::new(crate::redis::oidc::RedisOidc::new(link.clone())));
            gateway.oidc().use_device_codes(Arc::new(
                crate::redis::device_codes::RedisDeviceCodes::new(link.clone()),
            ));
            (gateway, Some(Shared { link, sessions }))
        }
    };
    crate::oidc::backchannel::install(&gateway)?;
    Ok((gateway, shared))
}

/// What a gateway sharing its state through Redis runs besides the proxy.
pub struct Shared {
    link: Arc<Link>,
    sessions: Arc<RedisSessions>,
}

/// Runs the gateway until SIGTERM/SIGINT (then drains within the grace period). With a
/// config path, `SIGHUP` reloads it and `SIGUSR2` upgrades to the binary on disk. With
/// `upgrade`, takes the listening sockets (and the sessions) over from a running gateway
/// ([`crate::lifecycle::upgrade`]).
pub fn run(
    gateway: Gateway,
    config_path: Option<PathBuf>,
    upgrade: bool,
) -> Result<(), StartError> {
    run_shared(gateway, None, config_path, upgrade)
}

/// [`run`] for a gateway from [`build`].
pub fn run_shared(
    gateway: Gateway,
    shared: Option<Shared>,
    config_path: Option<PathBuf>,
    upgrade: bool,
) -> Result<(), StartError> {
    let gateway = Arc::new(gateway);
    crate::files::assertion_keys::install(&gateway)?;
    crate::oidc::install(&gateway)?;
    let settings = gateway.settings();
    let config = &settings.config;
    let demo = if config.apps.iter().any(|a| a.upstream == BUILTIN_DEMO) {
        let (builtin, addr) = Builtin::bind().map_err(|e| StartError::Upstream {
            app: "(demo)".into(),
            upstream: BUILTIN_DEMO.into(),
            reason: e.to_string(),
        })?;
        Some((builtin, addr))
    } else {
        None
    };
    let proxy = Proxy::with_demo(gateway.clone(), demo.as_ref().map(|(_, a)| *a))?;
    let mut conf = server_conf(config);
    conf.upgrade_sock = config.server.upgrade_sock.to_string_lossy().into_owned();
    let opt = Opt {
        upgrade,
        ..Opt::default()
    };
    // With Redis, sessions outlive every instance by themselves.
    let state_file = match (&config.session.state_file, &shared) {
        (Some(path), Some(_)) => {
            tracing::warn!(path = %path.display(), "session.state_file is not used with the redis store: redis keeps the sessions");
            None
        }
        (None, Some(_)) => None,
        (path, None) => path.clone(),
    };
    // A file this process could not read stops it before it takes the sockets over from a
    // running gateway (which then keeps serving).
    if let Some(path) = &state_file {
        state::read(path)?;
    }
    crate::admin::token::check_at_start(config)?;
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    // With `upgrade`, this waits until the running gateway hands its sockets over.
    server.bootstrap();
    if upgrade {
        tracing::info!(pid = std::process::id(), "took over the listening sockets");
    }
    if let Some(path) = &state_file {
        restore(&gateway, path, upgrade.then(std::time::SystemTime::now))?;
    }
    announce(config);
    gateway
        .metrics()
        .last_reload
        .set(crate::lifecycle::reload::now_secs());

    let app = guarded(&server.configuration, &proxy, config);
    let count_handshakes = app.count_handshakes();
    let mut service = Service::new("qrgate".to_string(), app);
    service.endpoints().set_pre_tls_callback(count_handshakes);
    for addr in &config.server.listen {
        service.add_listener(ListenerConfig::tcp(addr.clone()).l4_buffer(listener_buffers()));
    }
    let certificates = match &config.server.tls {
        Some(files) => Some(Certificates::load(files)?),
        None => None,
    };
    if let Some(certs) = &certificates {
        for addr in &config.server.tls_listen {
            // The same socket buffers as plain listeners: rustls keeps its own read buffer,
            // and pingora's 64 KiB one under it would be held by every waiting login page.
            let listener = ListenerConfig::tcp(addr.clone())
                .tls(certs.listener_settings()?)
                .l4_buffer(listener_buffers());
            service.add_listener(listener);
        }
    }
    server.add_service(service);
    if let Some((builtin, _)) = demo {
        server.add_service(background_service("demo app", builtin));
        quick_start_hint(config);
    }
    let sweeper = Sweeper::new(gateway.clone(), config.session.sweep_interval);
    server.add_service(background_service("session sweeper", sweeper));
    if let Some(addr) = &config.admin.listen {
        let admin = pingora::apps::http_app::HttpServer::new_app(Admin::new(gateway.clone()));
        let mut service = Service::new("qrgate admin".to_string(), admin);
        service.add_tcp(addr);
        tracing::info!(listen = %addr, "serving the admin endpoints");
        server.add_service(service);
    }
    let handover = Handover::default();
    if let Some(Shared { link, sessions }) = shared {
        let listener = Listener::new(link, sessions, gateway.clone());
        server.add_service(background_service("redis listener", listener));
    }
    if let Some(path) = state_file {
        let keeper = Keeper::new(
            gateway.clone(),
            path,
            config.session.state_interval,
            handover.clone(),
        )
        .after_drain(drain_window(config));
        server.add_service(background_service("session state file", keeper));
    }
    server.add_service(background_service("drain", Drain(proxy.clone())));
    server.add_service(background_service("service manager", Ready));
    let successor = match (&config_path, crate::lifecycle::upgrade::own_binary()) {
        (Some(config_file), Some(exe)) => Some(Successor {
            exe,
            config: config_file.clone(),
            upgrade_sock: config.server.upgrade_sock.clone(),
        }),
        _ => None,
    };
    if let Some(path) = config_path {
        server.add_service(background_service(
            "config reload",
            Reloader::new(proxy, path, certificates),
        ));
    }
    server.run(RunArgs {
        shutdown_signal: Box::new(Signals::new(successor, handover)),
    });
    tracing::info!(pid = std::process::id(), "stopped");
    std::process::exit(0)
}

/// Reads the state file before serving and makes it the ledger of the device table. A file
/// that exists but cannot be read whole stops the start (its next write would replace it).
/// With `handover_since` (an upgrade), first waits for the predecessor's last write.
fn restore(
    gateway: &Gateway,
    path: &std::path::Path,
    handover_since: Option<std::time::SystemTime>,
) -> Result<(), StartError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|source| {
            StartError::State(state::StateError::Io {
                path: path.into(),
                source,
            })
        })?;
    let n = rt.block_on(async {
        if let Some(since) = handover_since {
            if state::await_handover(path, since, HANDOVER_PATIENCE).await {
                tracing::info!("the previous process has handed its sessions over");
            } else {
                tracing::warn!(path = %path.display(), "no hand-over from the previous process within 20 s; using the state file as it is");
            }
        }
        state::load(gateway, path).await
    })?;
    // After the hand-over (if any): the previous process writes no more.
    let leftovers = crate::files::private_file::remove_leftovers(path);
    if leftovers > 0 {
        tracing::info!(removed = leftovers, path = %path.display(), "removed temporary copies of the state file left by an interrupted write");
    }
    gateway.devices().keep_in(Arc::new(state::Ledger::new(
        gateway.sessions().clone(),
        path.to_path_buf(),
    )));
    tracing::info!(sessions = n, devices = gateway.devices().len(), path = %path.display(), "sessions restored");
    Ok(())
}

/// Tells open event streams to end when the server starts to shut down.
struct Drain(Proxy);

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for Drain {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        if shutdown.wait_for(|down| *down).await.is_ok() {
            self.0.drain();
        }
    }
}

/// Tells systemd (`Type=notify`) that this process serves and is the service's main process
/// — after an upgrade, the new one is. Without systemd this does nothing.
struct Ready;

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for Ready {
    async fn start(&self, _shutdown: ShutdownWatch) {
        let pid = std::process::id();
        if let Err(e) = sd_notify::notify(&[
            sd_notify::NotifyState::MainPid(pid),
            sd_notify::NotifyState::Ready,
        ]) {
            tracing::warn!(error = %e, "could not notify the service manager");
        }
    }
}

/// Tells a newcomer running the demo what to open and how to sign in.
fn quick_start_hint(config: &Config) {
    for app in config.apps.iter().filter(|a| a.upstream == BUILTIN_DEMO) {
        tracing::info!(
            "demo: open {}/ in a browser; then sign in as alice with the reference signer: \
             target/release/qrgate sign --key demo/alice.key '<the login code shown under the QR>'",
            app.origin
        );
    }
}

/// Says at start what is served where.
fn announce(config: &Config) {
    for addr in &config.server.listen {
        tracing::info!(listen = %addr, "serving HTTP");
    }
    for addr in &config.server.tls_listen {
        tracing::info!(listen = %addr, "serving HTTPS (HTTP/2 and HTTP/1.1)");
    }
    for app in &config.apps {
        tracing::info!(app = %app.name, origin = %app.origin, upstream = %app.upstream, "fronting app");
        if !app.upstream_tls_verify {
            tracing::warn!(app = %app.name, upstream = %app.upstream, "upstream_tls_verify = false: the upstream's certificate is NOT checked");
        }
    }
}

/// The proxy behind the connection guard, its requests tethered to their sessions, as
/// every listener serves it.
pub type App = Guard<Tethered<HttpProxy<Proxy>>>;

/// How long, once the server starts to shut down, a connection may still deliver a request
/// head (served, then closed), and so how long the state file's last write waits for such
/// requests: a connection accepted just before the listener stopped gets its first request
/// answered, not closed unanswered.
///
/// Half the grace period (at most 1 s): the state file's last write, after the window, must
/// still fall inside the grace period, after which pingora stops every task.
pub fn drain_window(config: &Config) -> std::time::Duration {
    (config.server.grace_period / 2).min(std::time::Duration::from_secs(1))
}

/// Wraps the proxy in the connection guard, which hands login event streams to an
/// [`EventServer`] over the same proxy state.
fn guarded(conf: &Arc<ServerConf>, proxy: &Proxy, config: &Config) -> App {
    let http = pingora::proxy::http_proxy(conf, proxy.clone());
    let tethered = Tethered::new(Arc::new(http), proxy.gateway().clone());
    let events = EventServer::new(proxy.clone());
    Guard::new(
        Arc::new(tethered),
        Some(events),
        config,
        drain_window(config),
    )
}

/// The guarded proxy application, for serving on listeners of your own, and a handle to
/// the proxy (for reloads).
pub fn proxy_app(gateway: Arc<Gateway>) -> Result<(Arc<App>, Proxy), StartError> {
    let settings = gateway.settings();
    let conf = Arc::new(server_conf(&settings.config));
    let proxy = Proxy::new(gateway.clone())?;
    let app = guarded(&conf, &proxy, &settings.config);
    Ok((Arc::new(app), proxy))
}

/// Serves the proxy on an already bound listener until `shutdown` turns true.
/// Tests bind port 0 and learn the port before starting the gateway.
pub async fn serve<A: ServerApp + Send + Sync + 'static>(
    app: Arc<A>,
    listener: TcpListener,
    mut shutdown: ShutdownWatch,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let app = app.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let mut stream: L4Stream = tcp.into();
            let digest = SocketDigest::from_raw_fd(std::os::fd::AsRawFd::as_raw_fd(&stream));
            let _ = digest.peer_addr.set(Some(PingoraSocketAddr::Inet(peer)));
            stream.set_socket_digest(digest);
            let mut next: Option<Stream> = Some(Box::new(stream));
            while let Some(s) = next.take() {
                next = app.process_new(s, &shutdown).await;
            }
        });
    }
}
