//! The short description of a browser that the person approving a login sees.
//!
//! A fixed vocabulary ("Firefox on Linux"), so the person at the phone can recognise their own
//! machine without the gateway echoing text an attacker chose.

/// A short, fixed-vocabulary description of a browser ("Firefox on Linux"), so the person
/// at the phone can recognise their own machine without the gateway echoing attacker text.
pub(crate) fn summarize_agent(ua: &str) -> String {
    let browser = if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("OPR/") {
        "Opera"
    } else if ua.contains("Firefox/") {
        "Firefox"
    } else if ua.contains("Chrome/") || ua.contains("Chromium/") {
        "Chrome"
    } else if ua.contains("Safari/") {
        "Safari"
    } else if ua.starts_with("curl/") {
        "curl"
    } else {
        "Unknown browser"
    };
    let os = if ua.contains("Android") {
        "Android"
    } else if ua.contains("iPhone") || ua.contains("iPad") {
        "iOS"
    } else if ua.contains("Windows") {
        "Windows"
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        "macOS"
    } else if ua.contains("CrOS") {
        "ChromeOS"
    } else if ua.contains("Linux") {
        "Linux"
    } else {
        "unknown system"
    };
    format!("{browser} on {os}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_are_summarised() {
        assert_eq!(
            summarize_agent(
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
            ),
            "Firefox on Linux"
        );
        assert_eq!(
            summarize_agent(
                "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/120 Safari/537.36 Edg/120"
            ),
            "Edge on Windows"
        );
        assert_eq!(
            summarize_agent("<script>"),
            "Unknown browser on unknown system"
        );
    }
}
