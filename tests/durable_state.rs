//! The state file through the real binary: a file that cannot be read whole stops the start
//! and is kept as it was; an enrollment or a device removal is answered only once it is on
//! disk, a failed write records nothing, and `kill -9` right after an answer loses nothing.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::common::{browser, client, eventually, sign_in_at, sign_in_key, write_private};
use crate::operate::{alice, Binary};
use qrgate::cli::signer::{self, Key};

const TOKEN: &str = "state-admin-token";

/// A gateway with `state.json` and an admin listener (token [`TOKEN`]); returns it and the
/// admin API's base URL.
async fn gateway() -> (Binary, String) {
    let admin = crate::common::free_port();
    let gw = Binary::start(
        // No periodic write during the test: every write seen is the one under test.
        "state_file = \"state.json\"\nstate_interval_seconds = 3600",
        &format!(
            "{}\n[admin]\nlisten = \"127.0.0.1:{admin}\"\ntoken_file = \"admin.token\"\n",
            alice("\"staff\"")
        ),
    )
    .await;
    write_private(&gw.dir.path().join("admin.token"), TOKEN);
    let api = format!("http://127.0.0.1:{admin}");
    crate::common::admin_up(admin).await;
    (gw, api)
}

/// Starts the binary again after it stopped or was killed, and waits for both listeners.
async fn restart(gw: &mut Binary, api: &str) {
    gw.child = gw.spawn();
    gw.wait_up().await;
    let port = api.rsplit(':').next().and_then(|p| p.parse().ok());
    crate::common::admin_up(port.expect("the admin port")).await;
}

