//! Who can use the admin API, through the real binary: a token file others may read stops
//! the start, `check-config` and the commands, and lets no request in; a systemd credential
//! is read in its place; an admin listener off loopback is warned about; the commands talk
//! to the admin listener directly, never through a proxy the environment names.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{client, eventually, free_port, write_private};
use crate::operate::{alice, Binary};

/// A gateway with an admin listener and `token_file = "admin.token"` (not written yet);
/// returns it and the admin API's base URL.
async fn gateway() -> (Binary, String) {
    let admin = free_port();
    let gw = Binary::start(
        "",
        &format!(
            "{}\n[admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken_file = \"admin.token\"\n",
            alice("\"staff\"")
        ),
    )
    .await;
    let api = format!("http://127.0.0.1:{admin}");
    crate::common::admin_up(admin).await;
    (gw, api)
}

/// Runs `qrgate ARGS --config <the gateway's>` with extra environment; returns whether it
/// succeeded and what it printed.
fn qrgate(gw: &Binary, args: &[&str], env: &[(&str, &OsStr)]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qrgate"))
        .args(args)
        .arg("--config")
        .arg(gw.config_path())
        .envs(env.iter().copied())
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .expect("run qrgate");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The admin API's status for `GET /sessions` with bearer `token`.
async fn sessions_status(api: &str, token: &str) -> u16 {
    client()
        .get(format!("{api}/sessions"))
        .bearer_auth(token)
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// Starts the binary again (with `env`); returns whether it came up (both listeners), and
/// its new log lines.
async fn restart(gw: &mut Binary, api: &str, env: &[(&str, &OsStr)]) -> (bool, String) {
    let before = gw.log().len();
    gw.child = gw.spawn_env(env);
    let base = gw.base.clone();
    let mut exited = false;
    let settled = eventually(Duration::from_secs(20), || {
        exited = matches!(gw.child.0.try_wait(), Ok(Some(_)));
        let (done, base) = (exited, base.clone());
        async move {
            done || client()
                .get(format!("{base}/.qrgate/healthz"))
                .send()
                .await
                .is_ok()
        }
    })
    .await;
    assert!(settled, "the process either serves or exits: {}", gw.log());
    if !exited {
        let port = api.rsplit(':').next().and_then(|p| p.parse().ok());
        crate::common::admin_up(port.expect("the admin port")).await;
    }
    let log = gw.log();
    (!exited, log.get(before..).unwrap_or_default().to_string())
}

#[tokio::test]
async fn a_token_file_others_may_read_is_refused_by_the_gateway_check_config_and_commands() {
    let (mut gw, api) = gateway().await;
    let path = gw.dir.path().join("admin.token");
    let shown = path.display().to_string();
    // The README's old recipe: a file of the umask's default mode, 0644.
    std::fs::write(&path, "open-token\n").expect("token");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");

    // The running gateway lets no request in with it, and says why.
    assert_eq!(sessions_status(&api, "open-token").await, 401);
    assert!(gw.log().contains("chmod 600"), "{}", gw.log());
    // The commands refuse to send it.
    for args in [
        &["sessions", "list"][..],
        &["devices", "list"],
        &["invite", "--user", "alice"],
    ] {
        let (ok, out) = qrgate(&gw, args, &[]);
        assert!(
            !ok && out.contains(&shown) && out.contains("chmod 600"),
            "{args:?}: {out}"
        );
    }
    let (ok, out) = qrgate(&gw, &["check-config"], &[]);
    assert!(
        !ok && out.contains(&shown) && out.contains("chmod 600"),
        "{out}"
    );
    // A new start is refused, naming the file and the fix.
    gw.stop().await;
    let (up, log) = restart(&mut gw, &api, &[]).await;
    assert!(!up, "refused: {log}");
    assert!(log.contains(&shown) && log.contains("chmod 600"), "{log}");

    // Readable by its owner only: everything works.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let (ok, out) = qrgate(&gw, &["check-config"], &[]);
    assert!(ok, "{out}");
    let (up, log) = restart(&mut gw, &api, &[]).await;
    assert!(up, "{log}");
    assert_eq!(sessions_status(&api, "open-token").await, 200);
    let (ok, out) = qrgate(&gw, &["sessions", "list"], &[]);
    assert!(ok && out.starts_with("0 session(s)"), "{out}");

    // An admin listener others can reach is warned about.
    let config = std::fs::read_to_string(gw.config_path()).expect("config");
    let port = api.rsplit(':').next().expect("port");
    std::fs::write(
        gw.config_path(),
        config.replace(&format!("127.0.0.1:{port}"), &format!("0.0.0.0:{port}")),
    )
    .expect("config");
    let (ok, out) = qrgate(&gw, &["check-config"], &[]);
    assert!(ok && out.contains("not on loopback"), "{out}");
}

#[tokio::test]
async fn a_systemd_credential_of_the_token_files_name_is_read_in_its_place() {
    let (mut gw, api) = gateway().await;
    // The configured file is open to others (it would be refused) and holds another token:
    // the credential is what counts.
    let path = gw.dir.path().join("admin.token");
    std::fs::write(&path, "file-token").expect("token");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let credentials = tempfile::tempdir().expect("dir");
    let credential = credentials.path().join("admin.token");
    std::fs::write(&credential, "credential-token\n").expect("credential");
    // As systemd leaves it: read-only for the service.
    std::fs::set_permissions(&credential, std::fs::Permissions::from_mode(0o400)).expect("chmod");
    let env = [("CREDENTIALS_DIRECTORY", credentials.path().as_os_str())];

    gw.stop().await;
    let (up, log) = restart(&mut gw, &api, &env).await;
    assert!(up, "{log}");
    assert_eq!(sessions_status(&api, "credential-token").await, 200);
    assert_eq!(sessions_status(&api, "file-token").await, 401);
    let (ok, out) = qrgate(&gw, &["sessions", "list"], &env);
    assert!(ok && out.starts_with("0 session(s)"), "{out}");
    let (ok, out) = qrgate(&gw, &["check-config"], &env);
    assert!(ok, "{out}");
}

#[tokio::test]
async fn the_commands_talk_to_the_admin_listener_directly_whatever_proxy_is_set() {
    let (gw, _api) = gateway().await;
    write_private(&gw.dir.path().join("admin.token"), "direct-token");
    // A proxy that counts every connection it is offered (and answers none).
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let proxy_url = format!("http://{}", proxy.local_addr().expect("addr"));
    let offered = Arc::new(AtomicUsize::new(0));
    let counter = offered.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = proxy.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(tcp);
        }
    });
    let proxy_os = OsStr::new(&proxy_url);
    let env: Vec<(&str, &OsStr)> = [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ]
    .into_iter()
    .map(|name| (name, proxy_os))
    .collect();
    for args in [
        &["sessions", "list"][..],
        &["devices", "list"],
        &["sessions", "revoke", "--user", "alice"],
    ] {
        let (ok, out) = qrgate(&gw, args, &env);
        assert!(ok, "{args:?} worked: {out}");
    }
    let (ok, out) = qrgate(&gw, &["invite", "--user", "alice"], &env);
    assert!(ok && out.contains("/.qrgate/enroll/"), "{out}");
    assert_eq!(
        offered.load(Ordering::SeqCst),
        0,
        "the proxy was offered nothing"
    );
}

