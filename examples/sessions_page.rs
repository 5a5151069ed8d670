//! The person's sessions page against the size of the store, for `bench/run`.
//!
//! `sessions_page serve PORT UPSTREAM OTHERS OUT_DIR [REDIS_URL PREFIX]`: puts OTHERS
//! sessions of 1 000 other people (keys no user of the config has) into the session store
//! through the store API — the memory store, or Redis at REDIS_URL under PREFIX — then one
//! session of alice's, writes her `Cookie` header value to `OUT_DIR/cookie` and the counts and
//! minting time to `OUT_DIR/info.json`, and runs the real gateway (`qrgate::lifecycle::server`: pingora
//! server, proxy on PORT, the store the config names) until SIGTERM. `bench/run` then asks
//! for `GET /.qrgate/sessions` with that cookie: the page lists alice's one session, whatever
//! the others are.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use qrgate_core::clock::Clock;
use qrgate_core::config::{Config, StoreConfig};
use qrgate_core::raw::KeyBytes;
use qrgate_core::session::{Lifetimes, SessionMeta, SessionStore};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ALICE: &str = "17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660";

/// 32 distinct key bytes per other person (none of them a configured user's).
fn key_of(i: usize) -> [u8; 32] {
    let mut k = [0xa5u8; 32];
    k[..8].copy_from_slice(&(i as u64).to_le_bytes());
    k
}

fn meta() -> SessionMeta {
    SessionMeta {
        protocol: "native".into(),
        client_ip: "192.0.2.1".into(),
        browser: "Firefox on Linux".into(),
        ..SessionMeta::default()
    }
}

fn config(port: u16, upstream: &str, redis: Option<(&str, &str)>) -> Config {
    let store = redis.map_or(String::new(), |(url, prefix)| {
        format!("[store]\nbackend = \"redis\"\nurl = \"{url}\"\nprefix = \"{prefix}\"\n")
    });
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:{port}\"]\nthreads = 2\ngrace_period_seconds = 1\n\n[session]\nlifetime_seconds = 86400\nidle_timeout_seconds = 86400\nsweep_interval_seconds = 3600\n\n[limits]\nverify_per_minute = 1000000\n\n{store}\n[[app]]\nname = \"bench\"\norigin = \"http://127.0.0.1:{port}\"\nupstream = \"{upstream}\"\n\n[[user]]\nname = \"alice\"\nkey = \"ed25519_{ALICE}\"\n"
    );
    Config::parse(&text, Path::new("bench.toml")).expect("bench config")
}

/// Mints `others` sessions of other people and then alice's; returns her token.
async fn mint(store: Arc<dyn SessionStore>, others: usize) -> String {
    let app: Arc<str> = Arc::from("bench");
    // A few concurrent writers: Redis answers over one multiplexed connection.
    let writers = 16;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..writers {
        let (store, app) = (store.clone(), app.clone());
        tasks.spawn(async move {
            for i in (w..others).step_by(writers) {
                store
                    .create(app.clone(), KeyBytes::new(key_of(i % 1000)), meta())
                    .await
                    .expect("store answers");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("writer");
    }
    let alice: [u8; 32] = hex::decode(ALICE)
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    store
        .create(app, KeyBytes::new(alice), meta())
        .await
        .expect("store answers")
        .as_str()
        .to_string()
}

fn serve(port: u16, upstream: &str, others: usize, out: &Path, redis: Option<(&str, &str)>) {
    let config = config(port, upstream, redis);
    let cookie_name = config.session.cookie_name.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let t = Instant::now();
    let token = match &config.store {
        StoreConfig::Memory => None,
        StoreConfig::Redis(r) => Some(runtime.block_on(async {
            let link = qrgate::redis::Link::new(r).expect("redis url");
            link.connect().await.expect("redis answers");
            let lifetimes = Lifetimes {
                absolute: Duration::from_secs(86400),
                idle: Duration::from_secs(86400),
            };
            let store = Arc::new(qrgate::redis::sessions::RedisSessions::new(
                link,
                lifetimes,
                Clock::system(),
            ));
            mint(store, others).await
        })),
    };
    let (gateway, shared) =
        qrgate::lifecycle::server::build(config, Clock::system()).expect("gateway");
    let token = token.unwrap_or_else(|| runtime.block_on(mint(gateway.sessions().clone(), others)));
    let minted = t.elapsed();
    drop(runtime);
    std::fs::write(out.join("cookie"), format!("{cookie_name}={token}")).expect("write cookie");
    let info = serde_json::json!({
        "others": others,
        "store": if redis.is_some() { "redis" } else { "memory" },
        "mint_s": minted.as_secs_f64(),
    });
    std::fs::write(out.join("info.json"), info.to_string()).expect("write info");
    qrgate::lifecycle::server::run_shared(gateway, shared, None, false).expect("gateway runs");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let redis = match (args.get(1).map(String::as_str), args.len()) {
        (Some("serve"), 6) => None,
        (Some("serve"), 8) => Some((args[6].as_str(), args[7].as_str())),
        _ => {
            eprintln!("usage: sessions_page serve PORT UPSTREAM OTHERS OUT_DIR [REDIS_URL PREFIX]");
            std::process::exit(2);
        }
    };
    let port = args[2].parse().expect("port");
    let others = args[4].parse().expect("OTHERS");
    serve(port, &args[3], others, Path::new(&args[5]), redis);
}