/// Calls the admin API; returns the status and the JSON answer.
async fn admin(api: &str, post: bool, path: &str) -> (u16, Value) {
    let c = client();
    let url = format!("{api}{path}");
    let req = if post { c.post(url) } else { c.get(url) };
    let r = req.bearer_auth(TOKEN).send().await.expect("admin answer");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The keys (z-base32) of the devices the admin API lists.
async fn device_keys(api: &str) -> Vec<String> {
    let (status, body) = admin(api, false, "/devices").await;
    assert_eq!(status, 200, "{body}");
    body["devices"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|d| d["key"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Starts the binary again and expects it to refuse: returns what it logged this time.
async fn refused_start(gw: &mut Binary) -> String {
    let before = gw.log().len();
    gw.child = gw.spawn();
    let mut status = None;
    let exited = eventually(Duration::from_secs(20), || {
        status = gw.child.0.try_wait().ok().flatten();
        let done = status.is_some();
        async move { done }
    })
    .await;
    let log = gw.log();
    assert!(exited, "the start was refused: {log}");
    assert!(status.is_some_and(|s| !s.success()), "{log}");
    log.get(before..).unwrap_or_default().to_string()
}

fn check_config(gw: &Binary) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qrgate"))
        .args(["check-config", "--config"])
        .arg(gw.config_path())
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

#[tokio::test]
async fn a_state_file_that_cannot_be_read_whole_stops_the_start_and_is_kept_as_it_was() {
    let (mut gw, api) = gateway().await;
    let (b, _) = sign_in_at(&gw.base).await;
    let link = admin(&api, true, "/invites?user=alice").await.1["link"]
        .as_str()
        .expect("link")
        .to_string();
    let phone = Key::generate();
    signer::enroll(&client(), &link, &phone)
        .await
        .expect("enrolled");
    gw.stop().await;
    let path = gw.dir.path().join("state.json");
    let good = std::fs::read_to_string(&path).expect("state");
    assert!(good.contains(&phone.public().to_hex()), "{good}");

    // A rollback's file, one damaged session, a field this version does not know, not JSON.
    let damaged_hash = {
        let mut v: Value = serde_json::from_str(&good).expect("json");
        v["sessions"][0]["hash"] = Value::from("not a hash");
        v.to_string()
    };
    let unknown_field = {
        let mut v: Value = serde_json::from_str(&good).expect("json");
        v["sessions"][0]["colour"] = Value::from("blue");
        v.to_string()
    };
    let unknown_device_field = {
        let mut v: Value = serde_json::from_str(&good).expect("json");
        v["devices"][0]["colour"] = Value::from("blue");
        v.to_string()
    };
    let cases = [
        (
            "a device field this version does not know",
            unknown_device_field,
        ),
        (
            "another version",
            good.replacen("\"version\":1", "\"version\":2", 1),
        ),
        ("a damaged entry", damaged_hash),
        ("an unknown field", unknown_field),
        (
            "half a file",
            good.get(..good.len() / 2).unwrap_or("{").to_string(),
        ),
        // One of two would be read and the other dropped, then overwritten.
        (
            "a second devices list",
            format!(
                "{},\"devices\":[]}}",
                good.trim_end().strip_suffix('}').expect("an object")
            ),
        ),
        (
            "a device's field twice",
            good.replacen(
                "\"user\":\"alice\"",
                "\"user\":\"mallory\",\"user\":\"alice\"",
                1,
            ),
        ),
    ];
    let shown = path.display().to_string();
    for (what, text) in cases {
        assert_ne!(text, good, "{what}");
        std::fs::write(&path, &text).expect("write");
        let log = refused_start(&mut gw).await;
        assert!(log.contains(&shown) && log.contains("mv "), "{what}: {log}");
        assert_eq!(
            std::fs::read_to_string(&path).expect("kept"),
            text,
            "{what}: the file is untouched"
        );
        let (ok, out) = check_config(&gw);
        assert!(!ok && out.contains(&shown), "{what}: check-config: {out}");
    }
    if is_root() {
        // Permission bits do not stop root from reading: a folder in the file's place is an
        // unreadable file for every user (the mode case runs when the tests are not root).
        eprintln!("running as root: the mode-000 case is covered by the folder case");
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&path, &good).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).expect("chmod");
        let log = refused_start(&mut gw).await;
        assert!(
            log.contains(&shown) && log.contains("mv "),
            "mode 000: {log}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(std::fs::read_to_string(&path).expect("kept"), good);
    }
    std::fs::remove_file(&path).expect("remove");
    std::fs::create_dir(&path).expect("a folder in its place");
    std::fs::write(path.join("keep"), "x").expect("inside");
    let log = refused_start(&mut gw).await;
    assert!(
        log.contains(&shown) && log.contains("mv "),
        "a folder: {log}"
    );
    assert!(path.join("keep").is_file(), "the folder is untouched");

    // The way out works: with the file readable again, everything is back.
    std::fs::remove_dir_all(&path).expect("rm");
    std::fs::write(&path, &good).expect("write");
    let (ok, out) = check_config(&gw);
    assert!(ok && out.contains("1 session(s), 1 device(s)"), "{out}");
    restart(&mut gw, &api).await;
    assert!(device_keys(&api).await.contains(&phone.public().to_z32()));
    let r = b
        .get(format!("{}/app", gw.base))
        .header("accept", "application/json")
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 200, "the session came back");
}

/// Whether the tests run as root (permission bits then stop no read).
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[tokio::test]
async fn an_enrollment_or_removal_is_answered_only_once_on_disk_and_survives_kill_9() {
    let (mut gw, api) = gateway().await;
    let path = gw.dir.path().join("state.json");
    let link = admin(&api, true, "/invites?user=alice").await.1["link"]
        .as_str()
        .expect("link")
        .to_string();
    let phone = Key::generate();
    let z = phone.public().to_z32();

    // The state file cannot be written (a folder where the new file is renamed to): the
    // enrollment is refused with 503, nothing is recorded, and the invitation still works.
    let _ = std::fs::remove_file(&path);
    std::fs::create_dir(&path).expect("a folder in its place");
    std::fs::write(path.join("keep"), "x").expect("inside");
    let failed = signer::enroll(&client(), &link, &phone).await;
    assert!(
        matches!(
            failed,
            Err(signer::SignerError::Refused { status: 503, .. })
        ),
        "{failed:?}"
    );
    assert!(device_keys(&api).await.is_empty(), "nothing recorded");
    let b = browser();
    let (_, payload, _) = crate::common::open_login_at(&gw.base, &b, "/").await;
    let url = signer::attempt_url(&payload).expect("url");
    let req = signer::scan(&client(), &url).await.expect("scan");
    let refused = signer::approve(&client(), &url, &phone, &req).await;
    assert!(
        matches!(
            refused,
            Err(signer::SignerError::Refused { status: 403, .. })
        ),
        "the key signs nobody in: {refused:?}"
    );
    std::fs::remove_dir_all(&path).expect("rm");

    // The same invitation, the file writable: enrolled, then killed at once.
    assert_eq!(
        signer::enroll(&client(), &link, &phone)
            .await
            .expect("enrolled"),
        "alice"
    );
    gw.child.0.kill().expect("kill -9");
    let _ = gw.child.0.wait();
    restart(&mut gw, &api).await;
    assert_eq!(device_keys(&api).await, vec![z.clone()], "{}", gw.log());
    let (p, _) = sign_in_key(&gw.base, browser(), client(), &phone).await;
    let r = p
        .get(format!("{}/app", gw.base))
        .header("accept", "application/json")
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 200, "the enrolled key signs in after kill -9");

    // A removal the file cannot take is refused and changes nothing.
    let aside = gw.dir.path().join("state.aside");
    std::fs::rename(&path, &aside).expect("aside");
    std::fs::create_dir(&path).expect("a folder in its place");
    let (status, body) = admin(&api, true, &format!("/devices/revoke?key={z}")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(device_keys(&api).await, vec![z.clone()]);
    std::fs::remove_dir(&path).expect("rm");
    std::fs::rename(&aside, &path).expect("back");

    // A removal answered is on disk: killed at once, it stays removed.
    let (status, body) = admin(&api, true, &format!("/devices/revoke?key={z}")).await;
    assert_eq!((status, body["revoked"].as_u64()), (200, Some(1)), "{body}");
    gw.child.0.kill().expect("kill -9");
    let _ = gw.child.0.wait();
    restart(&mut gw, &api).await;
    assert!(device_keys(&api).await.is_empty(), "{}", gw.log());
}

/// Alice as staff, and identity assertions signed with keys kept in `keys.json`.
fn with_assertion_keys() -> String {
    format!(
        "{}\n[assertion]\nenabled = true\nkey_file = \"keys.json\"\n",
        alice("\"staff\"")
    )
}

#[tokio::test]
async fn an_assertion_key_file_that_cannot_be_read_whole_stops_the_start_and_is_kept() {
    let mut gw = Binary::start("", &with_assertion_keys()).await;
    gw.stop().await;
    let path = gw.dir.path().join("keys.json");
    let good = std::fs::read_to_string(&path).expect("made at first start");
    let shown = path.display().to_string();
    let damaged = {
        let mut v: Value = serde_json::from_str(&good).expect("json");
        v["keys"][0]["secret"] = Value::from("not hex");
        v.to_string()
    };
    let unknown_field = {
        let mut v: Value = serde_json::from_str(&good).expect("json");
        v["keys"][0]["alg"] = Value::from("a later version's");
        v.to_string()
    };
    let twice = format!(
        "{{\"keys\":[],{}",
        good.trim_start().strip_prefix('{').expect("an object")
    );
    for (what, text) in [
        ("a damaged key", damaged),
        ("an unknown field", unknown_field),
        (
            "its keys twice (the first would be dropped, then overwritten)",
            twice,
        ),
    ] {
        std::fs::write(&path, &text).expect("write");
        let log = refused_start(&mut gw).await;
        assert!(log.contains(&shown) && log.contains("mv "), "{what}: {log}");
        assert_eq!(
            std::fs::read_to_string(&path).expect("kept"),
            text,
            "{what}"
        );
    }
    std::fs::write(&path, &good).expect("write");
    gw.child = gw.spawn();
    gw.wait_up().await;
    assert_eq!(
        std::fs::read_to_string(&path).expect("kept"),
        good,
        "the same keys"
    );
}

#[tokio::test]
async fn a_state_or_key_file_someone_else_could_change_or_read_is_refused_and_kept() {
    use std::os::unix::fs::PermissionsExt;
    let mut gw = Binary::start(
        "state_file = \"state.json\"\nstate_interval_seconds = 3600",
        &with_assertion_keys(),
    )
    .await;
    gw.stop().await;
    let state = gw.dir.path().join("state.json");
    let keys = gw.dir.path().join("keys.json");
    let (state_text, keys_text) = (
        std::fs::read_to_string(&state).expect("written at shutdown"),
        std::fs::read_to_string(&keys).expect("made at first start"),
    );
    let chmod = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };

    // Devices in a state file others may write could be anyone's: refused, named, kept.
    chmod(&state, 0o666);
    let shown = state.display().to_string();
    let log = refused_start(&mut gw).await;
    assert!(
        log.contains(&shown) && log.contains("open to group or others") && log.contains("mv "),
        "{log}"
    );
    let (ok, out) = check_config(&gw);
    assert!(
        !ok && out.contains(&shown) && out.contains("chmod 600"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(&state).expect("kept"), state_text);
    // Others may read it (it holds no token, only hashes): 0644 is believed.
    chmod(&state, 0o644);
    let (ok, out) = check_config(&gw);
    assert!(ok, "{out}");
    if is_root() {
        std::os::unix::fs::chown(&state, Some(65534), None).expect("chown");
        // Root checking a service's config cannot know the service's user: it says who may
        // read the file (a gateway running as root refuses it).
        let (ok, out) = check_config(&gw);
        assert!(
            ok && out.contains("owned by uid 65534; only a gateway running as uid 65534"),
            "{out}"
        );
        let log = refused_start(&mut gw).await;
        assert!(
            log.contains(&shown) && log.contains("owned by uid 65534"),
            "{log}"
        );
        std::os::unix::fs::chown(&state, Some(0), None).expect("chown");
    }
    // Something in its place that is not a file (opening a FIFO waits for a writer): refused
    // at once.
    let aside = gw.dir.path().join("state.aside");
    std::fs::rename(&state, &aside).expect("aside");
    let c = std::ffi::CString::new(state.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let log = refused_start(&mut gw).await;
    assert!(
        log.contains(&shown) && log.contains("not a regular file"),
        "{log}"
    );
    std::fs::remove_file(&state).expect("fifo");
    std::fs::rename(&aside, &state).expect("back");

    // Signing keys others may read, or a group may change, are refused too, and kept.
    let shown = keys.display().to_string();
    chmod(&keys, 0o620);
    let log = refused_start(&mut gw).await;
    assert!(
        log.contains(&shown) && log.contains("open to group or others"),
        "{log}"
    );
    chmod(&keys, 0o644);
    let log = refused_start(&mut gw).await;
    assert!(
        log.contains(&shown) && log.contains("open to group or others"),
        "{log}"
    );
    assert_eq!(std::fs::read_to_string(&keys).expect("kept"), keys_text);

    // Put right (a group of instances sharing the keys may read them), both are read as
    // they were.
    chmod(&keys, 0o640);
    gw.child = gw.spawn();
    gw.wait_up().await;
    assert_eq!(std::fs::read_to_string(&keys).expect("kept"), keys_text);
}

#[tokio::test]
async fn session_times_ahead_of_now_in_the_state_file_count_as_now() {
    let (mut gw, api) = gateway().await;
    let (b, _) = sign_in_at(&gw.base).await;
    gw.stop().await;
    let path = gw.dir.path().join("state.json");
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_millis() as u64
    };
    // Written by a clock a year fast (or by hand): the session would outlive its absolute
    // lifetime, idle window and step-up freshness by a year.
    let year_ahead = now_ms() + 365 * 86_400_000;
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("state")).expect("json");
    for field in ["created_ms", "last_seen_ms", "approved_ms"] {
        v["sessions"][0][field] = Value::from(year_ahead);
    }
    std::fs::write(&path, v.to_string()).expect("write");
    restart(&mut gw, &api).await;
    let after_start = now_ms() / 1000;
    let (status, body) = admin(&api, false, "/sessions").await;
    assert_eq!(status, 200, "{body}");
    let session = &body["sessions"][0];
    for field in ["created", "last_seen"] {
        let t = session[field].as_u64().expect("a time");
        assert!(
            t <= after_start,
            "{field} {t} is not after now ({after_start}): {body}"
        );
    }
    // The session itself still works: only its times were brought back.
    let r = b
        .get(format!("{}/app", gw.base))
        .header("accept", "application/json")
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn temporary_copies_left_by_an_interrupted_write_are_removed_at_start() {
    let mut gw = Binary::start(
        "state_file = \"state.json\"\nstate_interval_seconds = 3600",
        &with_assertion_keys(),
    )
    .await;
    gw.stop().await;
    let dir = gw.dir.path().to_path_buf();
    let make = |name: &str, hour_old: bool| {
        let path = dir.join(name);
        std::fs::write(&path, "{\"sessions\":[\"a copy\"]}").expect("write");
        if hour_old {
            std::fs::File::options()
                .write(true)
                .open(&path)
                .expect("open")
                .set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
                .expect("mtime");
        }
        path
    };
    // What a `kill -9` between creating a temporary file and renaming it leaves.
    let left_state = make("state.tmp.4242.123456789", true);
    let left_keys = make("keys.tmp.4242.987654321", true);
    // A write in progress (another process's, e.g. an upgrade's), and names that are not a
    // write's temporary file: kept.
    let in_progress = make("state.tmp.4242.5", false);
    let kept = [
        in_progress,
        make("state.tmp.x.1", true),
        make("state.tmp.1.2.3", true),
        make("other.tmp.1.2", true),
    ];
    let outside = make("outside", true);
    let link = dir.join("state.tmp.7.8");
    std::os::unix::fs::symlink(&outside, &link).expect("link");

    gw.child = gw.spawn();
    gw.wait_up().await;
    assert!(
        !left_state.exists() && !left_keys.exists(),
        "leftovers removed"
    );
    for path in &kept {
        assert!(path.exists(), "{} kept", path.display());
    }
    assert!(
        link.symlink_metadata().is_ok() && outside.exists(),
        "a link is not a write's file"
    );
    assert!(
        gw.log().contains("left by an interrupted write"),
        "{}",
        gw.log()
    );
}
