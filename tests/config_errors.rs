//! `qrgate check-config` on good and bad files, through the real binary.

use std::process::Command;

fn check(text: &str) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_qrgate"))
        .arg("check-config")
        .arg("--config")
        .arg(&path)
        .output()
        .expect("run qrgate");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn shipped_config_is_valid() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml"))
        .expect("shipped config");
    let (ok, out, err) = check(&text);
    assert!(ok, "{err}");
    assert!(out.starts_with("ok"), "{out}");
    assert!(
        out.contains("app Demo app: http://127.0.0.1:8080 -> builtin:demo"),
        "{out}"
    );
}

#[test]
fn bad_configs_name_line_and_key() {
    let good = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml"))
        .expect("shipped config");
    let line_of = |needle: &str| {
        good.lines()
            .position(|l| l.contains(needle))
            .expect("needle")
            + 1
    };
    let cases = [
        (
            good.replace("threads = 2", "thread = 2"),
            line_of("threads = 2"),
            "server",
            "unknown field `thread`",
        ),
        (
            good.replace(
                "origin = \"http://127.0.0.1:8080\"",
                "origin = \"http://127.0.0.1:8080/app\"",
            ),
            line_of("origin ="),
            "app[0].origin",
            "no path",
        ),
        (
            good.replace("upstream = \"builtin:demo\"", "upstream = \"nowhere\""),
            line_of("upstream ="),
            "app[0].upstream",
            "host:port",
        ),
        (
            good.replace("ed25519_17956be6", "ed25519_x7956be6"),
            line_of("key = "),
            "user[0].key",
            "z-base32",
        ),
        (
            good.replace("idle_timeout_seconds = 3600", "idle_timeout_seconds = -5"),
            line_of("idle_timeout_seconds"),
            "session.idle_timeout_seconds",
            "invalid value",
        ),
        (
            good.replace(
                "signers = [\"native\", \"pubky\", \"tana\"]",
                "signers = [\"native\", \"sms\"]",
            ),
            line_of("signers ="),
            "app[0].signers[1]",
            "unknown signer",
        ),
    ];
    for (text, line, key, needle) in cases {
        let (ok, _, err) = check(&text);
        assert!(!ok, "accepted a bad config ({key})");
        assert!(
            err.contains(&format!("config.toml:{line}:")),
            "line {line} in {err}"
        );
        assert!(err.contains(key), "key {key} in {err}");
        assert!(err.contains(needle), "{needle:?} in {err}");
    }
}
