//! QR codes as compact inline SVG.
//!
//! The qrcode crate's own SVG renderer emits one element per dark module and costs about
//! 1.5 ms for a version-6 code — too slow for a page rendered on every unauthenticated
//! visit. Here the crate computes the module matrix; dark modules are merged into
//! horizontal runs and written as a single `<path>`, which is both faster and smaller.
//!
//! The crate's choice of mask (ISO/IEC 18004 §7.8.3: try all eight, keep the lowest penalty)
//! allocates for every module it scores and took 0.5 ms of a version-5 code's 0.52 ms, so
//! [`penalty`] scores the eight candidates here, by the same four rules and with the same
//! tie-break as the crate; a test checks that both pick the same mask.

use std::fmt::Write;

use qrcode::canvas::{Canvas, MaskPattern};
use qrcode::{bits, ec, Color, EcLevel};

/// The eight masks, in the order the crate tries them (the first lowest penalty wins).
const MASKS: [MaskPattern; 8] = [
    MaskPattern::Checkerboard,
    MaskPattern::HorizontalLines,
    MaskPattern::VerticalLines,
    MaskPattern::DiagonalLines,
    MaskPattern::LargeCheckerboard,
    MaskPattern::Fields,
    MaskPattern::Diamonds,
    MaskPattern::Meadow,
];

/// A rendered code.
#[derive(Debug, Clone)]
pub(crate) struct QrSvg {
    /// The `<svg>` element.
    pub(crate) svg: String,
    /// QR version (1–40); kept ≤ 10 for a quick scan.
    #[cfg(test)]
    pub(crate) version: i16,
}

/// Renders `data` at error-correction level M with a 4-module quiet zone.
/// `None` if the data does not fit in any QR version.
pub(crate) fn render(data: &str, label: &str) -> Option<QrSvg> {
    // The version is kept for the unit tests that hold codes small.
    #[cfg_attr(not(test), allow(unused_variables))]
    let (colors, width, version) = matrix(data.as_bytes())?;
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
        label = crate::http::reply::escape_html(label),
    );
    Some(QrSvg {
        svg,
        #[cfg(test)]
        version,
    })
}

/// The masked module matrix (row-major), its width and the QR version, for `data` at level M.
fn matrix(data: &[u8]) -> Option<(Vec<Color>, usize, i16)> {
    let bits = smallest_bits(data)?;
    let version = bits.version();
    let (data, ec) = ec::construct_codewords(&bits.into_bytes(), version, EcLevel::M).ok()?;
    let mut canvas = Canvas::new(version, EcLevel::M);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&data, &ec);
    let width = usize::try_from(version.width()).ok()?;
    let number = match version {
        qrcode::Version::Normal(v) | qrcode::Version::Micro(v) => v,
    };
    let best = MASKS
        .iter()
        .map(|&mask| {
            let mut masked = canvas.clone();
            masked.apply_mask(mask);
            let colors = masked.into_colors();
            (penalty(&colors, width), colors)
        })
        // `min_by_key` keeps the first of equal keys, as the crate does.
        .min_by_key(|(score, _)| *score)?;
    Some((best.1, width, number))
}

/// `data` encoded at error correction M in the smallest version: the crate's mixed-mode
/// segmentation, or all of it as bytes where that is smaller (the segmentation is a
/// heuristic, and a run of digits in random ids can make it a version larger than bytes).
fn smallest_bits(data: &[u8]) -> Option<bits::Bits> {
    let auto = bits::encode_auto(data, EcLevel::M).ok();
    let as_bytes = (1..=40).find_map(|v| {
        let mut b = bits::Bits::new(qrcode::Version::Normal(v));
        (b.push_byte_data(data).is_ok() && b.push_terminator(EcLevel::M).is_ok()).then_some(b)
    });
    let number = |b: &bits::Bits| match b.version() {
        qrcode::Version::Normal(v) | qrcode::Version::Micro(v) => v,
    };
    match (auto, as_bytes) {
        (Some(a), Some(b)) if number(&b) < number(&a) => Some(b),
        (Some(a), _) => Some(a),
        (None, b) => b,
    }
}

/// A masked symbol's penalty (ISO/IEC 18004 §7.8.3 as the qrcode crate computes it; lower is
/// better): runs of five or more same-coloured modules in a row or column (length − 2 each),
/// 2×2 same-coloured blocks (3 each), the finder-like `#.###.#` with four light modules on
/// either side (40 each), and the distance of the dark share from one half.
fn penalty(colors: &[Color], width: usize) -> u64 {
    let rows: Vec<bool> = colors.iter().map(|c| *c == Color::Dark).collect();
    let mut columns = Vec::with_capacity(rows.len());
    for x in 0..width {
        columns.extend(rows.iter().skip(x).step_by(width));
    }
    let mut score = 0u64;
    for line in rows.chunks(width).chain(columns.chunks(width)) {
        score += line_penalty(line);
    }
    for (row, below) in rows.chunks(width).zip(rows.chunks(width).skip(1)) {
        for (top, bottom) in row.windows(2).zip(below.windows(2)) {
            if top[0] == top[1] && bottom[0] == top[0] && bottom[1] == top[0] {
                score += 3;
            }
        }
    }
    let dark = rows.iter().filter(|d| **d).count();
    let ratio = dark * 200 / rows.len().max(1);
    score + ratio.abs_diff(100) as u64
}

/// The run and finder-like penalties of one row or column.
fn line_penalty(line: &[bool]) -> u64 {
    const FINDER: [bool; 7] = [true, false, true, true, true, false, true];
    let mut score = 0u64;
    for run in line.chunk_by(|a, b| a == b) {
        if run.len() >= 5 {
            score += run.len() as u64 - 2;
        }
    }
    for (start, window) in line.windows(7).enumerate() {
        if window != FINDER {
            continue;
        }
        let before = &line[start.saturating_sub(4)..start];
        let after = &line[start + 7..(start + 11).min(line.len())];
        if before.iter().all(|d| !d) || after.iter().all(|d| !d) {
            score += 40;
        }
    }
    score
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mask chosen here is the crate's own choice, for codes of every size we render.
    #[test]
    fn the_same_mask_as_the_crate() {
        for n in 0..120 {
            let data = format!(
                "https://app{n}.example.com/.qrgate/auth/session/sess_{:016x}{}",
                (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                "x".repeat(n)
            );
            let (ours, width, _) = matrix(data.as_bytes()).expect("fits");
            let crate_code =
                qrcode::QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M)
                    .expect("fits");
            // Smaller than the crate's where its segmentation is not the smallest; the same
            // symbol otherwise.
            if width == crate_code.width() {
                assert!(ours == crate_code.to_colors(), "mask differs for {data}");
            } else {
                assert!(width < crate_code.width(), "{data}");
            }
        }
    }

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
