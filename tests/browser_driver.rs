//! A real headless Chromium driven over WebDriver (chromedriver) for the browser tests
//! (`browser.rs`, `browser_phone.rs`): the driver process and its profiles, browsers and
//! phones, the console, the login page's status texts, screenshots and waiting for the page.
//!
//! Needs `chromium` and `chromedriver` on PATH (scripts/test.sh installs them); without them
//! the tests fail rather than skipping.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::{TimeoutConfiguration, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use crate::common::{alice_key, client, eventually, TestGateway};
use qrgate::cli::signer;
use qrgate_core::login::attempts::Status;

pub(crate) const MISSING: &str = "the browser test needs `chromium` and `chromedriver` on PATH: \
    run scripts/test.sh (it installs Debian's chromium and chromium-driver) or \
    `apt-get install chromium chromium-driver`";

/// Where screenshots and the chromedriver log go.
pub(crate) fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    dir
}

pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A chromedriver child process in its own process group, with the browser profiles it
/// uses. Dropping it kills the whole group — chromedriver and every Chromium it started,
/// which would otherwise outlive a failed test — and then removes the profiles.
pub(crate) struct Driver {
    pub(crate) child: Child,
    pub(crate) url: String,
    pub(crate) chromium: PathBuf,
    pub(crate) profiles: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) has no memory-safety preconditions. The group is the one
        // `process_group(0)` made for our still-unreaped child, so it names no one else.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