/// Runs `qrgate check-config` on the gateway's config; returns whether it passed and what it
/// printed, or fails the test if it has not ended within 20 s (a read that waits forever).
async fn check_config_ends(gw: &Binary) -> (bool, String) {
    let dir = tempfile::tempdir().expect("dir");
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_qrgate"))
        .args(["check-config", "--config"])
        .arg(gw.config_path())
        .stdout(std::fs::File::create(&out).expect("out"))
        .stderr(std::fs::File::create(&err).expect("err"))
        .spawn()
        .expect("run qrgate");
    let mut status = None;
    let ended = eventually(Duration::from_secs(20), || {
        status = child.try_wait().ok().flatten();
        let done = status.is_some();
        async move { done }
    })
    .await;
    if !ended {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(ended, "check-config ended");
    (
        status.is_some_and(|s| s.success()),
        format!(
            "{}{}",
            std::fs::read_to_string(out).unwrap_or_default(),
            std::fs::read_to_string(err).unwrap_or_default()
        ),
    )
}

/// Makes a FIFO at `path` (opening it to read waits for a writer that never comes).
fn fifo(path: &std::path::Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Whether the tests run as root (they may then give a file to another user).
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Makes a file for a case.
type Make<'a> = Box<dyn Fn() + 'a>;

#[tokio::test]
async fn a_token_file_that_is_not_the_gateways_own_regular_file_of_a_token_lets_nobody_in() {
    let (gw, api) = gateway().await;
    let path = gw.dir.path().join("admin.token");
    let shown = path.display().to_string();
    let reset = || {
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&path);
    };
    // Each: how to make the file, and what the refusal says.
    let cases: Vec<(&str, Make, &str)> = vec![
        ("empty", Box::new(|| write_private(&path, "")), "is empty"),
        (
            "only whitespace",
            Box::new(|| write_private(&path, " \n\n\t")),
            "is empty",
        ),
        (
            "a folder",
            Box::new(|| std::fs::create_dir(&path).expect("dir")),
            "not a regular file",
        ),
        (
            "a FIFO (opening it would wait for a writer)",
            Box::new(|| fifo(&path)),
            "not a regular file",
        ),
        (
            "larger than a token",
            Box::new(|| write_private(&path, &"t".repeat(5000))),
            "larger than",
        ),
        (
            "a link to a file others may read",
            Box::new(|| {
                let target = path.with_extension("target");
                std::fs::write(&target, "linked-token").expect("target");
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644))
                    .expect("chmod");
                std::os::unix::fs::symlink(&target, &path).expect("link");
            }),
            "chmod 600",
        ),
    ];
    for (what, make, says) in &cases {
        reset();
        make();
        // Start and check-config refuse it, naming the file, and do not wait on it.
        let (ok, out) = check_config_ends(&gw).await;
        assert!(
            !ok && out.contains(&shown) && out.contains(says),
            "{what}: {out}"
        );
        // The running gateway answers every request at once, and lets none in.
        for token in ["", "linked-token", "theirs-token", &"t".repeat(5000)] {
            assert_eq!(sessions_status(&api, token).await, 401, "{what}");
        }
    }
    if is_root() {
        // Another user's file, mode 0600: that user could set the token. The gateway (root
        // here) refuses it; check-config run by root cannot know the gateway's user and says
        // who would use it; a command run by root sends it (its owner knows it already), and
        // the gateway answers 401.
        reset();
        write_private(&path, "theirs-token");
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).expect("chown");
        assert_eq!(sessions_status(&api, "theirs-token").await, 401);
        assert!(gw.log().contains("owned by uid 65534"), "{}", gw.log());
        let (ok, out) = check_config_ends(&gw).await;
        assert!(
            ok && out.contains("owned by uid 65534; only a gateway running as uid 65534"),
            "{out}"
        );
        let (ok, out) = qrgate(&gw, &["sessions", "list"], &[]);
        assert!(!ok && out.contains("answered 401"), "{out}");
    }
    // A token with the newlines an editor leaves, in a private file reached through a link
    // (as mounted secrets are), is the token.
    reset();
    let target = path.with_extension("private");
    write_private(&target, "linked-token\n\n");
    std::os::unix::fs::symlink(&target, &path).expect("link");
    let (ok, out) = check_config_ends(&gw).await;
    assert!(ok, "{out}");
    assert_eq!(sessions_status(&api, "linked-token").await, 200);
    assert_eq!(sessions_status(&api, "linked-toke").await, 401);
}

