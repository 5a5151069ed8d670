//! The OpenID Connect provider's signing keys: one current key per algorithm (RS256 for every
//! client unless it asks for ES256 or EdDSA), made with `aws-lc-rs`, signed with through
//! `jsonwebtoken`'s `aws_lc_rs` backend (no `rsa` crate: RUSTSEC-2023-0071), and published
//! in the JWKS with their RFC 7638 thumbprint as `kid`.
//!
//! Rotation follows the assertion keys: when an algorithm's newest key is older than the
//! rotation period a new one signs, and the previous stays published for one more period
//! (`rotate`), so ID tokens it signed still verify. The glue keeps the keys in a 0600 file.

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// An ID token signing algorithm the provider offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 over a 2048-bit key: what OpenID Connect Discovery
    /// requires every provider to offer, and the default.
    #[serde(rename = "RS256")]
    Rs256,
    /// ECDSA P-256 with SHA-256.
    #[serde(rename = "ES256")]
    Es256,
    /// Ed25519.
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl SigningAlg {
    /// Every algorithm, in the order discovery lists them.
    pub(crate) const ALL: [SigningAlg; 3] =
        [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa];

    /// The JOSE name (`alg`).
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Es256 => "ES256",
            SigningAlg::EdDsa => "EdDSA",
        }
    }

    /// The algorithm named `name` in JOSE spelling.
    pub(crate) fn parse(name: &str) -> Option<SigningAlg> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    fn jose(self) -> Algorithm {
        match self {
            SigningAlg::Rs256 => Algorithm::RS256,
            SigningAlg::Es256 => Algorithm::ES256,
            SigningAlg::EdDsa => Algorithm::EdDSA,
        }
    }
}

/// Why a key could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum OidcKeyError {
    /// Key generation failed in the crypto library.
    #[error("could not generate a {0} key")]
    Generate(&'static str),
    /// A stored key is not a PKCS#8 key of its algorithm.
    #[error("key {kid}: {reason}")]
    Malformed {
        /// The key's id.
        kid: String,
        /// Why.
        reason: String,
    },
    /// No key of an algorithm a client needs.
    #[error("no {0} signing key")]
    Missing(&'static str),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
}

/// One signing key: its algorithm, the private key (PKCS#8 v1 DER) and when it was made.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcKey {
    /// Its id (`kid`): the RFC 7638 thumbprint of its public half.
    pub kid: String,
    /// What it signs with.
    pub alg: SigningAlg,
    /// The private key, PKCS#8 v1 DER.
    pub pkcs8: Vec<u8>,
    /// Made at, ms since the epoch.
    pub created_ms: u64,
}

impl std::fmt::Debug for OidcKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_ms", &self.created_ms)
            .finish_non_exhaustive()
    }
}

