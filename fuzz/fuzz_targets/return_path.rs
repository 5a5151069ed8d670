//! Return-path validation: never panics; whatever it accepts stays on the origin.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qrgate_core::http::redirect::validate_return_path;

fuzz_target!(|data: &[u8]| {
    let Ok(rd) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(path) = validate_return_path(rd) {
        assert!(path.starts_with('/'), "{rd:?} -> {path:?}");
        assert!(!path.starts_with("//"), "{rd:?} -> {path:?}");
        assert!(!path.contains('\\'), "{rd:?} -> {path:?}");
        assert!(!path.chars().any(char::is_control), "{rd:?} -> {path:?}");
        let base = url::Url::parse("https://app.example/").expect("base");
        let joined = base.join(&path).expect("an accepted path joins");
        assert_eq!(joined.origin(), base.origin(), "{rd:?} -> {path:?} leaves the origin");
    }
});
