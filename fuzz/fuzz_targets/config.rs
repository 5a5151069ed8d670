//! Config parsing: any text is either a valid config or an error naming a line; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qrgate_core::config::{Config, ConfigError};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, std::path::Path::new("fuzz.toml")) {
        Ok(c) => assert!(!c.apps.is_empty()),
        Err(ConfigError::Invalid { line, column, .. }) => assert!(line >= 1 && column >= 1),
        Err(ConfigError::Read { .. }) => unreachable!("parse reads no file"),
    }
});