pub(crate) async fn start_driver() -> Driver {
    let chromium = on_path("chromium").unwrap_or_else(|| panic!("no chromium: {MISSING}"));
    let exe = on_path("chromedriver").unwrap_or_else(|| panic!("no chromedriver: {MISSING}"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(exe)
        .arg(format!("--port={port}"))
        .arg(format!(
            "--log-path={}",
            artifacts().join("chromedriver.log").display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start chromedriver");
    let mut driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        chromium,
        profiles: tempfile::tempdir().expect("profile dir"),
    };
    let status = format!("{}/status", driver.url);
    let c = client();
    let ready = eventually(Duration::from_secs(20), || {
        let c = c.clone();
        let status = status.clone();
        async move {
            match c.get(status).send().await {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            }
        }
    })
    .await;
    let exited = driver.child.try_wait().ok().flatten();
    assert!(
        ready,
        "chromedriver did not become ready on port {port} within 20 s (exit: {exited:?}; \
         see target/browser-artifacts/chromedriver.log)"
    );
    driver
}

/// A headless Chromium with a fresh profile of its own, logging its console.
pub(crate) async fn open_browser(driver: &Driver, profile: &str) -> Client {
    open_browser_as(driver, profile, None).await
}

/// A phone's browser: a fresh profile with a phone's viewport, touch and user agent.
pub(crate) async fn open_phone(driver: &Driver, profile: &str) -> Client {
    let phone = json!({
        "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 3.0, "touch": true, "mobile": true },
        "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36",
    });
    open_browser_as(driver, profile, Some(phone)).await
}

pub(crate) async fn open_browser_as(
    driver: &Driver,
    profile: &str,
    mobile: Option<Value>,
) -> Client {
    let profile = driver.profiles.path().join(profile);
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    let mut options = json!({
        "binary": driver.chromium,
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-quic", "--window-size=800,1000",
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    if let Some(m) = mobile {
        options["mobileEmulation"] = m;
    }
    caps.insert("goog:chromeOptions".into(), options);
    caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
    let b = ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("start a Chromium session ({MISSING}): {e}"));
    b.update_timeouts(TimeoutConfiguration::new(
        Some(Duration::from_secs(10)),
        Some(Duration::from_secs(20)),
        Some(Duration::ZERO),
    ))
    .await
    .expect("timeouts");
    b
}

/// A Chrome DevTools Protocol command through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
pub(crate) struct Cdp(Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.0.to_string()))
    }
}

pub(crate) async fn cdp(b: &Client, cmd: &str, params: Value) {
    b.issue_cmd(Cdp(json!({ "cmd": cmd, "params": params })))
        .await
        .unwrap_or_else(|e| panic!("CDP {cmd}: {e}"));
}

/// The browser console entries logged since the last call (chromedriver's log endpoint, fed
/// by `goog:loggingPrefs`).
#[derive(Debug)]
pub(crate) struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// Drains the console log into `seen` as "LEVEL message" lines.
pub(crate) async fn drain_console(b: &Client, seen: &mut Vec<String>) {
    let entries = b.issue_cmd(BrowserLog).await.expect("read browser log");
    let entries = entries.as_array().expect("log entries are a list");
    seen.extend(entries.iter().map(|e| {
        format!(
            "{} {}",
            e["level"].as_str().unwrap_or("?"),
            e["message"].as_str().unwrap_or("?")
        )
    }));
}

pub(crate) fn csp_complaints(console: &[String]) -> Vec<&String> {
    console
        .iter()
        .filter(|m| m.contains("Content Security Policy") || m.contains("Refused to"))
        .collect()
}

/// Before any page script runs, records every text a login page's `#status` shows, as
/// "ATTEMPT-ID: TEXT", into sessionStorage (which survives same-origin navigations).
pub(crate) async fn record_status_texts(b: &Client) {
    let source = "document.addEventListener('DOMContentLoaded', function () {\
        var main = document.querySelector('main[data-attempt]');\
        var s = document.getElementById('status');\
        if (!main || !s) { return; }\
        new MutationObserver(function () {\
            var seen = JSON.parse(sessionStorage.getItem('statuses') || '[]');\
            seen.push(main.dataset.attempt + ': ' + s.textContent);\
            sessionStorage.setItem('statuses', JSON.stringify(seen));\
        }).observe(s, { childList: true, characterData: true, subtree: true });\
    });";
    cdp(
        b,
        "Page.addScriptToEvaluateOnNewDocument",
        json!({ "source": source }),
    )
    .await;
}

/// The texts the login page for attempt `id` showed in `#status`, in order.
pub(crate) async fn status_texts(b: &Client, id: &str) -> Vec<String> {
    let v = b
        .execute("return sessionStorage.getItem('statuses') || '[]';", vec![])
        .await
        .expect("read status texts");
    let all: Vec<String> =
        serde_json::from_str(v.as_str().unwrap_or("[]")).expect("status texts are JSON");
    let prefix = format!("{id}: ");
    all.iter()
        .filter_map(|s| s.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

/// Polls until the browser's URL ends with `suffix`; false after 20 s.
pub(crate) async fn wait_for_url(b: &Client, suffix: &str) -> bool {
    eventually(Duration::from_secs(20), || async {
        b.current_url()
            .await
            .is_ok_and(|u| u.as_str().ends_with(suffix))
    })
    .await
}

pub(crate) async fn current_url(b: &Client) -> String {
    b.current_url().await.expect("current url").to_string()
}

pub(crate) async fn attempt_id(b: &Client) -> String {
    let id = b
        .find(Locator::Css("main[data-attempt]"))
        .await
        .expect("login page has main[data-attempt]")
        .attr("data-attempt")
        .await
        .expect("attr")
        .expect("attempt id");
    assert!(!id.is_empty(), "attempt id is not empty");
    id
}

/// The phone: scans the attempt's QR payload and approves it with Alice's key.
pub(crate) async fn approve_as_alice(gw: &TestGateway, id: &str) {
    approve_with(gw, id, &alice_key()).await;
}

/// The reference signer scans attempt `id` and approves it with `key`.
pub(crate) async fn approve_with(gw: &TestGateway, id: &str, key: &signer::Key) {
    let url =
        signer::attempt_url(&gw.url(&format!("/.qrgate/auth/session/{id}"))).expect("attempt url");
    let c = client();
    let req = signer::scan(&c, &url).await.expect("scan");
    signer::approve(&c, &url, key, &req).await.expect("approve");
}

/// The native QR payload on the page `b` shows (a login or a confirmation).
pub(crate) async fn native_payload(b: &Client) -> String {
    let payload = b
        .execute(
            "return document.getElementById('payload-native').value;",
            vec![],
        )
        .await
        .expect("payload");
    payload.as_str().expect("payload is text").to_string()
}

/// Whether the gateway holds attempt `id` as approved and not yet claimed.
pub(crate) async fn approved_unclaimed(gw: &TestGateway, id: &str) -> bool {
    gw.state.logins().get(id).await.is_ok_and(|a| {
        matches!(
            &*gw.state.logins().watch(&a).borrow(),
            Status::Approved { .. }
        )
    })
}

/// The text of the first element `at` finds, waiting up to 10 s for it.
pub(crate) async fn text_of(b: &Client, at: Locator<'_>, what: &str) -> String {
    b.wait()
        .at_most(Duration::from_secs(10))
        .for_element(at)
        .await
        .unwrap_or_else(|e| panic!("the page shows {what}: {e}"))
        .text()
        .await
        .expect("text")
}

/// The upstream demo page's signed-in user.
pub(crate) async fn shown_user(b: &Client) -> String {
    text_of(b, Locator::Id("user"), "<strong id=user>").await
}

/// Counts dark (luma < 64) and light (luma > 192) pixels of a PNG, within `rect` (x, y, w, h
/// in pixels) or over the whole image.
pub(crate) fn dark_and_light(
    png_bytes: &[u8],
    rect: Option<(u32, u32, u32, u32)>,
) -> (usize, usize) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let channels = info.color_type.samples();
    let (x0, y0, w, h) = rect.unwrap_or((0, 0, info.width, info.height));
    let (mut dark, mut light) = (0, 0);
    for y in y0..(y0 + h).min(info.height) {
        let row = &buf[y as usize * info.line_size..][..info.line_size];
        for x in x0..(x0 + w).min(info.width) {
            let px = &row[x as usize * channels..][..channels];
            let luma = if channels >= 3 {
                (u32::from(px[0]) * 299 + u32::from(px[1]) * 587 + u32::from(px[2]) * 114) / 1000
            } else {
                u32::from(px[0])
            };
            if luma < 64 {
                dark += 1;
            } else if luma > 192 {
                light += 1;
            }
        }
    }
    (dark, light)
}

/// Saves a screenshot under target/browser-artifacts, checks it is not blank, returns it.
pub(crate) async fn screenshot(b: &Client, name: &str) -> Vec<u8> {
    let shot = b.screenshot().await.expect("screenshot");
    let path = artifacts().join(name);
    std::fs::write(&path, &shot).expect("save screenshot");
    let (dark, light) = dark_and_light(&shot, None);
    assert!(
        dark > 1_000 && light > 1_000,
        "{} is not blank: {dark} dark and {light} light pixels",
        path.display()
    );
    shot
}

pub(crate) async fn heading(b: &Client) -> String {
    text_of(b, Locator::Css("h1"), "a heading").await
}

/// Waits up to 20 s for the element `css` finds to be displayed and show `expected`
/// (a substring); returns what it last showed.
pub(crate) async fn wait_for_text(b: &Client, css: &str, expected: &str) -> String {
    let mut last = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if let Ok(e) = b.find(Locator::Css(css)).await {
            if e.is_displayed().await.unwrap_or(false) {
                last = e.text().await.unwrap_or_default();
                if last.contains(expected) {
                    return last;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{css} never showed {expected:?}; last {last:?}");
}

/// Clicks the element `css` finds once it is displayed.
pub(crate) async fn click_when_shown(b: &Client, css: &str) {
    let shown = eventually(Duration::from_secs(20), || async {
        match b.find(Locator::Css(css)).await {
            Ok(e) => e.is_displayed().await.unwrap_or(false),
            Err(_) => false,
        }
    })
    .await;
    assert!(shown, "{css} is shown");
    b.find(Locator::Css(css))
        .await
        .expect("element")
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// The desktop's login page for a protected URL: returns the native QR's payload.
pub(crate) async fn desktop_login(b: &Client, gw: &TestGateway, path: &str) -> String {
    b.goto(&gw.url(path)).await.expect("goto");
    assert!(
        wait_for_url_containing(b, "/.qrgate/login?rd=").await,
        "the protected URL leads to the login page, got {}",
        current_url(b).await
    );
    native_payload(b).await
}

pub(crate) async fn wait_for_url_containing(b: &Client, part: &str) -> bool {
    eventually(Duration::from_secs(20), || async {
        b.current_url()
            .await
            .is_ok_and(|u| u.as_str().contains(part))
    })
    .await
}
