//! Plaid webhooks: proving a delivery came from Plaid, as Plaid's docs ("Webhook verification") and
//! plaid-openapi.yml's `/webhook_verification_key/get` describe, and reading the event.
//!
//! Plaid signs every delivery with a JWT in the `Plaid-Verification` header. [`PlaidWebhookVerifier`] checks it
//! the way Plaid prescribes, in this order:
//!
//! 1. The body is no larger than the receiver reads (413 otherwise), before anything is parsed or hashed.
//! 2. The JWT's header is read without verifying it: its `alg` must be `ES256`, the only algorithm Plaid signs
//!    with; `none`, `HS256` (the "public key as an HMAC secret" confusion) and everything else are refused
//!    before any key is looked up.
//! 3. The key named by the header's `kid` comes from `/webhook_verification_key/get`, cached by `kid`; a `kid`
//!    not in the cache is looked up again (Plaid rotates keys), so a new key is learned and an unknown one is
//!    refused. A key whose `expired_at` is set is refused.
//! 4. The signature is checked by `jsonwebtoken` (ES256 over P-256, through `ring`); nothing here is crypto
//!    written by hand.
//! 5. The `iat` claim is at most [`MAX_TOKEN_AGE`] old and at most [`MAX_CLOCK_SKEW`] in the future.
//! 6. The SHA-256 of the raw body, in hex, equals the `request_body_sha256` claim, compared in constant time
//!    (`subtle`): a body changed after signing is refused.
//!
//! A refusal is a [`WebhookError`] with the HTTP status to answer (401 for a signature that does not hold, 400
//! for a stale token or a body that is not a Plaid event, 413 for a body too large). A failure to reach Plaid
//! for the key is *not* a refusal: it is [`PlaidWebhookError::KeyUnavailable`], answered with 503 so Plaid
//! delivers again later, when the key can be fetched.
//!
//! Verification does not de-duplicate: a genuine delivery captured and sent again within five minutes passes
//! it, as Plaid's own scheme allows. De-duplicating (by the body's hash or the event) is the inbox's job, after
//! verification.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tributary_domain::Provider;

use super::wire::PlaidErrorBody;
use super::{Operation, PlaidClient, Repeat, error_codes};
use crate::error::ProviderError;
use crate::http::StatusFailure;
use crate::inbound::WebhookError;

/// The header Plaid's signature travels in (HTTP header names are case-insensitive).
pub const VERIFICATION_HEADER: &str = "Plaid-Verification";
/// The only JWT algorithm Plaid signs webhooks with (the JWK's `alg`: `ES256`).
pub const SIGNING_ALGORITHM: &str = "ES256";
/// How old a token's `iat` may be: Plaid's docs, "the `iat` … should be no more than 5 minutes old".
pub const MAX_TOKEN_AGE: Duration = Duration::from_secs(5 * 60);
/// How far in the future a token's `iat` may be, for clocks a little apart. Plaid says nothing; a few seconds
/// of drift between two NTP-synchronized hosts is plausible, half a minute is generous.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(30);
/// The largest body [`PlaidWebhookVerifier`] reads by default. Plaid's webhooks are small JSON objects (the
/// spec's examples are under 1 KiB); 1 MiB is the same cap as SnapTrade's receiver.
pub const DEFAULT_MAX_BODY_BYTES: usize = crate::MAX_WEBHOOK_BODY;

const KEY_GET: Operation = Operation {
    path: "/webhook_verification_key/get",
    repeat: Repeat::Safe,
};

/// A key Plaid signs webhooks with: `JWKPublicKey` of `/webhook_verification_key/get`.
///
/// Public material only (`x`, `y` are the P-256 point's coordinates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WebhookVerificationKey {
    /// `alg`: "the cryptographic algorithm family used with the key" (`ES256`).
    pub alg: String,
    /// `crv`: "the cryptographic curve used with the key" (`P-256`).
    pub crv: String,
    /// `kid`: the key id a JWT's header names.
    pub kid: String,
    /// `kty`: the key type (`EC`).
    pub kty: String,
    /// `use`: the intended use (`sig`).
    #[serde(rename = "use")]
    pub use_: String,
    /// `x`: the point's x coordinate, base64url.
    pub x: String,
    /// `y`: the point's y coordinate, base64url.
    pub y: String,
    /// `created_at`: "when the key was created, in Unix time".
    pub created_at: i64,
    /// `expired_at`: "when the key expired, in Unix time" (`nullable: true`); set means retired.
    #[serde(default)]
    pub expired_at: Option<i64>,
}

