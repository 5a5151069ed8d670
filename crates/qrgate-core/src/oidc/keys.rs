//! The OpenID Connect provider's signing keys: one current key per algorithm (RS256 for every
//! client unless it asks for ES256 or EdDSA), made with `aws-lc-rs`, signed with through
//! `jsonwebtoken`'s `aws_lc_rs` backend (no `rsa` crate: RUSTSEC-2023-0071), and published
//! in the JWKS with their RFC 7638 thumbprint as `kid`.
//!
//! Rotation follows [`crate::rotation`], per algorithm: the next key is added one publication
//! delay before the current one has served its period and is only published until it has
//! been in the file that long; then it signs, and the previous one stays published for one
//! more period, so ID tokens it signed still verify (`rotate`, `IdTokenSigner::new`). The
//! glue keeps the keys in a 0600 file that every instance re-reads periodically.

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use crate::rotation::{self, Dated, InForce, Schedule};

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

impl Dated for OidcKey {
    fn made_ms(&self) -> u64 {
        self.created_ms
    }
}

/// The keys after rotation at `now_ms` under `schedule` ([`rotation::rotate`] per
/// algorithm): an algorithm in `algs` gets its next key when due, published only until it
/// has been in the file for the publication delay; older keys go one period after they
/// stopped signing; keys of an algorithm no longer in `algs` go two periods after they were
/// made. Newest first. The flag says whether anything changed.
pub fn rotate(
    keys: Vec<OidcKey>,
    algs: &[SigningAlg],
    schedule: Schedule,
    now_ms: u64,
) -> Result<(Vec<OidcKey>, bool), OidcKeyError> {
    let mut out = Vec::new();
    let mut changed = false;
    for alg in SigningAlg::ALL {
        let line: Vec<OidcKey> = keys.iter().filter(|k| k.alg == alg).cloned().collect();
        let (line, moved) = rotation::rotate(line, algs.contains(&alg), schedule, now_ms, || {
            OidcKey::generate(alg, now_ms)
        })?;
        changed |= moved;
        out.extend(line);
    }
    out.sort_by_key(|k| std::cmp::Reverse(k.created_ms));
    Ok((out, changed))
}

/// Signs ID tokens with each algorithm's signing key ([`Schedule::signer`]: the newest that
/// has been in the file for the publication delay) and publishes every key.
pub struct IdTokenSigner {
    /// The signing key of each algorithm, built once.
    current: Vec<(SigningAlg, String, EncodingKey)>,
    jwks: JwkSet,
    in_force: InForce,
}

impl IdTokenSigner {
    /// The signer for `keys` (in any order) at `now_ms` under `schedule`.
    pub fn new(keys: Vec<OidcKey>, schedule: Schedule, now_ms: u64) -> Result<Self, OidcKeyError> {
        let mut current = Vec::new();
        let mut published = Vec::new();
        let mut in_force = InForce::default();
        for k in &keys {
            published.push(k.public()?);
            in_force.published.push(k.kid.clone());
        }
        for alg in SigningAlg::ALL {
            let line: Vec<&OidcKey> = keys.iter().filter(|k| k.alg == alg).collect();
            let made: Vec<u64> = line.iter().map(|k| k.created_ms).collect();
            if let Some(k) = schedule.signer(&made, now_ms).and_then(|i| line.get(i)) {
                current.push((alg, k.kid.clone(), k.encoding()?));
                in_force.signing.push(k.kid.clone());
            }
        }
        Ok(IdTokenSigner {
            current,
            jwks: JwkSet { keys: published },
            in_force,
        })
    }

    /// The keys it publishes and signs with.
    pub fn in_force(&self) -> &InForce {
        &self.in_force
    }

    /// Whether a key of `alg` can sign.
    pub(crate) fn signs(&self, alg: SigningAlg) -> bool {
        self.current.iter().any(|(a, _, _)| *a == alg)
    }

    /// `claims` signed with the signing key of `alg` (`typ` JWT, `kid` set).
    pub(crate) fn sign<T: Serialize>(
        &self,
        alg: SigningAlg,
        claims: &T,
    ) -> Result<String, OidcKeyError> {
        self.sign_typed(alg, "JWT", claims)
    }

