//! Ed25519 public keys as people write them.
//!
//! Pubky writes keys in z-base32 (52 characters, sometimes behind a `pubky` prefix); Tana
//! writes them as hex behind `ed25519_`. Both name the same 32 bytes, so a user configured
//! in either form is recognised whichever signer protocol they log in with. The canonical
//! display form (identity headers, logs) is z-base32.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Deserializer};

use crate::raw::KeyBytes;

/// Why a key string was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// Neither 52 z-base32 characters nor 64 hex digits.
    #[error("expected 52 z-base32 characters or 64 hex digits (optionally prefixed `ed25519_`)")]
    Format,
    /// The bytes decoded but are not a valid curve point.
    #[error("not a valid Ed25519 public key")]
    NotOnCurve,
}

/// A verified-well-formed Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Wraps 32 raw bytes, checking they are a valid point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        VerifyingKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| KeyError::NotOnCurve)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Its bytes, as sessions, devices and attempts hold a key.
    pub(crate) fn key_bytes(&self) -> KeyBytes {
        KeyBytes::new(*self.0.as_bytes())
    }

    /// z-base32, as Pubky writes keys (52 characters).
    pub fn to_z32(&self) -> String {
        z32::encode(self.0.as_bytes())
    }

    /// Lowercase hex (64 characters), without a prefix.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// Strict RFC 8032 verification (rejects small-order keys and non-canonical signatures).
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let sig = Signature::from_bytes(signature);
        self.0.verify_strict(message, &sig).is_ok()
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        let s = s.trim();
        let hex_part = s.strip_prefix("ed25519_").unwrap_or(s);
        let mut bytes = [0u8; 32];
        if hex_part.len() == 64 && hex::decode_to_slice(hex_part, &mut bytes).is_ok() {
            return Self::from_bytes(&bytes);
        }
        let z = s.strip_prefix("pubky").unwrap_or(s);
        if z.len() == 52 {
            if let Ok(decoded) = z32::decode(z.as_bytes()) {
                if let Ok(arr) = <[u8; 32]>::try_from(decoded.as_slice()) {
                    return Self::from_bytes(&arr);
                }
            }
        }
        Err(KeyError::Format)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_z32())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_z32())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Tana's public test key (see docs/protocol.md).
    const TANA_HEX: &str = "17956be6b8d4af0841d05ee4099a2f6f19a11a733b059f13998b6eff4b2d5660";

    #[test]
    fn hex_forms_and_z32_name_the_same_key() {
        let plain: PublicKey = TANA_HEX.parse().expect("plain hex");
        let prefixed: PublicKey = format!("ed25519_{TANA_HEX}").parse().expect("prefixed");
        assert_eq!(plain, prefixed);
        let z = plain.to_z32();
        assert_eq!(z.len(), 52);
        assert_eq!(z.parse::<PublicKey>(), Ok(plain));
        assert_eq!(format!("pubky{z}").parse::<PublicKey>(), Ok(plain));
        assert_eq!(plain.to_hex(), TANA_HEX);
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            "",
            "abc",
            &"g".repeat(64),
            &"0".repeat(63),
            "ed25519_",
            &"!".repeat(52),
        ] {
            assert_eq!(bad.parse::<PublicKey>(), Err(KeyError::Format), "{bad:?}");
        }
    }
}