/// `WebhookVerificationKeyGetRequest`: `key_id` is "The key ID ( `kid` ) from the JWT header".
#[derive(Serialize)]
struct KeyGetRequest<'a> {
    key_id: &'a str,
}

/// `WebhookVerificationKeyGetResponse.required: [key, request_id]`.
#[derive(Deserialize)]
struct KeyGetResponse {
    key: WebhookVerificationKey,
}

impl PlaidClient {
    /// The key Plaid signs webhooks with whose id is `kid` (`/webhook_verification_key/get`). A read, retried
    /// like the others.
    ///
    /// # Errors
    /// Any [`ProviderError`]; Plaid answers a key id it does not know with a 400 (`INVALID_INPUT`), which is
    /// [`ProviderError::Rejected`].
    pub async fn webhook_verification_key(
        &self,
        kid: &str,
    ) -> Result<WebhookVerificationKey, ProviderError> {
        let response: KeyGetResponse = self.call(KEY_GET, &KeyGetRequest { key_id: kid }).await?;
        Ok(response.key)
    }
}

/// Why a Plaid delivery was not accepted: refused (the delivery is at fault), or not verifiable now (Plaid's key
/// could not be fetched; the delivery may be genuine).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlaidWebhookError {
    /// The delivery is refused; answer [`WebhookError::http_status`].
    #[error(transparent)]
    Refused(#[from] WebhookError),
    /// Plaid's verification key could not be fetched (Plaid unreachable, slow, failing, or refusing our
    /// credentials): answer 503 so Plaid delivers again.
    #[error("the Plaid webhook could not be verified: its key could not be fetched ({0})")]
    KeyUnavailable(#[source] ProviderError),
}

impl PlaidWebhookError {
    /// The HTTP status to answer the delivery with: the refusal's, or 503 when the key could not be fetched.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Refused(refusal) => refusal.http_status(),
            Self::KeyUnavailable(_) => 503,
        }
    }

    /// Whether the delivery itself was refused (rather than left unverified by a failure of ours or Plaid's).
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Refused(_))
    }
}

/// The `(webhook_type, webhook_code)` pairs Tributary acts on. Open: any other pair is kept as sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PlaidWebhookKind {
    /// `HOLDINGS` / `DEFAULT_UPDATE` (`HoldingsDefaultUpdateWebhook`): new or updated holdings.
    HoldingsDefaultUpdate,
    /// `INVESTMENTS_TRANSACTIONS` / `DEFAULT_UPDATE` (`InvestmentsDefaultUpdateWebhook`): new transactions.
    InvestmentsTransactionsDefaultUpdate,
    /// `INVESTMENTS_TRANSACTIONS` / `HISTORICAL_UPDATE` (`InvestmentsHistoricalUpdateWebhook`): the
    /// asynchronous first extraction finished.
    InvestmentsTransactionsHistoricalUpdate,
    /// `ITEM` / `ERROR` (`ItemErrorWebhook`): the Item is in error; [`PlaidWebhook::error`] says which.
    ItemError,
    /// `ITEM` / `LOGIN_REQUIRED`. plaid-openapi.yml 1.697.4 has no schema for this code (Plaid reports a
    /// required login as `ITEM` / `ERROR` with `ITEM_LOGIN_REQUIRED`); it is recognised so that a delivery
    /// using it is acted on the same way.
    ItemLoginRequired,
    /// `ITEM` / `LOGIN_REPAIRED` (`ItemLoginRepairedWebhook`): the Item left `ITEM_LOGIN_REQUIRED` on its own.
    ItemLoginRepaired,
    /// `ITEM` / `PENDING_EXPIRATION` (`PendingExpirationWebhook`): consent expires in 7 days (EU/UK).
    ItemPendingExpiration,
    /// `ITEM` / `PENDING_DISCONNECT` (`PendingDisconnectWebhook`): the Item will disconnect in 7 days (US/CA).
    ItemPendingDisconnect,
    /// `ITEM` / `USER_PERMISSION_REVOKED` (`UserPermissionRevokedWebhook`).
    ItemUserPermissionRevoked,
    /// `ITEM` / `USER_ACCOUNT_REVOKED` (`UserAccountRevokedWebhook`).
    ItemUserAccountRevoked,
    /// `ITEM` / `NEW_ACCOUNTS_AVAILABLE` (`NewAccountsAvailableWebhook`).
    ItemNewAccountsAvailable,
    /// `ITEM` / `WEBHOOK_UPDATE_ACKNOWLEDGED` (`WebhookUpdateAcknowledgedWebhook`).
    ItemWebhookUpdateAcknowledged,
    /// Any other pair, as sent: `(webhook_type, webhook_code)`.
    Other(String, String),
}

