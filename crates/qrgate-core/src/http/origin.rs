//! An app's origin, `scheme://host[:port]`, as the operator configured it.
//!
//! Logins are bound to this origin (it is in the native challenge, in Pubky's relay URL, in the
//! cookies' scope); it always comes from config, never from a request's `Host`.

use std::fmt;

/// The origin browsers use for an app: `scheme://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `http` or `https`.
    pub(crate) scheme: String,
    /// `host[:port]` as browsers send it in `Host` (default port omitted).
    pub(crate) authority: String,
}

impl Origin {
    /// True for `https`.
    pub(crate) fn is_https(&self) -> bool {
        self.scheme == "https"
    }

    /// Whether `text` is this origin written out (`scheme://authority`), without building
    /// the string.
    pub(crate) fn is(&self, text: &str) -> bool {
        text.strip_prefix(self.scheme.as_str())
            .and_then(|rest| rest.strip_prefix("://"))
            == Some(self.authority.as_str())
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}

impl std::str::FromStr for Origin {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let url = url::Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err("scheme must be http or https".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("an origin carries no credentials".into());
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err("an origin is scheme://host[:port] with no path, query or fragment".into());
        }
        let host = url.host_str().ok_or("origin needs a host")?;
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        Ok(Origin {
            scheme: url.scheme().to_string(),
            authority,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_strictly() {
        let o: Origin = "https://App.Example.com:8443".parse().expect("origin");
        assert_eq!(o.to_string(), "https://app.example.com:8443");
        assert!(o.is_https());
        let o: Origin = "https://app.example.com:443".parse().expect("origin");
        assert_eq!(o.authority, "app.example.com", "default port omitted");
        for bad in [
            "ftp://x",
            "https://u:p@x",
            "https://x/path",
            "https://x?q",
            "nope",
        ] {
            assert!(bad.parse::<Origin>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_origin_is_its_written_form_exactly() {
        let o: Origin = "https://wiki.example.com:8443".parse().expect("origin");
        assert!(o.is("https://wiki.example.com:8443"));
        assert!(o.is(&o.to_string()));
        for other in [
            "http://wiki.example.com:8443",
            "https://wiki.example.com",
            "https://wiki.example.com:8443/",
            "https//wiki.example.com:8443",
            "",
        ] {
            assert!(!o.is(other), "{other}");
        }
    }
}
