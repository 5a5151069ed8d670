//! Session table scale for `bench/run`.
//!
//! - `session_table bytes N`: inserts N sessions into the in-memory store and prints the heap
//!   bytes per session (a counting allocator measures live heap bytes exactly).
//! - `session_table serve PORT UPSTREAM N SWEEP_SECONDS COOKIE_FILE`: serves the real gateway
//!   on PORT with N live sessions minted through the store API, sweeping every SWEEP_SECONDS,
//!   and writes one valid `Cookie` header value to COOKIE_FILE; runs until killed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use qrgate::clock::Clock;
use qrgate::config::Config;
use qrgate::proxy::State;
use qrgate::session::{Identity, Lifetimes, MemoryStore, SessionStore};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// 1 000 people share the sessions, as many browsers of the same users would.
fn identities() -> Vec<Arc<Identity>> {
    (0..1000)
        .map(|i| {
            Arc::new(
                Identity::new(format!("user{i}"), format!("{i:0>52}"), "staff".into())
                    .expect("identity"),
            )
        })
        .collect()
}

async fn bytes(n: usize) {
    let ids = identities();
    let store = MemoryStore::new(
        Lifetimes {
            absolute: std::time::Duration::from_secs(3600),
            idle: std::time::Duration::from_secs(3600),
        },
        Clock::system(),
    );
    let before = LIVE.load(Ordering::Relaxed);
    for i in 0..n {
        let _ = store.create(0, ids[i % ids.len()].clone()).await;
    }
    let after = LIVE.load(Ordering::Relaxed);
    println!(
        "{}",
        serde_json::json!({ "sessions": store.len(), "heap_bytes": after - before, "bytes_per_session": (after - before) as f64 / n as f64 })
    );
}

async fn serve(port: u16, upstream: &str, n: usize, sweep_secs: u64, cookie_file: &str) {
    let text = format!(
        "[session]\nlifetime_seconds = 86400\nidle_timeout_seconds = 86400\nsweep_interval_seconds = {sweep_secs}\n\n[[app]]\nname = \"bench\"\norigin = \"http://127.0.0.1:{port}\"\nupstream = \"{upstream}\"\n\n[[user]]\nname = \"alice\"\nkey = \"ed25519_17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660\"\n"
    );
    let config = Config::parse(&text, Path::new("bench.toml")).expect("bench config");
    let state = Arc::new(State::new(config, Clock::system()).expect("state"));
    let ids = identities();
    let mut cookie = String::new();
    for i in 0..n {
        let token = state.sessions.create(0, ids[i % ids.len()].clone()).await;
        if i == n / 2 {
            cookie = format!("{}={}", state.config.session.cookie_name, token.as_str());
        }
    }
    std::fs::write(cookie_file, cookie).expect("write cookie");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let sweeper = qrgate::sweeper::Sweeper::new(state.clone(), state.config.session.sweep_interval);
    let sweeping = rx.clone();
    tokio::spawn(async move {
        use pingora::services::background::BackgroundService;
        sweeper.start(sweeping).await;
    });
    qrgate::server::serve(qrgate::server::proxy_app(state), listener, rx).await;
}

#[tokio::main(worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("bytes") => {
            bytes(
                args.get(2)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1_000_000),
            )
            .await
        }
        Some("serve") if args.len() == 7 => {
            let port = args[2].parse().expect("port");
            let n = args[4].parse().expect("N");
            let sweep = args[5].parse().expect("sweep seconds");
            serve(port, &args[3], n, sweep, &args[6]).await;
        }
        _ => {
            eprintln!("usage: session_table bytes N | session_table serve PORT UPSTREAM N SWEEP_SECONDS COOKIE_FILE");
            std::process::exit(2);
        }
    }
}
