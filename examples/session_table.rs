//! Session table scale for `bench/run`.
//!
//! - `session_table bytes N`: inserts N sessions into the in-memory store and prints the heap
//!   bytes per session (a counting allocator measures live heap bytes exactly) and the RSS
//!   growth per session as a cross-check.
//! - `session_table serve PORT UPSTREAM N SWEEP_SECONDS OUT_DIR`: mints N live sessions
//!   through the store API, times one sweep over them, writes a valid `Cookie` header value
//!   to `OUT_DIR/cookie` and the timing to `OUT_DIR/info.json`, then runs the real gateway
//!   (`qrgate::lifecycle::server::run`: pingora server, proxy on PORT, the sweeper as a background
//!   service every SWEEP_SECONDS) until SIGTERM.

use std::alloc::{GlobalAlloc, Layout};

use mimalloc::MiMalloc;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qrgate_core::clock::Clock;
use qrgate_core::config::{AppId, Config};
use qrgate_core::gateway::Gateway;
use qrgate_core::identity::Identity;
use qrgate_core::raw::KeyBytes;
use qrgate_core::session::{Lifetimes, MemoryStore, SessionStore};

/// Counts live heap bytes on top of the allocator the qrgate binary uses.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { MiMalloc.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn rss_bytes() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb * 1024.0)
}

/// 1 000 people share the sessions, as many browsers of the same users would.
fn identities() -> Vec<Arc<Identity>> {
    (0..1000)
        .map(|i| {
            Arc::new(
                Identity::new(
                    format!("user{i}"),
                    &KeyBytes::new(key_of(i)),
                    "staff".into(),
                )
                .expect("identity"),
            )
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// 32 distinct key bytes per person.
fn key_of(i: usize) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..8].copy_from_slice(&(i as u64).to_le_bytes());
    k
}

fn bytes(n: usize) {
    let ids = identities();
    let app: std::sync::Arc<str> = std::sync::Arc::from("bench");
    let store = MemoryStore::new(
        Lifetimes {
            absolute: Duration::from_secs(3600),
            idle: Duration::from_secs(3600),
        },
        Clock::system(),
    );
    let (heap_before, rss_before) = (LIVE.load(Ordering::Relaxed), rss_bytes());
    runtime().block_on(async {
        for i in 0..n {
            let _ = store
                .create(app.clone(), ids[i % ids.len()].key, Default::default())
                .await;
        }
    });
    let (heap, rss) = (
        LIVE.load(Ordering::Relaxed) - heap_before,
        rss_bytes() - rss_before,
    );
    println!(
        "{}",
        serde_json::json!({
            "sessions": store.len(),
            "heap_bytes": heap,
            "bytes_per_session": heap as f64 / n as f64,
            "rss_bytes_per_session": rss / n as f64,
        })
    );
}

fn serve(port: u16, upstream: &str, n: usize, sweep_secs: u64, out: &Path) {
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:{port}\"]\nthreads = 2\ngrace_period_seconds = 1\n\n[session]\nlifetime_seconds = 86400\nidle_timeout_seconds = 86400\nsweep_interval_seconds = {sweep_secs}\n\n[[app]]\nname = \"bench\"\norigin = \"http://127.0.0.1:{port}\"\nupstream = \"{upstream}\"\n\n[[user]]\nname = \"alice\"\nkey = \"ed25519_17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660\"\n"
    );
    let config = Config::parse(&text, Path::new("bench.toml")).expect("bench config");
    let state = Gateway::new(config, Clock::system()).expect("gateway");
    let ids = identities();
    let settings = state.settings();
    let app = settings.app(AppId::new(0)).key.clone();
    let (cookie, sweep) = runtime().block_on(async {
        let mut cookie = String::new();
        for i in 0..n {
            let token = state
                .sessions()
                .create(app.clone(), ids[i % ids.len()].key, Default::default())
                .await
                .expect("memory store");
            if i == n / 2 {
                cookie = format!("{}={}", settings.config.session.cookie_name, token.as_str());
            }
        }
        // One sweep over the full table, none expired: what each background pass costs.
        let t = Instant::now();
        state.sweep().await;
        (cookie, t.elapsed())
    });
    std::fs::write(out.join("cookie"), cookie).expect("write cookie");
    let info = serde_json::json!({
        "sessions": state.sessions().len(),
        "sweep_ms": sweep.as_secs_f64() * 1000.0,
    });
    std::fs::write(out.join("info.json"), info.to_string()).expect("write info");
    qrgate::lifecycle::server::run(state, None, false).expect("upstream resolves");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("bytes") => bytes(
            args.get(2)
                .and_then(|n| n.parse().ok())
                .unwrap_or(1_000_000),
        ),
        Some("serve") if args.len() == 7 => {
            let port = args[2].parse().expect("port");
            let n = args[4].parse().expect("N");
            let sweep = args[5].parse().expect("sweep seconds");
            serve(port, &args[3], n, sweep, Path::new(&args[6]));
        }
        _ => {
            eprintln!("usage: session_table bytes N | session_table serve PORT UPSTREAM N SWEEP_SECONDS OUT_DIR");
            std::process::exit(2);
        }
    }
}