impl PlaidWebhookKind {
    /// The kind for a `webhook_type` and `webhook_code`.
    pub fn parse(webhook_type: &str, webhook_code: &str) -> Self {
        match (webhook_type.trim(), webhook_code.trim()) {
            ("HOLDINGS", "DEFAULT_UPDATE") => Self::HoldingsDefaultUpdate,
            ("INVESTMENTS_TRANSACTIONS", "DEFAULT_UPDATE") => {
                Self::InvestmentsTransactionsDefaultUpdate
            }
            ("INVESTMENTS_TRANSACTIONS", "HISTORICAL_UPDATE") => {
                Self::InvestmentsTransactionsHistoricalUpdate
            }
            ("ITEM", "ERROR") => Self::ItemError,
            ("ITEM", "LOGIN_REQUIRED") => Self::ItemLoginRequired,
            ("ITEM", "LOGIN_REPAIRED") => Self::ItemLoginRepaired,
            ("ITEM", "PENDING_EXPIRATION") => Self::ItemPendingExpiration,
            ("ITEM", "PENDING_DISCONNECT") => Self::ItemPendingDisconnect,
            ("ITEM", "USER_PERMISSION_REVOKED") => Self::ItemUserPermissionRevoked,
            ("ITEM", "USER_ACCOUNT_REVOKED") => Self::ItemUserAccountRevoked,
            ("ITEM", "NEW_ACCOUNTS_AVAILABLE") => Self::ItemNewAccountsAvailable,
            ("ITEM", "WEBHOOK_UPDATE_ACKNOWLEDGED") => Self::ItemWebhookUpdateAcknowledged,
            (webhook_type, webhook_code) => {
                Self::Other(webhook_type.to_owned(), webhook_code.to_owned())
            }
        }
    }
}

/// The Plaid environment a webhook was sent from (`WebhookEnvironmentValues`: `sandbox`, `production`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PlaidWebhookEnvironment {
    /// `sandbox`.
    Sandbox,
    /// `production`.
    Production,
    /// Any other value, as sent.
    Other(String),
}