// Two workers: the command runs blocking on one while the other answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commands_do_not_follow_a_redirect_from_the_admin_address() {
    let (gw, api) = gateway().await;
    write_private(&gw.dir.path().join("admin.token"), "redirect-token");
    // Whatever answers on the admin address sends the client elsewhere; elsewhere counts
    // the requests it gets.
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let elsewhere_addr = elsewhere.local_addr().expect("addr");
    let reached = Arc::new(AtomicUsize::new(0));
    let counter = reached.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = elsewhere.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(tcp);
        }
    });
    let redirector = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let redirector_addr = redirector.local_addr().expect("addr");
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut tcp, _)) = redirector.accept().await {
            let mut buf = [0u8; 4096];
            let _ = tcp.read(&mut buf).await;
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{elsewhere_addr}/sessions\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = tcp.write_all(answer.as_bytes()).await;
        }
    });
    let config = std::fs::read_to_string(gw.config_path()).expect("config");
    let admin = api.rsplit(':').next().expect("port");
    std::fs::write(
        gw.config_path(),
        config.replace(&format!("127.0.0.1:{admin}"), &redirector_addr.to_string()),
    )
    .expect("config");
    for args in [
        &["sessions", "list"][..],
        &["devices", "revoke", "--user", "alice"],
        &["invite", "--user", "alice"],
    ] {
        let (ok, out) = qrgate(&gw, args, &[]);
        assert!(!ok && out.contains("307"), "{args:?}: {out}");
    }
    assert_eq!(reached.load(Ordering::SeqCst), 0, "nothing went elsewhere");
}

