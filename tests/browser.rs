//! The login page in a real headless Chromium, driven over WebDriver (chromedriver): open a
//! protected URL, see the QR, let the reference signer approve, and watch the page sign in
//! over SSE and land on the app — with no CSP violation on the way. A second browser profile
//! that copies the attempt id cannot claim it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use crate::common::{alice_key, client, eventually, TestGateway};
use qrgate::signer;

/// A chromedriver child process, killed and reaped when the test ends.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver() -> Driver {
    let exe = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("chromedriver is installed (scripts/test.sh installs Debian's chromium-driver)");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(exe)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
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
    assert!(ready, "chromedriver became ready");
    driver
}

/// A fresh headless Chromium profile.
async fn open_browser(driver: &Driver, profile: &std::path::Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=800,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("chromium session")
}

/// A Chrome DevTools command through chromedriver's `goog/cdp/execute` endpoint.
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

/// Records every CSP violation of every page this tab opens (before the page's own scripts
/// run) into sessionStorage, which survives same-origin navigations.
async fn record_csp_violations(b: &Client) {
    let source = "document.addEventListener('securitypolicyviolation', function (e) {\
        var seen = JSON.parse(sessionStorage.getItem('csp') || '[]');\
        seen.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + location.pathname);\
        sessionStorage.setItem('csp', JSON.stringify(seen));\
    });";
    b.issue_cmd(Cdp(json!({
        "cmd": "Page.addScriptToEvaluateOnNewDocument",
        "params": { "source": source },
    })))
    .await
    .expect("install CSP recorder");
}

async fn csp_violations(b: &Client) -> Vec<String> {
    let v = b
        .execute("return sessionStorage.getItem('csp') || '[]';", vec![])
        .await
        .expect("read recorder");
    serde_json::from_str(v.as_str().unwrap_or("[]")).unwrap_or_default()
}

/// Polls until the browser's URL ends with `suffix`.
async fn wait_for_url(b: &Client, suffix: &str) -> bool {
    eventually(Duration::from_secs(20), || async {
        b.current_url()
            .await
            .is_ok_and(|u| u.as_str().ends_with(suffix))
    })
    .await
}

async fn approve_as_alice(gw: &TestGateway, id: &str) {
    let url = signer::attempt_url(&gw.url(&format!("/.qrgate/auth/session/{id}"))).expect("url");
    let c = client();
    let req = signer::scan(&c, &url).await.expect("scan");
    signer::approve(&c, &url, &alice_key(), &req)
        .await
        .expect("approve");
}

/// Counts dark and light pixels of an RGB(A) PNG.
fn dark_and_light(png_bytes: &[u8]) -> (usize, usize) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let channels = info.color_type.samples();
    let (mut dark, mut light) = (0, 0);
    for px in buf[..info.buffer_size()].chunks(channels) {
        let lum =
            (u32::from(px[0]) + u32::from(px[1 % channels]) + u32::from(px[2 % channels])) / 3;
        if lum < 64 {
            dark += 1;
        } else if lum > 192 {
            light += 1;
        }
    }
    (dark, light)
}

#[tokio::test]
async fn a_real_browser_signs_in_over_sse_and_a_second_profile_cannot_claim() {
    let gw = TestGateway::start().await;
    let driver = start_driver().await;
    let profiles = tempfile::tempdir().expect("profiles");
    let b = open_browser(&driver, &profiles.path().join("one")).await;
    record_csp_violations(&b).await;

    // A protected URL lands on the login page with a visible QR.
    b.goto(&gw.url("/dashboard?tab=1")).await.expect("goto");
    assert!(
        wait_for_url(&b, "/.qrgate/login?rd=%2Fdashboard%3Ftab%3D1").await,
        "on the login page"
    );
    let qr = b.find(Locator::Css(".qr svg")).await.expect("qr svg");
    assert!(qr.is_displayed().await.expect("displayed"), "QR is visible");
    let (_, _, w, h) = qr.rectangle().await.expect("rect");
    assert!(w > 100.0 && h > 100.0, "QR has a real size: {w}x{h}");

    let shot = b.screenshot().await.expect("screenshot");
    let artifacts =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifact dir");
    std::fs::write(artifacts.join("login-page.png"), &shot).expect("save screenshot");
    let (dark, light) = dark_and_light(&shot);
    assert!(
        dark > 5_000 && light > 5_000,
        "screenshot is not blank: {dark} dark, {light} light"
    );

    // The phone approves; the page, untouched by the test, signs in and lands on the app.
    let main = b.find(Locator::Css("main")).await.expect("main");
    let id = main
        .attr("data-attempt")
        .await
        .expect("attr")
        .expect("attempt id");
    approve_as_alice(&gw, &id).await;
    assert!(
        wait_for_url(&b, "/dashboard?tab=1").await,
        "navigated to the original URL"
    );
    let user = b
        .find(Locator::Id("user"))
        .await
        .expect("upstream page shows the user");
    assert_eq!(user.text().await.expect("text"), "alice");

    // No CSP violation on the way — and the recorder does see one when there is one.
    let seen = csp_violations(&b).await;
    assert!(seen.is_empty(), "CSP violations: {seen:?}");
    b.delete_all_cookies().await.expect("sign out");
    b.goto(&gw.url("/.qrgate/login")).await.expect("goto");
    assert!(
        wait_for_url(&b, "/.qrgate/login").await,
        "back on the (CSP-protected) login page"
    );
    b.execute(
        "var s = document.createElement('script'); s.textContent = 'window.x = 1'; document.body.appendChild(s);",
        vec![],
    )
    .await
    .expect("inject");
    let recorded = eventually(Duration::from_secs(5), || async {
        !csp_violations(&b).await.is_empty()
    })
    .await;
    assert!(
        recorded,
        "an inline script without the nonce is reported as a violation"
    );

    // A second profile that copies a fresh attempt id cannot claim it; the first still can.
    b.goto(&gw.url("/second")).await.expect("goto");
    assert!(wait_for_url(&b, "/.qrgate/login?rd=%2Fsecond").await);
    let id2 = b
        .find(Locator::Css("main"))
        .await
        .expect("main")
        .attr("data-attempt")
        .await
        .expect("attr")
        .expect("id");
    let other = open_browser(&driver, &profiles.path().join("two")).await;
    other
        .goto(&gw.url("/.qrgate/healthz"))
        .await
        .expect("same origin");
    let status = other
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             fetch(arguments[0], {method: 'POST', credentials: 'same-origin', headers: {Accept: 'application/json'}})\
               .then(r => done(r.status), e => done(String(e)));",
            vec![json!(format!("/.qrgate/auth/session/{id2}/claim"))],
        )
        .await
        .expect("fetch from profile two");
    assert_eq!(
        status,
        json!(403),
        "the copied attempt id is useless without the binding cookie"
    );
    approve_as_alice(&gw, &id2).await;
    assert!(
        wait_for_url(&b, "/second").await,
        "profile one still completes its login"
    );

    other.close().await.expect("close two");
    b.close().await.expect("close one");
}
