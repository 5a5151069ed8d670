//! The request decision: any method, host, path, query and headers give exactly one answer
//! and never a panic; a forwarded target is always a canonical path.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qrgate_core::config::Config;
use qrgate_core::gate::decision::{classify, Classified};
use qrgate_core::http::request::Request;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\n');
    let method = http::Method::from_bytes(parts.next().unwrap_or("GET").as_bytes())
        .unwrap_or(http::Method::GET);
    let host = parts.next();
    let path = parts.next().unwrap_or("/");
    let query = parts.next();
    let mut headers = http::HeaderMap::new();
    for line in parts {
        if let Some((n, v)) = line.split_once(':') {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(n.as_bytes()),
                http::HeaderValue::from_str(v.trim()),
            ) {
                headers.append(n, v);
            }
        }
    }
    let config = CONFIG.get_or_init(config);
    let req = Request {
        method: &method,
        host,
        path,
        query,
        absolute_form: false,
        headers: &headers,
        secure: false,
    };
    match classify(config, &req) {
        Classified::Public { target: Some(t), .. } | Classified::Protected { target: Some(t), .. } => {
            let p = t.split('?').next().unwrap_or_default();
            let again = qrgate_core::http::path::canonicalize(p).expect("targets are canonical");
            assert_eq!(again.as_str(), p);
        }
        Classified::Local { route, .. } => assert!(route.is_empty() || route.starts_with('/')),
        _ => {}
    }
});

static CONFIG: std::sync::OnceLock<Config> = std::sync::OnceLock::new();

fn config() -> Config {
    Config::parse(
        "[[app]]\nname = \"a\"\norigin = \"https://a.example\"\nupstream = \"127.0.0.1:9\"\npublic_paths = [\"/public\", \"/static/\"]\n",
        std::path::Path::new("fuzz.toml"),
    )
    .expect("config")
}
