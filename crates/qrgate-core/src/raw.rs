//! Raw 32-byte values, each a type of its own so one is never passed for another: a public
//! key's bytes ([`KeyBytes`]), the SHA-256 of a session or invitation token
//! ([`TokenHash`]), the SHA-256 of a browser's binding cookie ([`BindingHash`]), an
//! attempt's per-protocol secret ([`Secret`]) and an identity assertion key's secret seed
//! ([`SigningSeed`]). Each is made from bytes and read back as
//! bytes explicitly ([`KeyBytes::new`], [`KeyBytes::as_bytes`]); every written form (hex,
//! base64, z-base32) is the bytes' own, so records, the state file and JSON are unchanged.
//! Secrets and hashes of secrets are compared in constant time where they are checked
//! (`cookies::matches_hash`); equality here is for map keys.

/// Declares a 32-byte value type.
macro_rules! bytes32 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub struct $name([u8; 32]);

        impl $name {
            /// The value of these bytes.
            pub const fn new(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// Its bytes.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// From 64 hex digits; `None` for anything else.
            pub fn from_hex(text: &str) -> Option<Self> {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(text, &mut bytes).ok()?;
                Some(Self(bytes))
            }

            /// From exactly 32 bytes; `None` for any other length.
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                <[u8; 32]>::try_from(bytes).ok().map(Self)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }
    };
}

bytes32!(
    /// An Ed25519 public key's 32 bytes as sessions, devices, attempts and the config's key
    /// index hold it (checked to be a key where it entered: [`crate::identity::keys::PublicKey`]).
    KeyBytes
);

bytes32!(
    /// SHA-256 of a token string (a session's or an invitation's): what stores keep instead
    /// of the token, and their key.
    TokenHash
);

bytes32!(
    /// SHA-256 of a browser's binding cookie: what an attempt keeps to know its browser.
    BindingHash
);

bytes32!(
    /// An attempt's per-protocol secret (a nonce, a shared secret), made fresh at creation.
    Secret
);

bytes32!(
    /// The secret seed of an Ed25519 signing key of the gateway's own (an identity assertion
    /// key).
    SigningSeed
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_forms_are_the_bytes_own_and_only_32_bytes_read_back() {
        let bytes: [u8; 32] = std::array::from_fn(|i| u8::try_from(i).unwrap_or(0));
        let hash = TokenHash::new(bytes);
        assert_eq!(hex::encode(hash), hex::encode(bytes));
        assert_eq!(TokenHash::from_hex(&hex::encode(bytes)), Some(hash));
        assert_eq!(
            KeyBytes::from_slice(&bytes).map(|k| *k.as_bytes()),
            Some(bytes)
        );
        assert_eq!(KeyBytes::from_slice(&bytes[..31]), None);
        assert_eq!(BindingHash::from_hex(&hex::encode(&bytes[..31])), None);
        assert_eq!(Secret::from_hex("zz"), None);
    }
}
