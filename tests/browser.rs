//! The login page in a real headless Chromium, driven over WebDriver (chromedriver): open a
//! protected URL, see the QR, let the reference signer approve, and watch the page sign in
//! over SSE and land on the app — with no CSP violation in the browser console on the way.
//! A second browser profile that copies an approved attempt's id cannot claim it.
//!
//! Needs `chromium` and `chromedriver` on PATH (scripts/test.sh installs them); without them
//! the test fails rather than skipping.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::{TimeoutConfiguration, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use crate::common::{alice_key, client, eventually, TestGateway};
use qrgate::signer;
use qrgate_core::attempts::Status;

const MISSING: &str = "the browser test needs `chromium` and `chromedriver` on PATH: \
    run scripts/test.sh (it installs Debian's chromium and chromium-driver) or \
    `apt-get install chromium chromium-driver`";

/// Where screenshots and the chromedriver log go.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    dir
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A chromedriver child process in its own process group, with the browser profiles it
/// uses. Dropping it kills the whole group — chromedriver and every Chromium it started,
/// which would otherwise outlive a failed test — and then removes the profiles.
struct Driver {
    child: Child,
    url: String,
    chromium: PathBuf,
    profiles: tempfile::TempDir,
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

async fn start_driver() -> Driver {
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
async fn open_browser(driver: &Driver, profile: &str) -> Client {
    open_browser_as(driver, profile, None).await
}

/// A phone's browser: a fresh profile with a phone's viewport, touch and user agent.
async fn open_phone(driver: &Driver, profile: &str) -> Client {
    let phone = json!({
        "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 3.0, "touch": true, "mobile": true },
        "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36",
    });
    open_browser_as(driver, profile, Some(phone)).await
}

async fn open_browser_as(driver: &Driver, profile: &str, mobile: Option<Value>) -> Client {
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
struct Cdp(Value);

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

async fn cdp(b: &Client, cmd: &str, params: Value) {
    b.issue_cmd(Cdp(json!({ "cmd": cmd, "params": params })))
        .await
        .unwrap_or_else(|e| panic!("CDP {cmd}: {e}"));
}

/// The browser console entries logged since the last call (chromedriver's log endpoint, fed
/// by `goog:loggingPrefs`).
#[derive(Debug)]
struct BrowserLog;

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
async fn drain_console(b: &Client, seen: &mut Vec<String>) {
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

fn csp_complaints(console: &[String]) -> Vec<&String> {
    console
        .iter()
        .filter(|m| m.contains("Content Security Policy") || m.contains("Refused to"))
        .collect()
}

/// Before any page script runs, records every text a login page's `#status` shows, as
/// "ATTEMPT-ID: TEXT", into sessionStorage (which survives same-origin navigations).
async fn record_status_texts(b: &Client) {
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
async fn status_texts(b: &Client, id: &str) -> Vec<String> {
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
async fn wait_for_url(b: &Client, suffix: &str) -> bool {
    eventually(Duration::from_secs(20), || async {
        b.current_url()
            .await
            .is_ok_and(|u| u.as_str().ends_with(suffix))
    })
    .await
}

async fn current_url(b: &Client) -> String {
    b.current_url().await.expect("current url").to_string()
}

async fn attempt_id(b: &Client) -> String {
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
async fn approve_as_alice(gw: &TestGateway, id: &str) {
    approve_with(gw, id, &alice_key()).await;
}

/// The reference signer scans attempt `id` and approves it with `key`.
async fn approve_with(gw: &TestGateway, id: &str, key: &signer::Key) {
    let url =
        signer::attempt_url(&gw.url(&format!("/.qrgate/auth/session/{id}"))).expect("attempt url");
    let c = client();
    let req = signer::scan(&c, &url).await.expect("scan");
    signer::approve(&c, &url, key, &req).await.expect("approve");
}

/// The native QR payload on the page `b` shows (a login or a confirmation).
async fn native_payload(b: &Client) -> String {
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
async fn approved_unclaimed(gw: &TestGateway, id: &str) -> bool {
    gw.state.logins.get(id).await.is_ok_and(|a| {
        matches!(
            &*gw.state.logins.watch(&a).borrow(),
            Status::Approved { .. }
        )
    })
}

/// The text of the first element `at` finds, waiting up to 10 s for it.
async fn text_of(b: &Client, at: Locator<'_>, what: &str) -> String {
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
async fn shown_user(b: &Client) -> String {
    text_of(b, Locator::Id("user"), "<strong id=user>").await
}

/// Counts dark (luma < 64) and light (luma > 192) pixels of a PNG, within `rect` (x, y, w, h
/// in pixels) or over the whole image.
fn dark_and_light(png_bytes: &[u8], rect: Option<(u32, u32, u32, u32)>) -> (usize, usize) {
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

#[tokio::test]
async fn a_real_browser_signs_in_over_sse_and_a_second_profile_cannot_claim() {
    let gw = TestGateway::start().await;
    let driver = start_driver().await;
    let b = open_browser(&driver, "one").await;
    record_status_texts(&b).await;
    let mut console = Vec::new();

    // A protected URL lands on the login page, which shows the QR.
    b.goto(&gw.url("/dashboard?tab=1")).await.expect("goto");
    assert!(
        wait_for_url(&b, "/.qrgate/login?rd=%2Fdashboard%3Ftab%3D1").await,
        "the protected URL leads to the login page, got {}",
        current_url(&b).await
    );
    let qr = b.find(Locator::Css(".qr svg")).await.expect("QR <svg>");
    assert!(qr.is_displayed().await.expect("displayed"), "QR is visible");
    let (qx, qy, qw, qh) = qr.rectangle().await.expect("rect");
    assert!(qw > 100.0 && qh > 100.0, "QR has a real size: {qw}x{qh}");

    // The screenshot is not blank, and the QR region holds both dark modules and light ones.
    let shot = screenshot(&b, "login-page.png").await;
    let scale = b
        .execute("return window.devicePixelRatio;", vec![])
        .await
        .expect("dpr")
        .as_f64()
        .expect("dpr is a number");
    let px = |v: f64| (v * scale).round() as u32;
    let (dark, light) = dark_and_light(&shot, Some((px(qx), px(qy), px(qw), px(qh))));
    let area = (px(qw) * px(qh)) as usize;
    assert!(
        dark > area / 5 && light > area / 5,
        "the QR is drawn in the screenshot: {dark} dark and {light} light of {area} pixels"
    );

    // The phone approves; the page, untouched by the test, hears it over SSE, signs in and
    // goes back to the URL first asked for, where the app shows who signed in.
    let id = attempt_id(&b).await;
    approve_as_alice(&gw, &id).await;
    assert!(
        wait_for_url(&b, "/dashboard?tab=1").await,
        "the page signed in and returned to the original URL, got {}",
        current_url(&b).await
    );
    assert_eq!(shown_user(&b).await, "alice");
    let statuses = status_texts(&b, &id).await;
    assert!(
        statuses.iter().any(|s| s == "Signed in as alice."),
        "the login page showed the signed-in state: {statuses:?}"
    );
    drain_console(&b, &mut console).await;

    // Browser one starts a new login, and holds its page's claim request (CDP Fetch
    // interception) so the approved attempt waits unclaimed.
    b.delete_all_cookies().await.expect("forget the session");
    cdp(
        &b,
        "Fetch.enable",
        json!({ "patterns": [{ "urlPattern": "*/.qrgate/auth/session/*/claim", "requestStage": "Request" }] }),
    )
    .await;
    b.goto(&gw.url("/second")).await.expect("goto");
    assert!(
        wait_for_url(&b, "/.qrgate/login?rd=%2Fsecond").await,
        "signed out, a protected path leads to the login page again, got {}",
        current_url(&b).await
    );
    let id2 = attempt_id(&b).await;
    assert_ne!(id, id2, "a new attempt");
    approve_as_alice(&gw, &id2).await;
    let heard = eventually(Duration::from_secs(10), || async {
        status_texts(&b, &id2)
            .await
            .iter()
            .any(|s| s == "Signed in as alice.")
    })
    .await;
    assert!(
        heard,
        "the page heard the approval and sent its claim: {:?}",
        status_texts(&b, &id2).await
    );
    assert!(
        approved_unclaimed(&gw, &id2).await,
        "the claim is held: the attempt is approved, not yet claimed"
    );

    // A second profile on the same origin copies the id and tries to claim: refused.
    let other = open_browser(&driver, "two").await;
    other
        .goto(&gw.url("/.qrgate/healthz"))
        .await
        .expect("profile two on the gateway's origin");
    let answer = other
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             fetch(arguments[0], {method: 'POST', credentials: 'same-origin', headers: {Accept: 'application/json'}})\
               .then(r => r.text().then(t => done([r.status, t])), e => done([0, String(e)]));",
            vec![json!(format!("/.qrgate/auth/session/{id2}/claim"))],
        )
        .await
        .expect("fetch from profile two");
    assert_eq!(
        answer[0],
        json!(403),
        "the copied attempt id is useless without the binding cookie: {answer}"
    );
    assert!(
        answer[1].as_str().unwrap_or("").contains("wrong_browser"),
        "refused as the wrong browser: {answer}"
    );
    assert!(
        approved_unclaimed(&gw, &id2).await,
        "the refused claim did not use up the attempt"
    );
    drain_console(&other, &mut console).await;
    other.close().await.expect("close profile two");

    // Browser one's page, once its held claim goes through, still completes its login.
    cdp(&b, "Fetch.disable", json!({})).await;
    assert!(
        wait_for_url(&b, "/second").await,
        "profile one still completes its login, got {}",
        current_url(&b).await
    );
    assert_eq!(shown_user(&b).await, "alice");

    // No Content-Security-Policy complaint in either browser's console on the way.
    drain_console(&b, &mut console).await;
    let complaints = csp_complaints(&console);
    assert!(
        complaints.is_empty(),
        "CSP violations in the console: {complaints:?}"
    );
    b.close().await.expect("close profile one");
}

/// Saves a screenshot under target/browser-artifacts, checks it is not blank, returns it.
async fn screenshot(b: &Client, name: &str) -> Vec<u8> {
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

async fn heading(b: &Client) -> String {
    text_of(b, Locator::Css("h1"), "a heading").await
}

#[tokio::test]
async fn a_real_browser_steps_up_on_a_sensitive_path_and_signs_out_everywhere() {
    let gw = TestGateway::with(crate::common::Setup {
        app_extra: "step_up_paths = [\"/admin/\"]\nstep_up_max_age_seconds = 30\n".into(),
        ..crate::common::Setup::default()
    })
    .await;
    let driver = start_driver().await;
    let b = open_browser(&driver, "step-up").await;

    // Signing in is itself a fresh approval: the sensitive path opens straight away.
    b.goto(&gw.url("/admin/panel")).await.expect("goto");
    assert!(wait_for_url(&b, "/.qrgate/login?rd=%2Fadmin%2Fpanel").await);
    approve_as_alice(&gw, &attempt_id(&b).await).await;
    assert!(
        wait_for_url(&b, "/admin/panel").await,
        "got {}",
        current_url(&b).await
    );
    assert_eq!(shown_user(&b).await, "alice");

    // Later, the same path asks for a fresh approval from the same phone, then goes on.
    gw.clock.advance(Duration::from_secs(31));
    b.goto(&gw.url("/admin/panel")).await.expect("goto");
    assert!(
        wait_for_url(&b, "/.qrgate/step-up?rd=%2Fadmin%2Fpanel").await,
        "got {}",
        current_url(&b).await
    );
    assert_eq!(heading(&b).await, "Confirm it is you");
    let _ = screenshot(&b, "step-up-page.png").await;
    approve_as_alice(&gw, &attempt_id(&b).await).await;
    assert!(
        wait_for_url(&b, "/admin/panel").await,
        "got {}",
        current_url(&b).await
    );
    assert_eq!(shown_user(&b).await, "alice");

    // The person's own page lists this session; "Sign out everywhere" ends it.
    b.goto(&gw.url("/.qrgate/sessions")).await.expect("goto");
    assert_eq!(heading(&b).await, "Signed in as alice");
    let current = b
        .find(Locator::Css("ul.sessions li:not(.key) .tag"))
        .await
        .expect("this browser is marked")
        .text()
        .await
        .expect("text");
    assert_eq!(current, "this browser");
    let _ = screenshot(&b, "sessions-page.png").await;
    b.find(Locator::XPath("//button[text()='Sign out everywhere']"))
        .await
        .expect("the button")
        .click()
        .await
        .expect("click");
    assert!(
        wait_for_url(&b, "/.qrgate/login").await,
        "got {}",
        current_url(&b).await
    );
    b.goto(&gw.url("/admin/panel")).await.expect("goto");
    assert!(
        wait_for_url(&b, "/.qrgate/login?rd=%2Fadmin%2Fpanel").await,
        "signed out everywhere, got {}",
        current_url(&b).await
    );
    let _ = b.close().await;
}

/// Waits up to 20 s for the element `css` finds to be displayed and show `expected`
/// (a substring); returns what it last showed.
async fn wait_for_text(b: &Client, css: &str, expected: &str) -> String {
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
async fn click_when_shown(b: &Client, css: &str) {
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
async fn desktop_login(b: &Client, gw: &TestGateway, path: &str) -> String {
    b.goto(&gw.url(path)).await.expect("goto");
    assert!(
        wait_for_url_containing(b, "/.qrgate/login?rd=").await,
        "the protected URL leads to the login page, got {}",
        current_url(b).await
    );
    native_payload(b).await
}

async fn wait_for_url_containing(b: &Client, part: &str) -> bool {
    eventually(Duration::from_secs(20), || async {
        b.current_url()
            .await
            .is_ok_and(|u| u.as_str().contains(part))
    })
    .await
}

#[tokio::test]
async fn a_phone_browser_enrolls_by_invitation_and_approves_a_desktop_sign_in() {
    let gw = TestGateway::with(crate::common::Setup {
        tail: "[[user]]\nname = \"carol\"\nroles = [\"staff\"]\n".into(),
        ..crate::common::Setup::default()
    })
    .await;
    let invited = gw.invite("carol").await;
    let driver = start_driver().await;
    let desktop = open_browser(&driver, "desktop").await;
    let phone = open_phone(&driver, "phone").await;
    let mut console = Vec::new();

    // The phone opens the invitation link, and adds itself.
    phone
        .goto(&invited.link)
        .await
        .expect("open the invitation");
    assert_eq!(heading(&phone).await, "Add this phone");
    wait_for_text(&phone, "#choice:not([hidden])", "Add this phone").await;
    screenshot(&phone, "phone-enroll.png").await;
    let width = phone
        .execute("return window.innerWidth;", vec![])
        .await
        .expect("width");
    assert!(
        width.as_f64().is_some_and(|w| w < 500.0),
        "a phone's viewport: {width}"
    );
    click_when_shown(&phone, "#choice:not([hidden]) #enroll").await;
    wait_for_text(&phone, "#status", "now signs in as carol").await;
    screenshot(&phone, "phone-enrolled.png").await;
    assert_eq!(gw.state.devices.len(), 1, "the gateway holds the device");

    // The key is not extractable, by the page's script or any other.
    let probe = phone
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             const open = indexedDB.open('qrgate', 1);\
             open.onsuccess = () => {\
               const get = open.result.transaction('keys').objectStore('keys').get('device');\
               get.onsuccess = async () => {\
                 const k = get.result.privateKey;\
                 const tries = [];\
                 for (const format of ['pkcs8', 'jwk', 'raw']) {\
                   try { await crypto.subtle.exportKey(format, k); tries.push(format + ': exported'); }\
                   catch (e) { tries.push(format + ': ' + e.name); }\
                 }\
                 done({ extractable: k.extractable, type: k.type, algorithm: k.algorithm.name, tries });\
               };\
             };",
            vec![],
        )
        .await
        .expect("probe the stored key");
    assert_eq!(probe["extractable"], json!(false), "{probe}");
    assert_eq!(probe["type"], json!("private"), "{probe}");
    assert_eq!(probe["algorithm"], json!("Ed25519"), "{probe}");
    let tries = probe["tries"].as_array().expect("tries");
    assert!(
        tries
            .iter()
            .all(|t| !t.as_str().unwrap_or("").ends_with("exported")),
        "no format exports the private key: {probe}"
    );

    // A used invitation is refused.
    phone.goto(&invited.link).await.expect("open it again");
    assert_eq!(heading(&phone).await, "Invitation no longer valid");

    // The desktop shows the QR; the phone opens its URL, sees who asks, and approves; the
    // desktop, untouched by the test, lands in the app as carol.
    let payload = desktop_login(&desktop, &gw, "/dashboard").await;
    phone.goto(&payload).await.expect("open the QR's URL");
    wait_for_text(&phone, "#who", "carol").await;
    wait_for_text(&phone, "#choice:not([hidden])", "Approve").await;
    screenshot(&phone, "phone-approve.png").await;
    click_when_shown(&phone, "#choice:not([hidden]) #approve").await;
    wait_for_text(&phone, "#status", "Done — go back to your computer").await;
    screenshot(&phone, "phone-done.png").await;
    assert!(
        wait_for_url(&desktop, "/dashboard").await,
        "the desktop signed in without a reload, got {}",
        current_url(&desktop).await
    );
    assert_eq!(shown_user(&desktop).await, "carol");
    drain_console(&desktop, &mut console).await;

    // "Add a phone" on the sessions page: the session is not enough, however fresh; the
    // phone (carol's key) approves this very action, seeing that it is one, and only then
    // does the desktop show the invitation.
    desktop
        .goto(&gw.url("/.qrgate/sessions"))
        .await
        .expect("goto");
    click_when_shown(&desktop, "#invite").await;
    wait_for_text(&desktop, "h1", "add a new device for carol").await;
    screenshot(&desktop, "confirm-add-device.png").await;
    let payload = native_payload(&desktop).await;
    phone.goto(&payload).await.expect("open the QR's URL");
    wait_for_text(&phone, "#action", "add a new device for carol").await;
    screenshot(&phone, "phone-confirm-action.png").await;
    click_when_shown(&phone, "#choice:not([hidden]) #approve").await;
    wait_for_text(&phone, "#status", "Confirmed").await;
    let shown = eventually(Duration::from_secs(20), || async {
        desktop
            .execute(
                "var l = document.getElementById('link'); return l ? l.value : '';",
                vec![],
            )
            .await
            .is_ok_and(|v| v.as_str().unwrap_or("").contains("/.qrgate/enroll/"))
    })
    .await;
    assert!(
        shown,
        "the desktop shows the invitation, got {}",
        current_url(&desktop).await
    );
    screenshot(&desktop, "invitation-after-confirmation.png").await;
    let link = desktop
        .execute("return document.getElementById('link').value;", vec![])
        .await
        .expect("link");
    let second = signer::Key::generate();
    signer::enroll(&client(), link.as_str().expect("text").trim(), &second)
        .await
        .expect("the invitation enrolls a second key of carol's");
    drain_console(&desktop, &mut console).await;

    // Declining on the phone shows as declined on the desktop.
    desktop.delete_all_cookies().await.expect("sign out");
    let payload = desktop_login(&desktop, &gw, "/second").await;
    phone.goto(&payload).await.expect("open the QR's URL");
    click_when_shown(&phone, "#choice:not([hidden]) #decline").await;
    wait_for_text(&phone, "#status", "Declined").await;
    wait_for_text(&desktop, "#status", "declined on the phone").await;

    // Same device: the phone signs itself in from its own login page.
    phone.goto(&gw.url("/on-the-phone")).await.expect("goto");
    click_when_shown(&phone, "#this-device:not([hidden]) #device-sign-in").await;
    assert!(
        wait_for_url(&phone, "/on-the-phone").await,
        "the phone signed itself in, got {}",
        current_url(&phone).await
    );
    assert_eq!(shown_user(&phone).await, "carol");
    drain_console(&phone, &mut console).await;

    // Carol removes the phone herself from the desktop, signed in with her second key: the
    // phone cannot approve its own removal; her second key does, and the phone is gone.
    desktop.delete_all_cookies().await.expect("sign out");
    desktop_login(&desktop, &gw, "/fourth").await;
    approve_with(&gw, &attempt_id(&desktop).await, &second).await;
    assert!(wait_for_url(&desktop, "/fourth").await);
    desktop
        .goto(&gw.url("/.qrgate/sessions"))
        .await
        .expect("goto");
    let phone_device = gw
        .state
        .devices
        .list()
        .iter()
        .find(|d| d.key != *second.public().as_bytes())
        .map(|d| d.id())
        .expect("the phone's device");
    click_when_shown(
        &desktop,
        &format!("form[action='/.qrgate/remove-device'] input[value='{phone_device}'] + button"),
    )
    .await;
    wait_for_text(&desktop, "h1", "remove device").await;
    let payload = native_payload(&desktop).await;
    phone.goto(&payload).await.expect("open the QR's URL");
    wait_for_text(&phone, "#action", "remove device").await;
    click_when_shown(&phone, "#choice:not([hidden]) #approve").await;
    wait_for_text(&phone, "#status", "cannot approve its own removal").await;
    approve_with(&gw, &attempt_id(&desktop).await, &second).await;
    assert!(
        wait_for_url(&desktop, "/.qrgate/sessions").await,
        "back on the sessions page, got {}",
        current_url(&desktop).await
    );
    let keys = eventually(Duration::from_secs(20), || async {
        desktop
            .find_all(Locator::Css("li.key"))
            .await
            .is_ok_and(|k| k.len() == 1)
    })
    .await;
    assert!(keys, "one key left");
    assert_eq!(gw.state.devices.len(), 1, "only the second key's device");
    drain_console(&desktop, &mut console).await;

    // A removed device's approval is refused, and the phone says why.
    desktop.delete_all_cookies().await.expect("sign out");
    let payload = desktop_login(&desktop, &gw, "/third").await;
    let id = attempt_id(&desktop).await;
    phone.goto(&payload).await.expect("open the QR's URL");
    click_when_shown(&phone, "#choice:not([hidden]) #approve").await;
    wait_for_text(&phone, "#status", "no longer enrolled").await;
    assert!(
        !approved_unclaimed(&gw, &id).await,
        "the refused approval left the attempt open"
    );

    // No Content-Security-Policy complaint in either browser's console on the way.
    drain_console(&phone, &mut console).await;
    drain_console(&desktop, &mut console).await;
    let complaints = csp_complaints(&console);
    assert!(complaints.is_empty(), "CSP violations: {complaints:?}");
    phone.close().await.expect("close the phone");
    desktop.close().await.expect("close the desktop");
}

#[tokio::test]
async fn a_browser_without_ed25519_in_webcrypto_is_told_so_and_no_key_is_made() {
    let gw = TestGateway::with(crate::common::Setup {
        tail: "[[user]]\nname = \"carol\"\n".into(),
        ..crate::common::Setup::default()
    })
    .await;
    let invited = gw.invite("carol").await;
    let driver = start_driver().await;
    let phone = open_phone(&driver, "old-phone").await;
    // An older browser: WebCrypto without Ed25519.
    cdp(
        &phone,
        "Page.addScriptToEvaluateOnNewDocument",
        json!({ "source": "(() => { const g = crypto.subtle.generateKey.bind(crypto.subtle);\
            crypto.subtle.generateKey = (alg, ...rest) => (alg && (alg.name || alg) === 'Ed25519')\
              ? Promise.reject(new DOMException('Unrecognized name', 'NotSupportedError')) : g(alg, ...rest); })();" }),
    )
    .await;
    phone
        .goto(&invited.link)
        .await
        .expect("open the invitation");
    let said = wait_for_text(&phone, "#unsupported", "cannot keep a signing key").await;
    assert!(
        said.contains("Chrome") && said.contains("Safari") && said.contains("Firefox"),
        "{said}"
    );
    screenshot(&phone, "phone-unsupported.png").await;
    let enroll = phone.find(Locator::Id("enroll")).await.expect("button");
    assert!(
        !enroll.is_displayed().await.expect("shown?"),
        "no way to enroll"
    );
    assert!(gw.state.devices.is_empty());
    // The invitation is still usable from a browser that can.
    assert!(gw.invitation_open(&invited.link).await);
    phone.close().await.expect("close");
}