/// Status, content type and body of a call to the admin API (which never lets one be cached).
async fn admin_answer(req: reqwest::RequestBuilder) -> (u16, String, String) {
    let r = req.send().await.expect("admin answers");
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (status, content_type, cache) = (
        r.status().as_u16(),
        header("content-type"),
        header("cache-control"),
    );
    let body = r.text().await.expect("body");
    assert_eq!(cache, "no-store", "{body}");
    (status, content_type, body)
}

/// The admin listener's own refusals, now mapped in the core's `respond`, keep their wire
/// answers: an unknown path, a method a control endpoint does not take, and the control API
/// without a token file.
#[tokio::test]
async fn the_admin_listeners_refusals_keep_their_answers() {
    let (gw, api) = gateway().await;
    write_private(&gw.dir.path().join("admin.token"), "refusal-token");
    let json = |status: u16, body: &str| (status, "application/json".to_string(), body.to_string());
    assert_eq!(
        admin_answer(client().get(format!("{api}/nothing-here"))).await,
        json(404, r#"{"error":"not_found"}"#)
    );
    // Every control endpoint's 405 names the method it does accept in Allow.
    for (method, path, allow) in [
        (reqwest::Method::GET, "/invites", "POST"),
        (reqwest::Method::PUT, "/sessions", "GET"),
        (reqwest::Method::POST, "/sessions", "GET"),
        (reqwest::Method::DELETE, "/devices", "GET"),
        (reqwest::Method::GET, "/devices/revoke", "POST"),
        (reqwest::Method::GET, "/sessions/revoke", "POST"),
    ] {
        let allowed = client()
            .request(method.clone(), format!("{api}{path}"))
            .bearer_auth("refusal-token")
            .send()
            .await
            .expect("send")
            .headers()
            .get("allow")
            .map(|v| v.to_str().expect("ascii").to_string());
        assert_eq!(allowed.as_deref(), Some(allow), "{method} {path}");
        let req = client()
            .request(method.clone(), format!("{api}{path}"))
            .bearer_auth("refusal-token");
        assert_eq!(
            admin_answer(req).await,
            json(405, r#"{"error":"method_not_allowed"}"#),
            "{method} {path}"
        );
    }
    drop(gw);

    let admin = free_port();
    let _off = Binary::start(
        "",
        &format!(
            "{}\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n",
            alice("\"staff\"")
        ),
    )
    .await;
    crate::common::admin_up(admin).await;
    let req = client()
        .get(format!("http://127.0.0.1:{admin}/sessions"))
        .bearer_auth("any");
    assert_eq!(
        admin_answer(req).await,
        json(
            404,
            r#"{"error":"disabled","message":"Session control is off: set [admin] token_file."}"#
        )
    );
}