    /// `claims` signed with the signing key of `alg`, with header `typ` (`kid` set): a token
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

#[cfg(test)]
impl IdTokenSigner {
    /// A signer for tests of what it signs: `keys` (one per algorithm) all sign at once.
    pub(crate) fn of(keys: Vec<OidcKey>) -> Result<Self, OidcKeyError> {
        Self::new(keys, Schedule::new(86_400_000), 0)
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
        let signer = IdTokenSigner::of(keys).expect("signer");
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
        let a = IdTokenSigner::of(vec![OidcKey::generate(SigningAlg::Es256, 1).expect("k")])
            .expect("a");
        let b = IdTokenSigner::of(vec![OidcKey::generate(SigningAlg::Es256, 1).expect("k")])
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
        let ours = IdTokenSigner::of(vec![
            OidcKey::generate(SigningAlg::Rs256, 1).expect("k"),
            OidcKey::generate(SigningAlg::EdDsa, 1).expect("k"),
        ])
        .expect("signer");
        let theirs = IdTokenSigner::of(vec![OidcKey::generate(SigningAlg::Rs256, 1).expect("k")])
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
        assert!(IdTokenSigner::of(vec![key]).is_err());
        assert!(matches!(
            IdTokenSigner::of(Vec::new())
                .expect("empty")
                .sign(SigningAlg::Rs256, &claims()),
            Err(OidcKeyError::Missing("RS256"))
        ));
    }

    /// The `kid` a token `signer` signs with `alg` names.
    fn signing_kid(signer: &IdTokenSigner, alg: SigningAlg) -> String {
        let token = signer.sign(alg, &claims()).expect("signed");
        jsonwebtoken::decode_header(&token)
            .expect("header")
            .kid
            .expect("kid")
    }

    #[test]
    fn the_next_key_is_published_a_delay_before_it_signs() {
        let day = 86_400_000;
        let s = Schedule::new(10 * day);
        let algs = [SigningAlg::EdDsa];
        let t0 = 1_000 * day;
        let (keys, changed) = rotate(Vec::new(), &algs, s, t0).expect("r");
        assert!(changed);
        let first = keys[0].kid.clone();
        // The first key signs at once: there is no other.
        let signer = IdTokenSigner::new(keys.clone(), s, t0).expect("signer");
        assert_eq!(signing_kid(&signer, SigningAlg::EdDsa), first);
        let (keys, changed) = rotate(keys, &algs, s, t0 + 5 * day).expect("r");
        assert!(!changed);
        // One delay (a quarter of the period here) before the period ends, the next key
        // comes: published, not signing.
        let added = t0 + 10 * day - s.delay_ms();
        let (keys, changed) = rotate(keys, &algs, s, added).expect("r");
        assert!(changed);
        assert_eq!(keys.len(), 2);
        let next = keys[0].kid.clone();
        assert_ne!(next, first);
        for now in [added, added + s.delay_ms() - 1] {
            let signer = IdTokenSigner::new(keys.clone(), s, now).expect("signer");
            assert_eq!(signing_kid(&signer, SigningAlg::EdDsa), first, "at {now}");
            assert!(signer.jwks().find(&next).is_some(), "published ahead");
            assert_eq!(
                signer.in_force().published,
                vec![next.clone(), first.clone()]
            );
            assert_eq!(signer.in_force().signing, vec![first.clone()]);
        }
        let signer = IdTokenSigner::new(keys.clone(), s, added + s.delay_ms()).expect("signer");
        assert_eq!(signing_kid(&signer, SigningAlg::EdDsa), next);
        assert!(
            signer.jwks().find(&first).is_some(),
            "the previous still verifies"
        );
        // One period after it stopped signing the first key goes.
        let gone = added + s.delay_ms() + 10 * day;
        let (keys, _) = rotate(keys, &algs, s, gone - 1).expect("r");
        assert!(keys.iter().any(|k| k.kid == first));
        let (keys, _) = rotate(keys, &algs, s, gone).expect("r");
        assert!(keys.iter().all(|k| k.kid != first));
        // An algorithm no client uses any more gets no new key and leaves two periods after
        // its newest was made; one a client starts to use signs at once.
        let (keys, _) = rotate(keys, &[SigningAlg::Es256], s, gone + 1).expect("r");
        let es = keys
            .iter()
            .find(|k| k.alg == SigningAlg::Es256)
            .expect("es");
        let signer = IdTokenSigner::new(keys.clone(), s, gone + 1).expect("signer");
        assert_eq!(signing_kid(&signer, SigningAlg::Es256), es.kid);
        assert!(keys.iter().any(|k| k.alg == SigningAlg::EdDsa));
        let (keys, _) = rotate(keys, &[SigningAlg::Es256], s, gone + 30 * day).expect("r");
        assert!(keys.iter().all(|k| k.alg == SigningAlg::Es256));
    }
}
