//! QR codes as compact inline SVG.
//!
//! The qrcode crate's own SVG renderer emits one element per dark module and costs about
//! 1.5 ms for a version-6 code — too slow for a page rendered on every unauthenticated
//! visit. Here the crate only computes the module matrix; dark modules are merged into
//! horizontal runs and written as a single `<path>`, which is both faster and smaller.

use std::fmt::Write;

use qrcode::{Color, EcLevel, QrCode};

/// A rendered code.
#[derive(Debug, Clone)]
pub struct QrSvg {
    /// The `<svg>` element.
    pub svg: String,
    /// QR version (1–40); kept ≤ 10 for a quick scan.
    pub version: i16,
}

/// Renders `data` at error-correction level M with a 4-module quiet zone.
/// `None` if the data does not fit in any QR version.
pub fn render(data: &str, label: &str) -> Option<QrSvg> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).ok()?;
    let version = match code.version() {
        qrcode::Version::Normal(v) => v,
        qrcode::Version::Micro(v) => v,
    };
    let width = code.width();
    let colors = code.to_colors();
    let size = width + 8;
    let mut path = String::with_capacity(width * width);
    for y in 0..width {
        let row = &colors[y * width..(y + 1) * width];
        let mut x = 0;
        while x < width {
            if row[x] == Color::Dark {
                let start = x;
                while x < width && row[x] == Color::Dark {
                    x += 1;
                }
                let _ = write!(
                    path,
                    "M{} {}h{}v1h-{}z",
                    start + 4,
                    y + 4,
                    x - start,
                    x - start
                );
            } else {
                x += 1;
            }
        }
    }
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" role=\"img\" aria-label=\"{label}\" shape-rendering=\"crispEdges\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>",
        label = crate::reply::escape_html(label),
    );
    Some(QrSvg { svg, version })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_decodable_shape() {
        let q = render(
            "https://app.example.com/.qrgate/auth/session/sess_0123456789abcdef",
            "QR",
        )
        .expect("fits");
        assert!(q.version <= 10, "version {}", q.version);
        assert!(q.svg.starts_with("<svg") && q.svg.ends_with("</svg>"));
        assert!(q.svg.matches('M').count() > 50, "has runs");
        assert!(render(&"x".repeat(5000), "QR").is_none());
    }
}
