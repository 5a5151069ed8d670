//! The request-head scanner: never panics, a complete head ends in its blank line within the
//! bytes, and no head over a limit is reported complete.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qrgate_core::http::head::{scan, HeadLimits, HeadScan};

const LIMITS: HeadLimits = HeadLimits {
    max_line: 64,
    max_head: 512,
    max_headers: 8,
};

fuzz_target!(|data: &[u8]| {
    if let HeadScan::Complete(n) = scan(data, &LIMITS) {
        assert!(n <= data.len());
        assert_eq!(data[n - 1], b'\n');
        let start = data.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(0);
        assert!(n - start <= LIMITS.max_head, "complete but over the head limit");
        let lines = data[start..n].split(|&b| b == b'\n').count();
        assert!(lines <= LIMITS.max_headers + 3, "{lines} lines");
    }
});
