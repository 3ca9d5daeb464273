//! Plaid's webhook signatures, made as Plaid makes them: an ES256 JWT in the `Plaid-Verification` header whose
//! claims are `iat` and `request_body_sha256` (the hex SHA-256 of the body), signed with a P-256 key whose public
//! half `/webhook_verification_key/get` serves as a `JWKPublicKey`.
//!
//! Each key pair is generated when it is made (`ring`'s generator), so no private key is ever in the repository;
//! `jsonwebtoken` signs. A [`PlaidWebhookSigner`] made apart from the sandbox signs with a key the sandbox does
//! not serve, for tests of forgeries (even under the sandbox's own `kid`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The header Plaid's signature travels in.
pub const VERIFICATION_HEADER: &str = "Plaid-Verification";

/// A webhook delivery as Plaid sends it: the body to POST and its `Plaid-Verification` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPlaidWebhook {
    /// The request body, exactly the bytes whose SHA-256 the token carries.
    pub body: String,
    /// The `Plaid-Verification` header: the ES256 JWT.
    pub verification: String,
}

/// An ES256 (P-256) key pair that signs webhooks as Plaid does. Generated fresh; its private half never leaves
/// the process.
pub struct PlaidWebhookSigner {
    kid: String,
    encoding: EncodingKey,
    x: String,
    y: String,
    created_at: i64,
}

// By hand: the private key never reaches a Debug line.
impl std::fmt::Debug for PlaidWebhookSigner {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PlaidWebhookSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl PlaidWebhookSigner {
    /// A new key pair with a random `kid` (a UUID, as in the spec's example
    /// `kid: bfbd5111-8e33-4643-8ced-b2e642a72f3c`).
    pub fn generate() -> Self {
        Self::generate_with_kid(uuid::Uuid::new_v4().to_string())
    }

    /// A new key pair under a `kid` of the caller's choosing (a forger's key under the sandbox's own `kid`).
    ///
    /// # Panics
    /// If the system's random source fails, which `ring` reports and no test can carry on from.
    pub fn generate_with_kid(kid: impl Into<String>) -> Self {
        let random = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &random)
            .expect("the system's random source works");
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &random)
                .expect("ring reads the PKCS#8 document it just made");
        // An uncompressed SEC1 point: 0x04, then x and y, 32 bytes each.
        let point = pair.public_key().as_ref();
        Self {
            kid: kid.into(),
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            x: URL_SAFE_NO_PAD.encode(&point[1..33]),
            y: URL_SAFE_NO_PAD.encode(&point[33..65]),
            created_at: Utc::now().timestamp(),
        }
    }

    /// The key id JWT headers name.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as `/webhook_verification_key/get` serves it (`JWKPublicKey`, all of whose fields are
    /// `required`): `alg: ES256`, `crv: P-256`, `kty: EC`, `use: sig`, `x`, `y`, `created_at` and `expired_at`
    /// (`null` while the key is current).
    pub fn jwk(&self, expired_at: Option<i64>) -> Value {
        json!({
            "alg": "ES256",
            "created_at": self.created_at,
            "crv": "P-256",
            "expired_at": expired_at,
            "kid": self.kid,
            "kty": "EC",
            "use": "sig",
            "x": self.x,
            "y": self.y,
        })
    }

    /// `payload` signed now.
    pub fn sign(&self, payload: &Value) -> SignedPlaidWebhook {
        self.sign_at(payload, Utc::now())
    }

    /// `payload` signed as if at `issued_at` (a stale token for a test).
    pub fn sign_at(&self, payload: &Value, issued_at: DateTime<Utc>) -> SignedPlaidWebhook {
        let body = payload.to_string();
        let verification = self.token_for(body.as_bytes(), issued_at);
        SignedPlaidWebhook { body, verification }
    }

    /// The `Plaid-Verification` token for `body`'s exact bytes, issued at `issued_at`: header
    /// `{"alg":"ES256","kid":…,"typ":"JWT"}`, claims `iat` and `request_body_sha256`.
    ///
    /// # Panics
    /// Never for a key made by this type (`jsonwebtoken` signs ES256 with the PKCS#8 document `ring` made).
    pub fn token_for(&self, body: &[u8], issued_at: DateTime<Utc>) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let claims = json!({
            "iat": issued_at.timestamp(),
            "request_body_sha256": body_sha256(body),
        });
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .expect("an ES256 key made by ring signs")
    }
}

/// The hex SHA-256 of `body`, as the `request_body_sha256` claim carries it (Plaid's docs compute it with a
/// lowercase hex digest).
pub fn body_sha256(body: &[u8]) -> String {
    Sha256::digest(body)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The sandbox's signing keys: the current one, and those it retired (still served, with `expired_at` set, as
/// Plaid serves a rotated key).
#[derive(Debug)]
pub(crate) struct WebhookKeys {
    current: PlaidWebhookSigner,
    retired: Vec<(PlaidWebhookSigner, i64)>,
}

impl WebhookKeys {
    pub(crate) fn generate() -> Self {
        Self {
            current: PlaidWebhookSigner::generate(),
            retired: Vec::new(),
        }
    }

    pub(crate) fn current(&self) -> &PlaidWebhookSigner {
        &self.current
    }

    /// The JWK for `kid`, current or retired.
    pub(crate) fn jwk(&self, kid: &str) -> Option<Value> {
        if self.current.kid == kid {
            return Some(self.current.jwk(None));
        }
        self.retired
            .iter()
            .find(|(signer, _)| signer.kid == kid)
            .map(|(signer, expired_at)| signer.jwk(Some(*expired_at)))
    }

    /// Retires the current key at `now` (it keeps being served, with `expired_at`) and makes a new one. Returns
    /// the new `kid`.
    pub(crate) fn rotate(&mut self, now: DateTime<Utc>) -> String {
        let old = std::mem::replace(&mut self.current, PlaidWebhookSigner::generate());
        self.retired.push((old, now.timestamp()));
        self.current.kid.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jwk_has_every_field_jwkpublickey_requires() {
        let signer = PlaidWebhookSigner::generate();
        let jwk = signer.jwk(None);
        for field in [
            "alg",
            "kid",
            "kty",
            "crv",
            "x",
            "y",
            "use",
            "created_at",
            "expired_at",
        ] {
            assert!(jwk.get(field).is_some(), "{field}");
        }
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(jwk["x"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(jwk["y"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
    }

    #[test]
    fn the_token_names_es256_and_the_kid_and_carries_the_body_hash() {
        let signer = PlaidWebhookSigner::generate_with_kid("kid-1");
        let signed = signer.sign(&json!({"webhook_type": "HOLDINGS"}));
        let header = jsonwebtoken::decode_header(&signed.verification).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some("kid-1"));
        let claims = signed.verification.split('.').nth(1).unwrap();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
        assert_eq!(
            claims["request_body_sha256"],
            body_sha256(signed.body.as_bytes())
        );
    }

    #[test]
    fn the_debug_line_shows_the_kid_and_no_key() {
        let signer = PlaidWebhookSigner::generate_with_kid("kid-2");
        assert_eq!(
            format!("{signer:?}"),
            "PlaidWebhookSigner { kid: \"kid-2\", .. }"
        );
    }
}