impl OidcKey {
    /// A fresh key of `alg` made at `now_ms`.
    pub(crate) fn generate(alg: SigningAlg, now_ms: u64) -> Result<Self, OidcKeyError> {
        use aws_lc_rs::encoding::AsDer;
        let pkcs8 = match alg {
            SigningAlg::Rs256 => {
                let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|_| OidcKeyError::Generate("RS256"))?;
                pair.as_der()
                    .map_err(|_| OidcKeyError::Generate("RS256"))?
                    .as_ref()
                    .to_vec()
            }
            SigningAlg::Es256 => aws_lc_rs::signature::EcdsaKeyPair::generate(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            )
            .and_then(|p| p.to_pkcs8v1())
            .map_err(|_| OidcKeyError::Generate("ES256"))?
            .as_ref()
            .to_vec(),
            SigningAlg::EdDsa => {
                let pair = aws_lc_rs::signature::Ed25519KeyPair::generate()
                    .map_err(|_| OidcKeyError::Generate("EdDSA"))?;
                let der: aws_lc_rs::encoding::Pkcs8V1Der<'static> =
                    pair.as_der().map_err(|_| OidcKeyError::Generate("EdDSA"))?;
                der.as_ref().to_vec()
            }
        };
        let mut key = OidcKey {
            kid: String::new(),
            alg,
            pkcs8,
            created_ms: now_ms,
        };
        key.kid = key
            .public()?
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| OidcKeyError::Malformed {
                kid: String::new(),
                reason: e.to_string(),
            })?;
        Ok(key)
    }

    fn malformed(&self, reason: impl std::fmt::Display) -> OidcKeyError {
        OidcKeyError::Malformed {
            kid: self.kid.clone(),
            reason: reason.to_string(),
        }
    }

    /// The key in the form `jsonwebtoken` signs with: PKCS#8 for ECDSA and Ed25519, the
    /// RSAPrivateKey inside the PKCS#8 wrapper for RSA.
    fn encoding(&self) -> Result<EncodingKey, OidcKeyError> {
        Ok(match self.alg {
            SigningAlg::Rs256 => {
                let info = pkcs8::PrivateKeyInfoRef::try_from(self.pkcs8.as_slice())
                    .map_err(|e| self.malformed(e))?;
                // Refuses a stored key of the wrong size or kind before it signs anything.
                aws_lc_rs::rsa::KeyPair::from_pkcs8(&self.pkcs8).map_err(|e| self.malformed(e))?;
                EncodingKey::from_rsa_der(info.private_key.as_bytes())
            }
            SigningAlg::Es256 => {
                aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &self.pkcs8,
                )
                .map_err(|e| self.malformed(e))?;
                EncodingKey::from_ec_der(&self.pkcs8)
            }
            SigningAlg::EdDsa => {
                aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(&self.pkcs8)
                    .map_err(|e| self.malformed(e))?;
                EncodingKey::from_ed_der(&self.pkcs8)
            }
        })
    }

    /// The public half as a JWK (`kid`, `alg` and `use` set).
    pub(crate) fn public(&self) -> Result<Jwk, OidcKeyError> {
        let mut jwk = Jwk::from_encoding_key(&self.encoding()?, self.alg.jose())
            .map_err(|e| self.malformed(e))?;
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(match self.alg {
            SigningAlg::Rs256 => KeyAlgorithm::RS256,
            SigningAlg::Es256 => KeyAlgorithm::ES256,
            SigningAlg::EdDsa => KeyAlgorithm::EdDSA,
        });
        if !self.kid.is_empty() {
            jwk.common.key_id = Some(self.kid.clone());
        }
        Ok(jwk)
    }
}

/// The keys in force after rotation at `now_ms`: per algorithm in `algs`, a new key when the
/// newest is older than `rotate_ms` (or there is none), the previous one kept while younger
/// than twice that, older ones dropped; keys of algorithms no longer in `algs` dropped once
/// past the overlap too. Newest first. The flag says whether anything changed.
pub fn rotate(
    mut keys: Vec<OidcKey>,
    algs: &[SigningAlg],
    rotate_ms: u64,
    now_ms: u64,
) -> Result<(Vec<OidcKey>, bool), OidcKeyError> {
    keys.sort_by_key(|k| std::cmp::Reverse(k.created_ms));
    let before: Vec<String> = keys.iter().map(|k| k.kid.clone()).collect();
    let overlap = rotate_ms.saturating_mul(2);
    let mut fresh = Vec::new();
    for &alg in algs {
        let due = keys
            .iter()
            .find(|k| k.alg == alg)
            .is_none_or(|k| now_ms >= k.created_ms.saturating_add(rotate_ms));
        if due {
            fresh.push(OidcKey::generate(alg, now_ms)?);
        }
    }
    fresh.append(&mut keys);
    let mut newest_seen: Vec<SigningAlg> = Vec::new();
    // The newest key of an algorithm in use always stays; an older one only within the overlap.
    fresh.retain(|k| {
        let current = algs.contains(&k.alg) && !newest_seen.contains(&k.alg);
        if current {
            newest_seen.push(k.alg);
        }
        current || now_ms < k.created_ms.saturating_add(overlap)
    });
    let after: Vec<String> = fresh.iter().map(|k| k.kid.clone()).collect();
    let changed = before != after;
    Ok((fresh, changed))
}

/// Signs ID tokens with the newest key of each algorithm and publishes every key.
pub struct IdTokenSigner {
    /// The signing key of each algorithm, built once.
    current: Vec<(SigningAlg, String, EncodingKey)>,
    jwks: JwkSet,
}

impl IdTokenSigner {
    /// The signer for `keys` (newest first, as [`rotate`] leaves them).
    pub fn new(keys: Vec<OidcKey>) -> Result<Self, OidcKeyError> {
        let mut current = Vec::new();
        let mut published = Vec::new();
        for k in &keys {
            published.push(k.public()?);
            if !current.iter().any(|(a, _, _)| *a == k.alg) {
                current.push((k.alg, k.kid.clone(), k.encoding()?));
            }
        }
        Ok(IdTokenSigner {
            current,
            jwks: JwkSet { keys: published },
        })
    }

    /// Whether a key of `alg` can sign.
    pub(crate) fn signs(&self, alg: SigningAlg) -> bool {
        self.current.iter().any(|(a, _, _)| *a == alg)
    }

