//! A response the gateway answers itself, built without touching a socket.
//!
//! Handlers return a [`Reply`]; only the proxy glue writes it out. Every reply carries the
//! same defensive headers (no caching, no framing, no sniffing, no referrer), so no handler
//! can forget them.

use bytes::Bytes;
use serde::Serialize;

use crate::i18n::Lang;

/// Which form a local answer takes, and in which language: a small page for a person, JSON
/// for a program (whose `message` a page may show).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// An HTML page.
    Page(Lang),
    /// `{"error": code, "message": text}`.
    Json(Lang),
}

impl Form {
    /// The language of the answer.
    pub fn lang(self) -> Lang {
        match self {
            Form::Page(l) | Form::Json(l) => l,
        }
    }

    /// Whether the answer is a page.
    pub fn is_page(self) -> bool {
        matches!(self, Form::Page(_))
    }

    /// A page in the same language.
    pub fn page(self) -> Form {
        Form::Page(self.lang())
    }

    /// JSON in the same language.
    pub fn json(self) -> Form {
        Form::Json(self.lang())
    }
}

/// A complete local response.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Extra headers (e.g. `Location`, `Set-Cookie`, `WWW-Authenticate`).
    pub headers: Vec<(&'static str, String)>,
    /// The body; its length becomes `Content-Length`.
    pub body: Bytes,
}

/// Headers every local reply carries.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    // Not `no-referrer`: with it a browser posts our own forms with `Origin: null`.
    ("referrer-policy", "same-origin"),
];

impl Reply {
    /// A JSON body.
    pub(crate) fn json<T: Serialize>(status: u16, value: &T) -> Reply {
        // Serializing our own plain structs cannot fail; an empty object is still valid JSON.
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Reply {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// `{"error": code, "message": message}` — the shape of every JSON error.
    pub(crate) fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply::json(
            status,
            &serde_json::json!({ "error": code, "message": message }),
        )
    }

    /// An HTML body.
    pub(crate) fn html(status: u16, body: impl Into<Bytes>) -> Reply {
        Reply {
            status,
            content_type: "text/html; charset=utf-8",
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A small self-contained HTML error page in `lang`.
    pub(crate) fn error_page(lang: Lang, status: u16, title: &str, message: &str) -> Reply {
        let page = format!(
            "<!doctype html><html lang=\"{tag}\" dir=\"{dir}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{status} {title}</title><style>body{{font:16px/1.5 system-ui,sans-serif;\
             max-width:32rem;margin:15vh auto;padding:0 1rem;color:#222;background:#fafafa}}\
             @media (prefers-color-scheme:dark){{body{{color:#eee;background:#151515}}}}\
             h1{{font-size:1.4rem}}</style></head><body><h1>{title}</h1><p>{message}</p></body></html>",
            tag = lang.tag(),
            dir = lang.dir(),
            title = escape_html(title),
            message = escape_html(message),
        );
        Reply::html(status, page)
    }

    /// An error as a page or JSON.
    pub(crate) fn error_for(
        form: Form,
        status: u16,
        code: &str,
        title: &str,
        message: &str,
    ) -> Reply {
        match form {
            Form::Page(lang) => Reply::error_page(lang, status, title, message),
            Form::Json(_) => Reply::error(status, code, message),
        }
    }

    /// A redirect with an empty body.
    pub(crate) fn redirect(status: u16, location: String) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: vec![("location", location)],
            body: Bytes::new(),
        }
    }

    /// Adds a header.
    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

/// Minimal HTML escaping for text placed in element content or quoted attributes.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
