//! Limits on a request head, checked on the raw bytes before any HTTP parser sees them.
//!
//! The proxy glue reads a connection's bytes until the head is complete and asks [`scan`]
//! after every read; a head over a limit is refused (414 for the request line, 431 for the
//! header fields) and never buffered further. Defaults follow nginx: 8 KiB for the request
//! line, 32 KiB for the whole head.

/// How large a request head may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Longest request line (`GET /path HTTP/1.1`), without its line break.
    pub max_line: usize,
    /// Largest head: request line plus every header line.
    pub max_head: usize,
    /// Most header fields.
    pub max_headers: usize,
}

/// Why a head is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadRefusal {
    /// The request line is over [`HeadLimits::max_line`] (414).
    #[error("The request line is longer than {0} bytes.")]
    LineTooLong(usize),
    /// The head is over [`HeadLimits::max_head`] (431).
    #[error("The request headers are larger than {0} bytes.")]
    TooLarge(usize),
    /// More than [`HeadLimits::max_headers`] header fields (431).
    #[error("The request has more than {0} header fields.")]
    TooMany(usize),
}

/// What the bytes read so far amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadScan {
    /// No complete head yet, and no limit crossed: read more.
    Incomplete,
    /// A complete head of this many bytes (its blank line included).
    Complete(usize),
    /// A limit is crossed; refuse without reading more.
    Refused(HeadRefusal),
}

/// Scans the start of a connection's (or a reused connection's next request's) bytes.
///
/// Lines end in `\n` (a preceding `\r` is part of the line break); empty lines before the
/// request line are skipped, as RFC 9112 allows.
pub fn scan(buf: &[u8], limits: &HeadLimits) -> HeadScan {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let mut pos = start;
    let mut line_no = 0usize;
    loop {
        let rest = &buf[pos..];
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            // An unfinished line: refuse as soon as it alone is over its limit.
            let partial = rest.len();
            if line_no == 0 && partial > limits.max_line {
                return HeadScan::Refused(HeadRefusal::LineTooLong(limits.max_line));
            }
            if pos.saturating_add(partial).saturating_sub(start) > limits.max_head {
                return HeadScan::Refused(HeadRefusal::TooLarge(limits.max_head));
            }
            return HeadScan::Incomplete;
        };
        let line = &rest[..nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        pos += nl + 1;
        if pos - start > limits.max_head {
            return HeadScan::Refused(HeadRefusal::TooLarge(limits.max_head));
        }
        if line_no == 0 {
            if line.len() > limits.max_line {
                return HeadScan::Refused(HeadRefusal::LineTooLong(limits.max_line));
            }
        } else if line.is_empty() {
            return HeadScan::Complete(pos);
        } else if line_no > limits.max_headers {
            return HeadScan::Refused(HeadRefusal::TooMany(limits.max_headers));
        }
        line_no += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_line: 32,
        max_head: 128,
        max_headers: 3,
    };

    #[test]
    fn complete_heads_report_their_length() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody";
        assert_eq!(scan(head, &LIMITS), HeadScan::Complete(head.len() - 4));
        assert_eq!(scan(b"GET / HTTP/1.1\n\n", &LIMITS), HeadScan::Complete(16));
        assert_eq!(
            scan(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", &LIMITS),
            HeadScan::Complete(22)
        );
        for partial in [
            &b""[..],
            b"GE",
            b"GET / HTTP/1.1\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n\r",
        ] {
            assert_eq!(scan(partial, &LIMITS), HeadScan::Incomplete, "{partial:?}");
        }
    }

    #[test]
    fn each_limit_is_enforced_at_its_boundary() {
        let line = |n: usize| format!("GET /{} HTTP/1.1", "a".repeat(n - 14));
        assert_eq!(line(32).len(), 32);
        let ok = format!("{}\r\n\r\n", line(32));
        assert!(matches!(
            scan(ok.as_bytes(), &LIMITS),
            HeadScan::Complete(_)
        ));
        let long = format!("{}\r\n\r\n", line(33));
        assert_eq!(
            scan(long.as_bytes(), &LIMITS),
            HeadScan::Refused(HeadRefusal::LineTooLong(32))
        );
        // Refused before the line even ends.
        assert_eq!(
            scan(line(33).as_bytes(), &LIMITS),
            HeadScan::Refused(HeadRefusal::LineTooLong(32))
        );
        let three = "GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n";
        assert!(matches!(
            scan(three.as_bytes(), &LIMITS),
            HeadScan::Complete(_)
        ));
        let four = "GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n";
        assert_eq!(
            scan(four.as_bytes(), &LIMITS),
            HeadScan::Refused(HeadRefusal::TooMany(3))
        );
        let big = format!("GET / HTTP/1.1\r\nx: {}\r\n\r\n", "v".repeat(120));
        assert_eq!(
            scan(big.as_bytes(), &LIMITS),
            HeadScan::Refused(HeadRefusal::TooLarge(128))
        );
        // A header line that never ends is refused once it crosses the head limit.
        let endless = format!("GET / HTTP/1.1\r\nx: {}", "v".repeat(200));
        assert_eq!(
            scan(endless.as_bytes(), &LIMITS),
            HeadScan::Refused(HeadRefusal::TooLarge(128))
        );
    }

    /// Growing any head byte by byte never jumps from refused back to incomplete.
    #[test]
    fn a_refusal_is_final_as_bytes_arrive() {
        let head = format!("GET / HTTP/1.1\r\n{}\r\n", "h: v\r\n".repeat(30));
        let mut refused = false;
        for n in 0..=head.len() {
            match scan(&head.as_bytes()[..n], &LIMITS) {
                HeadScan::Refused(_) => refused = true,
                other => assert!(!refused, "at {n}: {other:?} after a refusal"),
            }
        }
        assert!(refused);
    }
}