    /// `claims` signed with the newest key of `alg` (`typ` JWT, `kid` set).
    pub(crate) fn sign<T: Serialize>(
        &self,
        alg: SigningAlg,
        claims: &T,
    ) -> Result<String, OidcKeyError> {
        self.sign_typed(alg, "JWT", claims)
    }

    /// `claims` signed with the newest key of `alg`, with header `typ` (`kid` set): a token
    /// of another kind than an ID token (a logout token is `logout+jwt`).
    pub(crate) fn sign_typed<T: Serialize>(
        &self,
        alg: SigningAlg,
        typ: &str,
        claims: &T,
    ) -> Result<String, OidcKeyError> {
        let (_, kid, key) = self
            .current
            .iter()
            .find(|(a, _, _)| *a == alg)
            .ok_or(OidcKeyError::Missing(alg.as_str()))?;
        let mut header = Header::new(alg.jose());
        header.typ = Some(typ.to_string());
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, claims, key).map_err(|e| OidcKeyError::Sign(e.to_string()))
    }

    /// The published key set.
    pub(crate) fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// What an ID token this provider signed for `issuer` with one of its published keys
    /// says about who logs out, expired or not (an `id_token_hint` names a sign-on, it grants
    /// nothing); `None` for any other token.
    pub(crate) fn hint(&self, token: &str, issuer: &str) -> Option<Hint> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let kid = header.kid?;
        let jwk = self.jwks.find(&kid)?;
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).ok()?;
        // Only our algorithms, and only the key's own (a key verifies one family).
        let alg = SigningAlg::ALL
            .into_iter()
            .find(|a| a.jose() == header.alg)?;
        if jwk
            .common
            .key_algorithm
            .is_some_and(|k| k.to_string() != alg.as_str())
        {
            return None;
        }
        let mut v = jsonwebtoken::Validation::new(alg.jose());
        v.validate_exp = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        v.set_issuer(&[issuer]);
        jsonwebtoken::decode::<Hint>(token, &key, &v)
            .ok()
            .map(|d| d.claims)
    }
}

/// The claims of an `id_token_hint` that logout reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Hint {
    /// The client it was issued to.
    pub(crate) aud: String,
    /// The SSO session (family) it came from.
    #[serde(default)]
    pub(crate) sid: Option<String>,
    /// The person it was issued about.
    #[serde(default)]
    pub(crate) sub: Option<String>,
}

impl Hint {
    /// Whether the hint names the SSO session `family` the browser itself holds: only then
    /// may it sign out without asking. A hint is an identifier anyone who saw the ID token
    /// can send, never a credential.
    pub(crate) fn names_session(&self, family: Option<&str>) -> bool {
        family.is_some_and(|f| self.sid.as_deref() == Some(f))
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{decode, DecodingKey, Validation};

    use super::*;

    #[test]
    fn a_hint_names_only_the_session_of_its_own_sid() {
        let h = Hint {
            aud: "app".into(),
            sid: Some("fam".into()),
            sub: Some("alice".into()),
        };
        assert!(h.names_session(Some("fam")));
        assert!(!h.names_session(Some("other")), "another browser's session");
        assert!(!h.names_session(None), "no session in this browser");
        let no_sid = Hint { sid: None, ..h };
        assert!(!no_sid.names_session(Some("fam")));
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Claims {
        sub: String,
        aud: String,
        exp: u64,
    }

    fn claims() -> Claims {
        Claims {
            sub: "alice".into(),
            aud: "client".into(),
            exp: 4_000_000_000,
        }
    }

    #[test]
    fn each_algorithm_signs_what_its_published_key_verifies() {
        let keys: Vec<OidcKey> = SigningAlg::ALL
            .into_iter()
            .map(|a| OidcKey::generate(a, 1).expect("key"))
            .collect();
        let signer = IdTokenSigner::new(keys).expect("signer");
        for alg in SigningAlg::ALL {
            let token = signer.sign(alg, &claims()).expect("signed");
            let header = jsonwebtoken::decode_header(&token).expect("header");
            assert_eq!(header.alg, alg.jose());
            let kid = header.kid.expect("kid");
            let jwk = signer.jwks().find(&kid).expect("published");
            let mut v = Validation::new(alg.jose());
            v.set_audience(&["client"]);
            let got = decode::<Claims>(&token, &DecodingKey::from_jwk(jwk).expect("jwk"), &v)
                .expect("verifies");
            assert_eq!(got.claims, claims());
        }
    }

    #[test]
    fn an_rsa_key_is_2048_bits_and_named_by_its_thumbprint() {
        let key = OidcKey::generate(SigningAlg::Rs256, 1).expect("key");
        let jwk = key.public().expect("public");
        let jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
            panic!("not RSA");
        };
        let n = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &rsa.n)
            .expect("n");
        assert_eq!(n.len(), 256);
        assert_eq!(key.kid, jwk.thumbprint(ThumbprintHash::SHA256).expect("tp"));
    }