impl PlaidWebhookEnvironment {
    /// The environment for Plaid's text.
    pub fn parse(text: &str) -> Self {
        match text.trim() {
            "sandbox" => Self::Sandbox,
            "production" => Self::Production,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// A verified Plaid webhook event.
#[derive(Debug)]
#[non_exhaustive]
pub struct PlaidWebhook {
    /// What happened.
    pub kind: PlaidWebhookKind,
    /// The Item concerned (`item_id`, required by every Item, Holdings and Investments webhook; absent only
    /// from other products' webhooks, which are [`PlaidWebhookKind::Other`]).
    pub item_id: Option<String>,
    /// Plaid's `user_id`, when the Item belongs to a Plaid user.
    pub user_id: Option<String>,
    /// The event's `error` (`PlaidError`), sorted as the client sorts Plaid's errors: `ITEM_LOGIN_REQUIRED` is
    /// [`ProviderError::LoginRequired`], and so on. `None` when Plaid sent `null` or nothing.
    pub error: Option<ProviderError>,
    /// The environment the webhook was sent from.
    pub environment: PlaidWebhookEnvironment,
    /// The payload as received.
    pub raw: Value,
    /// What the signature bound, when the event came through [`PlaidWebhookVerifier::verify`] (`None` for one
    /// read back with [`PlaidWebhook::from_payload`]).
    pub signed: Option<SignedDelivery>,
}

/// What a verified delivery's token bound: when it was issued, and the body it was issued for.
///
/// Plaid sends no webhook id; these two identify one signed delivery. A replay of the same delivery (the same
/// token, the same body) has the same identity; two events never do, since their bodies differ, nor does one event
/// signed again later, since its `iat` differs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SignedDelivery {
    /// The token's `iat`.
    pub issued_at: DateTime<Utc>,
    /// The SHA-256 of the body, lowercase hex (the token's `request_body_sha256`, checked against the body).
    pub body_sha256: String,
}

impl SignedDelivery {
    /// The delivery's identity as one string: `iat:<seconds>:sha256:<hex>`.
    pub fn delivery_id(&self) -> String {
        format!(
            "iat:{}:sha256:{}",
            self.issued_at.timestamp(),
            self.body_sha256
        )
    }
}

impl PlaidWebhook {
    /// Reads an event from a payload verified before (one a receiver recorded, to apply it later).
    ///
    /// # Errors
    /// [`WebhookError::Malformed`] for a payload that is not a JSON object with `webhook_type`, `webhook_code`
    /// and `environment` (required by every webhook schema), without `item_id` for an Item, Holdings or
    /// Investments webhook, or with an `error` that is not Plaid's error object.
    pub fn from_payload(payload: Value) -> Result<Self, WebhookError> {
        let Value::Object(fields) = payload else {
            return Err(malformed("is not a JSON object".to_owned()));
        };
        read_event(fields)
    }
}

fn read_event(fields: Map<String, Value>) -> Result<PlaidWebhook, WebhookError> {
    let text = |name: &str| match fields.get(name) {
        Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
        _ => None,
    };
    let required = |name: &str| text(name).ok_or_else(|| malformed(format!("has no {name}")));
    let kind = PlaidWebhookKind::parse(&required("webhook_type")?, &required("webhook_code")?);
    let environment = PlaidWebhookEnvironment::parse(&required("environment")?);
    let item_id = text("item_id");
    if item_id.is_none() && !matches!(kind, PlaidWebhookKind::Other(..)) {
        return Err(malformed("has no item_id".to_owned()));
    }
    let error = match fields.get("error") {
        None | Some(Value::Null) => None,
        Some(error) => Some(read_error(error)?),
    };
    Ok(PlaidWebhook {
        kind,
        item_id,
        user_id: text("user_id"),
        error,
        environment,
        raw: Value::Object(fields),
        signed: None,
    })
}

/// A webhook's `PlaidError`, sorted by the same rules as an error answer (`error_code`, then `error_type`, then
/// the `status` it carries, 400 when it carries none).
fn read_error(error: &Value) -> Result<ProviderError, WebhookError> {
    let body: PlaidErrorBody = serde_json::from_value(error.clone())
        .map_err(|reason| malformed(format!("has an unreadable error object ({reason})")))?;
    let status = body
        .status
        .and_then(|status| StatusCode::from_u16(status).ok())
        .unwrap_or(StatusCode::BAD_REQUEST);
    let failure = StatusFailure {
        status,
        retry_after: None,
        request_id: None,
        body: error.to_string().into_bytes(),
        headers: reqwest::header::HeaderMap::new(),
    };
    Ok(error_codes::status_error("webhook", failure))
}

/// The claims of Plaid's webhook JWT.
#[derive(Deserialize)]
struct Claims {
    /// "issued at", seconds since the epoch.
    iat: i64,
    /// The SHA-256 of the body, in hex.
    request_body_sha256: String,
}

/// The JWT header fields read before verifying.
#[derive(Deserialize)]
struct UnverifiedHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// A cached key: the decoding key, or the expiry Plaid reported for it.
#[derive(Clone)]
struct CachedKey {
    decoding: DecodingKey,
    expired_at: Option<i64>,
}

/// Verifies Plaid webhook deliveries with keys fetched through a [`PlaidClient`] and cached by `kid`.
///
/// Share one verifier between requests (it is `Send + Sync`): its cache saves a key lookup per delivery.
///
/// ```no_run
/// # async fn run(plaid: tributary_provider::plaid::PlaidClient, header: Option<&str>, body: &[u8]) {
/// use tributary_provider::plaid::{PlaidWebhookKind, PlaidWebhookVerifier};
///
/// let verifier = PlaidWebhookVerifier::new(plaid);
/// // `header`: the request's `Plaid-Verification` header; `body`: its raw bytes, unparsed.
/// match verifier.verify(header, body).await {
///     Ok(event) if event.kind == PlaidWebhookKind::HoldingsDefaultUpdate => { /* resync the Item */ }
///     Ok(_) => { /* record, acknowledge with 200 */ }
///     Err(failure) => { /* answer failure.http_status(): 401/400/413 refused, 503 retry later */ }
/// }
/// # }
/// ```
pub struct PlaidWebhookVerifier {
    client: PlaidClient,
    keys: Mutex<HashMap<String, CachedKey>>,
    max_body_bytes: usize,
}

impl std::fmt::Debug for PlaidWebhookVerifier {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PlaidWebhookVerifier")
            .field("client", &self.client)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl PlaidWebhookVerifier {
    /// A verifier fetching keys with `client`, reading bodies up to [`DEFAULT_MAX_BODY_BYTES`].
    pub fn new(client: PlaidClient) -> Self {
        Self {
            client,
            keys: Mutex::new(HashMap::new()),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// The client keys are fetched with.
    pub fn client(&self) -> &PlaidClient {
        &self.client
    }

    /// The same verifier refusing bodies over `limit` bytes (413) unread.
    pub fn with_max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Verifies a delivery (`verification`: its `Plaid-Verification` header; `body`: its raw bytes) and reads
    /// the event.
    ///
    /// # Errors
    /// [`PlaidWebhookError::Refused`] for a delivery that is too large, unsigned, signed with another
    /// algorithm or an unknown or expired key, whose signature or body hash does not hold, whose token is
    /// stale, or that is not a Plaid event; [`PlaidWebhookError::KeyUnavailable`] when Plaid could not be asked
    /// for the key.
    pub async fn verify(
        &self,
        verification: Option<&str>,
        body: &[u8],
    ) -> Result<PlaidWebhook, PlaidWebhookError> {
        self.verify_at(verification, body, Utc::now()).await
    }

    /// [`verify`](Self::verify) with the current time given (tests pin it).
    ///
    /// # Errors
    /// As [`verify`](Self::verify).
    pub async fn verify_at(
        &self,
        verification: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<PlaidWebhook, PlaidWebhookError> {
        WebhookError::check_size(Provider::Plaid, body, self.max_body_bytes)?;
        let token = verification
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or(WebhookError::MissingSignature {
                provider: Provider::Plaid,
                header: VERIFICATION_HEADER,
            })?;
        let kid = read_header(token)?;
        let key = self.key(&kid).await?;
        let claims = check_signature(token, &key)?;
        check_age(claims.iat, now)?;
        check_body_hash(&claims.request_body_sha256, body)?;
        let payload: Value = serde_json::from_slice(body)
            .map_err(|error| malformed(format!("is not JSON ({error})")))?;
        let mut event = PlaidWebhook::from_payload(payload)?;
        // `check_age` accepted `iat`, so it is a time chrono represents; the hash is the body's own, in the
        // lowercase hex `check_body_hash` compared.
        let issued_at = DateTime::from_timestamp(claims.iat, 0)
            .ok_or_else(|| malformed("has an issue time no clock can show".to_owned()))?;
        event.signed = Some(SignedDelivery {
            issued_at,
            body_sha256: hex_sha256(body),
        });
        Ok(event)
    }

    /// The key for `kid`: from the cache, else from Plaid (Plaid's docs: cache keys by `kid`, look a new `kid`
    /// up). Expired keys are refused whether cached or fetched.
    async fn key(&self, kid: &str) -> Result<DecodingKey, PlaidWebhookError> {
        let cached = self.cached(kid);
        let key = match cached {
            Some(key) => key,
            None => {
                let fetched = self.fetch(kid).await?;
                self.remember(kid, fetched.clone());
                self.refresh_others(kid).await;
                fetched
            }
        };
        if key.expired_at.is_some() {
            return Err(WebhookError::ExpiredKey {
                provider: Provider::Plaid,
                kid: printable(kid, 64),
            }
            .into());
        }
        Ok(key.decoding)
    }

    /// Plaid's docs: on a new `kid`, also refresh the cached keys not yet expired, so a key Plaid retired
    /// (rotation gives the old key an `expired_at`) stops being accepted. A key that cannot be fetched now is
    /// kept as it was.
    async fn refresh_others(&self, new_kid: &str) {
        let live: Vec<String> = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(kid, key)| kid.as_str() != new_kid && key.expired_at.is_none())
            .map(|(kid, _)| kid.clone())
            .collect();
        for kid in live {
            match self.fetch(&kid).await {
                Ok(key) => self.remember(&kid, key),
                Err(PlaidWebhookError::Refused(_)) => {
                    self.keys
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .remove(&kid);
                }
                Err(PlaidWebhookError::KeyUnavailable(_)) => {}
            }
        }
    }

    fn remember(&self, kid: &str, key: CachedKey) {
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(kid.to_owned(), key);
    }

    fn cached(&self, kid: &str) -> Option<CachedKey> {
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(kid)
            .cloned()
    }

    /// Asks Plaid for `kid`. Plaid's 4xx answer (`INVALID_INPUT` for a key id it does not know) refuses the
    /// delivery; anything else (no answer, 5xx, 429, our credentials refused) leaves it unverified, not refused.
    async fn fetch(&self, kid: &str) -> Result<CachedKey, PlaidWebhookError> {
        let key = match self.client.webhook_verification_key(kid).await {
            Ok(key) => key,
            Err(ProviderError::Rejected(_) | ProviderError::NotFound(_)) => {
                return Err(unknown_key(kid));
            }
            Err(other) => return Err(PlaidWebhookError::KeyUnavailable(other)),
        };
        // `JWKPublicKey` for ES256: `kty: EC`, `crv: P-256`, `use: sig`. A key of another shape, or for another
        // kid, cannot have signed an ES256 token with this kid.
        if key.kid != kid
            || key.alg != SIGNING_ALGORITHM
            || key.kty != "EC"
            || key.crv != "P-256"
            || key.use_ != "sig"
        {
            return Err(unknown_key(kid));
        }
        let decoding =
            DecodingKey::from_ec_components(&key.x, &key.y).map_err(|_| unknown_key(kid))?;
        Ok(CachedKey {
            decoding,
            expired_at: key.expired_at,
        })
    }
}

/// Reads the JWT's header without verifying it: `alg` must be ES256 and `kid` present.
fn read_header(token: &str) -> Result<String, WebhookError> {
    let bad = || WebhookError::BadSignature {
        provider: Provider::Plaid,
    };
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let header = URL_SAFE_NO_PAD.decode(header).map_err(|_| bad())?;
    let header: UnverifiedHeader = serde_json::from_slice(&header).map_err(|_| bad())?;
    if header.alg != SIGNING_ALGORITHM {
        return Err(WebhookError::UnsupportedAlgorithm {
            provider: Provider::Plaid,
            alg: printable(&header.alg, 32),
        });
    }
    header.kid.filter(|kid| !kid.is_empty()).ok_or_else(bad)
}

/// Verifies the signature with `key`, accepting ES256 only, and reads the claims. `exp`, `aud` and the other
/// registered claims are not Plaid's: only `iat` and `request_body_sha256` are required, and checked after.
fn check_signature(token: &str, key: &DecodingKey) -> Result<Claims, WebhookError> {
    let mut validation = Validation::new(Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<Claims>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|_| WebhookError::BadSignature {
            provider: Provider::Plaid,
        })
}

fn check_age(iat: i64, now: DateTime<Utc>) -> Result<(), WebhookError> {
    let age = now.timestamp() - iat;
    let (distance, limit) = if age >= 0 {
        (age, MAX_TOKEN_AGE)
    } else {
        (-age, MAX_CLOCK_SKEW)
    };
    let distance = Duration::from_secs(u64::try_from(distance).unwrap_or(u64::MAX));
    if distance > limit {
        return Err(WebhookError::Stale {
            provider: Provider::Plaid,
            distance,
            max_age: limit,
        });
    }
    Ok(())
}

/// The body's SHA-256 in hex against the signed claim, in constant time. Plaid's docs compute it as a lowercase
/// hex digest; an uppercase claim is read the same.
fn check_body_hash(claim: &str, body: &[u8]) -> Result<(), WebhookError> {
    let expected = hex_sha256(body);
    let claim = claim.to_ascii_lowercase();
    if bool::from(expected.as_bytes().ct_eq(claim.as_bytes())) {
        return Ok(());
    }
    Err(WebhookError::BadSignature {
        provider: Provider::Plaid,
    })
}

/// The SHA-256 of `body`, lowercase hex.
fn hex_sha256(body: &[u8]) -> String {
    let mut hex = String::with_capacity(64);
    for byte in Sha256::digest(body) {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

fn unknown_key(kid: &str) -> PlaidWebhookError {
    WebhookError::UnknownKey {
        provider: Provider::Plaid,
        kid: printable(kid, 64),
    }
    .into()
}

/// Text the sender chose, fit for an error message and a log line: control characters (a forged newline)
/// dropped, cut to `limit` characters.
fn printable(text: &str, limit: usize) -> String {
    text.chars()
        .filter(|character| !character.is_control())
        .take(limit)
        .collect()
}

fn malformed(reason: String) -> WebhookError {
    WebhookError::Malformed {
        provider: Provider::Plaid,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The `x-examples.example-1` of each webhook schema Tributary acts on, verbatim from plaid-openapi.yml.
    fn spec_examples() -> Vec<(Value, PlaidWebhookKind)> {
        vec![
            (
                json!({"webhook_type": "HOLDINGS", "webhook_code": "DEFAULT_UPDATE",
                    "item_id": "wz666MBjYWTp2PDzzggYhM6oWWmBb", "user_id": "usr_9nSp2KuZ2x4JDw", "error": null,
                    "new_holdings": 19, "updated_holdings": 0, "environment": "production"}),
                PlaidWebhookKind::HoldingsDefaultUpdate,
            ),
            (
                json!({"webhook_type": "INVESTMENTS_TRANSACTIONS", "webhook_code": "DEFAULT_UPDATE",
                    "item_id": "wz666MBjYWTp2PDzzggYhM6oWWmBb", "user_id": "usr_9nSp2KuZ2x4JDw", "error": null,
                    "new_investments_transactions": 16, "cancelled_investments_transactions": 0,
                    "environment": "production"}),
                PlaidWebhookKind::InvestmentsTransactionsDefaultUpdate,
            ),
            (
                json!({"webhook_type": "INVESTMENTS_TRANSACTIONS", "webhook_code": "HISTORICAL_UPDATE",
                    "item_id": "wz666MBjYWTp2PDzzggYhM6oWWmBb", "user_id": "usr_9nSp2KuZ2x4JDw", "error": null,
                    "new_investments_transactions": 16, "cancelled_investments_transactions": 0,
                    "environment": "production"}),
                PlaidWebhookKind::InvestmentsTransactionsHistoricalUpdate,
            ),
            (
                json!({"webhook_type": "ITEM", "webhook_code": "PENDING_EXPIRATION",
                    "item_id": "wz666MBjYWTp2PDzzggYhM6oWWmBb", "user_id": "usr_9nSp2KuZ2x4JDw",
                    "consent_expiration_time": "2020-01-15T13:25:17.766Z", "environment": "production"}),
                PlaidWebhookKind::ItemPendingExpiration,
            ),
            (
                json!({"webhook_type": "ITEM", "webhook_code": "PENDING_DISCONNECT",
                    "item_id": "wz666MBjYWTp2PDzzggYhM6oWWmBb", "user_id": "usr_9nSp2KuZ2x4JDw",
                    "reason": "INSTITUTION_MIGRATION", "disconnect_time": "2020-01-15T13:25:17.766Z",
                    "environment": "production"}),
                PlaidWebhookKind::ItemPendingDisconnect,
            ),
            (
                json!({"webhook_type": "ITEM", "webhook_code": "LOGIN_REPAIRED",
                    "item_id": "wz666MBjYWTp2PDzzggYhM6oWWmBb", "user_id": "usr_9nSp2KuZ2x4JDw",
                    "environment": "production"}),
                PlaidWebhookKind::ItemLoginRepaired,
            ),
            (
                json!({"webhook_type": "ITEM", "webhook_code": "WEBHOOK_UPDATE_ACKNOWLEDGED",
                    "item_id": "wz666MBjYWTp2PDzzggYhM6oWWmBb", "error": null,
                    "new_webhook_url": "https://plaid.com/example/webhook", "environment": "production"}),
                PlaidWebhookKind::ItemWebhookUpdateAcknowledged,
            ),
            (
                json!({"webhook_type": "ITEM", "webhook_code": "NEW_ACCOUNTS_AVAILABLE",
                    "item_id": "gAXlMgVEw5uEGoQnnXZ6tn9E7Mn3LBc4PJVKZ", "user_id": "usr_9nSp2KuZ2x4JDw",
                    "error": null, "environment": "production"}),
                PlaidWebhookKind::ItemNewAccountsAvailable,
            ),
            (
                json!({"webhook_type": "ITEM", "webhook_code": "USER_ACCOUNT_REVOKED",
                    "item_id": "gAXlMgVEw5uEGoQnnXZ6tn9E7Mn3LBc4PJVKZ",
                    "account_id": "BxBXxLj1m4HMXBm9WZJyUg9XLd4rKEhw8Pb1J", "user_id": "usr_9nSp2KuZ2x4JDw",
                    "environment": "production"}),
                PlaidWebhookKind::ItemUserAccountRevoked,
            ),
        ]
    }

    #[test]
    fn each_spec_example_reads_as_its_kind() {
        for (payload, kind) in spec_examples() {
            let event = PlaidWebhook::from_payload(payload.clone()).unwrap();
            assert_eq!(event.kind, kind, "{payload}");
            assert_eq!(event.environment, PlaidWebhookEnvironment::Production);
            assert!(event.item_id.is_some());
            assert!(event.error.is_none(), "{payload}");
            assert_eq!(event.raw, payload);
        }
    }

    #[test]
    fn the_item_error_example_carries_a_login_required_error() {
        // `ItemErrorWebhook`'s example-1.
        let event = PlaidWebhook::from_payload(json!({
            "webhook_type": "ITEM",
            "webhook_code": "ERROR",
            "item_id": "wz666MBjYWTp2PDzzggYhM6oWWmBb",
            "user_id": "usr_9nSp2KuZ2x4JDw",
            "error": {
                "display_message": "The user’s OAuth connection to this institution has been invalidated.",
                "error_code": "ITEM_LOGIN_REQUIRED",
                "error_code_reason": "OAUTH_INVALID_TOKEN",
                "error_message": "the login details of this item have changed (credentials, MFA, or required user action) and a user login is required to update this information. use Link's update mode to restore the item to a good state",
                "error_type": "ITEM_ERROR",
                "status": 400
            },
            "environment": "production"
        }))
        .unwrap();
        assert_eq!(event.kind, PlaidWebhookKind::ItemError);
        match event.error {
            Some(ProviderError::LoginRequired(detail)) => {
                assert_eq!(detail.code.as_deref(), Some("ITEM_LOGIN_REQUIRED"));
                assert_eq!(detail.status, 400);
            }
            other => panic!("expected LoginRequired, got {other:?}"),
        }
    }

    #[test]
    fn the_permission_revoked_example_carries_its_error() {
        // `UserPermissionRevokedWebhook`'s example-1.
        let event = PlaidWebhook::from_payload(json!({
            "webhook_type": "ITEM",
            "webhook_code": "USER_PERMISSION_REVOKED",
            "error": {
                "error_code": "USER_PERMISSION_REVOKED",
                "error_message": "the holder of this account has revoked their permission for your application to access it",
                "display_message": null,
                "error_type": "ITEM_ERROR",
                "status": 400
            },
            "item_id": "gAXlMgVEw5uEGoQnnXZ6tn9E7Mn3LBc4PJVKZ",
            "user_id": "usr_9nSp2KuZ2x4JDw",
            "environment": "production"
        }))
        .unwrap();
        assert_eq!(event.kind, PlaidWebhookKind::ItemUserPermissionRevoked);
        assert!(matches!(event.error, Some(ProviderError::LoginRequired(_))));
    }

    #[test]
    fn an_unknown_pair_is_kept_as_sent_and_needs_no_item() {
        let event = PlaidWebhook::from_payload(json!({
            "webhook_type": "PARTNER",
            "webhook_code": "END_CUSTOMER_OAUTH_STATUS_UPDATED",
            "end_customer_client_id": "634758733ebb4f00134b85ea",
            "environment": "production"
        }))
        .unwrap();
        assert_eq!(
            event.kind,
            PlaidWebhookKind::Other("PARTNER".into(), "END_CUSTOMER_OAUTH_STATUS_UPDATED".into())
        );
        assert_eq!(event.item_id, None);
        assert_eq!(
            PlaidWebhookKind::parse("ITEM", "LOGIN_REQUIRED"),
            PlaidWebhookKind::ItemLoginRequired
        );
    }

    #[test]
    fn an_item_webhook_without_an_item_or_with_an_unreadable_error_is_malformed() {
        let no_item = PlaidWebhook::from_payload(
            json!({"webhook_type": "HOLDINGS", "webhook_code": "DEFAULT_UPDATE", "environment": "sandbox"}),
        )
        .unwrap_err();
        assert!(
            matches!(&no_item, WebhookError::Malformed { reason, .. } if reason == "has no item_id")
        );
        let bad_error = PlaidWebhook::from_payload(json!({
            "webhook_type": "ITEM", "webhook_code": "ERROR", "item_id": "i",
            "environment": "sandbox", "error": {"status": 400}
        }))
        .unwrap_err();
        assert_eq!(bad_error.http_status(), 400);
        assert!(PlaidWebhook::from_payload(json!([1])).is_err());
    }

    #[test]
    fn a_kid_or_alg_in_a_refusal_carries_no_control_characters() {
        assert_eq!(printable("kid\nFAKE LOG LINE", 64), "kidFAKE LOG LINE");
        assert_eq!(printable(&"k".repeat(100), 64).len(), 64);
    }

    #[test]
    fn the_body_hash_is_compared_as_lowercase_hex_of_the_raw_bytes() {
        let body = b"{\"a\":1}";
        let hex: String = Sha256::digest(body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(check_body_hash(&hex, body).is_ok());
        assert!(check_body_hash(&hex.to_ascii_uppercase(), body).is_ok());
        assert!(check_body_hash(&hex[..63], body).is_err());
        assert!(check_body_hash(&hex, b"{\"a\":2}").is_err());
    }
}
