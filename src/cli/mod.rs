//! What the `qrgate` command does besides serving: the admin API's client (`qrgate sessions`,
//! `qrgate devices`, `qrgate invite`), the reference signer (`qrgate keygen` / `qrgate sign`),
//! the device login client (`qrgate login` / `qrgate token`) and the demo upstream app.

pub mod admin_client;
pub mod demo;
mod discovery;
pub mod login;
pub mod signer;

/// `text` as a QR code drawn in the terminal (two rows per character, light on dark so it
/// scans from a dark terminal too); empty if it does not fit in one.
pub(crate) fn terminal_qr(text: &str) -> String {
    qrcode::QrCode::new(text.as_bytes())
        .map(|c| {
            c.render::<qrcode::render::unicode::Dense1x2>()
                .dark_color(qrcode::render::unicode::Dense1x2::Light)
                .light_color(qrcode::render::unicode::Dense1x2::Dark)
                .quiet_zone(true)
                .build()
        })
        .unwrap_or_default()
}