    #[test]
    fn a_token_of_another_key_does_not_verify() {
        let a = IdTokenSigner::new(vec![OidcKey::generate(SigningAlg::Es256, 1).expect("k")])
            .expect("a");
        let b = IdTokenSigner::new(vec![OidcKey::generate(SigningAlg::Es256, 1).expect("k")])
            .expect("b");
        let token = a.sign(SigningAlg::Es256, &claims()).expect("signed");
        let jwk = &b.jwks().keys[0];
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&["client"]);
        assert!(decode::<Claims>(&token, &DecodingKey::from_jwk(jwk).expect("jwk"), &v).is_err());
    }

    #[test]
    fn a_hint_is_read_only_from_a_token_of_ours_for_our_issuer_expired_or_not() {
        #[derive(Serialize)]
        struct Hint<'a> {
            iss: &'a str,
            aud: &'a str,
            exp: u64,
        }
        let ours = IdTokenSigner::new(vec![
            OidcKey::generate(SigningAlg::Rs256, 1).expect("k"),
            OidcKey::generate(SigningAlg::EdDsa, 1).expect("k"),
        ])
        .expect("signer");
        let theirs = IdTokenSigner::new(vec![OidcKey::generate(SigningAlg::Rs256, 1).expect("k")])
            .expect("signer");
        let old = Hint {
            iss: "https://id.example",
            aud: "app",
            exp: 1,
        };
        for alg in [SigningAlg::Rs256, SigningAlg::EdDsa] {
            let t = ours.sign(alg, &old).expect("signed");
            assert_eq!(
                ours.hint(&t, "https://id.example")
                    .map(|h| h.aud)
                    .as_deref(),
                Some("app")
            );
            assert_eq!(ours.hint(&t, "https://other.example"), None);
        }
        let t = theirs.sign(SigningAlg::Rs256, &old).expect("signed");
        assert_eq!(ours.hint(&t, "https://id.example"), None);
        assert_eq!(ours.hint("not.a.token", "https://id.example"), None);
    }

    #[test]
    fn a_malformed_stored_key_is_refused() {
        let mut key = OidcKey::generate(SigningAlg::EdDsa, 1).expect("key");
        key.pkcs8.truncate(10);
        assert!(IdTokenSigner::new(vec![key]).is_err());
        assert!(matches!(
            IdTokenSigner::new(Vec::new())
                .expect("empty")
                .sign(SigningAlg::Rs256, &claims()),
            Err(OidcKeyError::Missing("RS256"))
        ));
    }

    #[test]
    fn rotation_adds_a_key_when_due_and_keeps_the_previous_for_the_overlap() {
        let day = 86_400_000;
        let (keys, changed) = rotate(Vec::new(), &[SigningAlg::EdDsa], 10 * day, 0).expect("r");
        assert!(changed);
        assert_eq!(keys.len(), 1);
        let first = keys[0].kid.clone();
        let (keys, changed) = rotate(keys, &[SigningAlg::EdDsa], 10 * day, 5 * day).expect("r");
        assert!(!changed);
        let (keys, changed) = rotate(keys, &[SigningAlg::EdDsa], 10 * day, 10 * day).expect("r");
        assert!(changed);
        assert_eq!(keys.len(), 2);
        assert_ne!(keys[0].kid, first);
        assert_eq!(keys[1].kid, first);
        // Past twice the period the first key is gone.
        let (keys, _) = rotate(keys, &[SigningAlg::EdDsa], 10 * day, 20 * day).expect("r");
        assert_eq!(keys.len(), 2);
        assert!(keys.iter().all(|k| k.kid != first));
        // An algorithm no client uses any more leaves after the overlap.
        let (keys, _) = rotate(keys, &[SigningAlg::Es256], 10 * day, 21 * day).expect("r");
        assert_eq!(keys[0].alg, SigningAlg::Es256);
        assert!(keys.iter().any(|k| k.alg == SigningAlg::EdDsa));
        let (keys, _) = rotate(keys, &[SigningAlg::Es256], 10 * day, 45 * day).expect("r");
        assert!(keys.iter().all(|k| k.alg == SigningAlg::Es256));
    }
}
